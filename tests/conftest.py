"""Shared fixtures: real node processes on free loopback ports; the ``requires_tools`` marker."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.procs import NodeProcess, require_tool, start_node  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_tools(*tools): the test needs these external tools (forge, cast, anvil, "
        "solcjs, node); a missing one fails it with how to install it",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a test whose tools are missing before its fixtures start any process."""
    for marker in item.iter_markers("requires_tools"):
        for tool in marker.args:
            require_tool(tool)


@pytest.fixture
def node_factory(tmp_path):
    """Start nodes with chosen flags; every one is stopped by PID at teardown."""
    started: list[NodeProcess] = []

    def factory(*args: str) -> NodeProcess:
        node = start_node(list(args), log_dir=tmp_path)
        started.append(node)
        return node

    yield factory
    for node in started:
        node.stop()


@pytest.fixture
def l1(node_factory) -> NodeProcess:
    """A fresh default L1 node (automine, in memory)."""
    return node_factory()


@pytest.fixture(scope="module")
def shared_l1(tmp_path_factory):
    """One L1 node shared by a module's read-mostly tests."""
    node = start_node([], log_dir=tmp_path_factory.mktemp("shared-l1"))
    yield node
    node.stop()
