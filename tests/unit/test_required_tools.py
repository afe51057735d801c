"""The test helpers themselves: a missing external tool fails the test with what to install
(never a skip), and ``wait_until`` polls for a condition instead of sleeping a fixed time.
"""

from __future__ import annotations

import time

import pytest

from tests import conftest, procs
from tests.procs import TOOL_INSTALL, require_tool, wait_until


@pytest.fixture
def nothing_installed(monkeypatch, tmp_path):
    """An empty node_modules and a PATH with nothing on it."""
    monkeypatch.setattr(procs, "NODE_MODULES", tmp_path / "node_modules")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))


@pytest.mark.parametrize("tool", ["forge", "cast", "anvil", "solcjs"])
def test_a_missing_npm_tool_fails_and_says_to_run_make_npm(nothing_installed, tool):
    with pytest.raises(pytest.fail.Exception) as failed:
        require_tool(tool)
    assert str(failed.value) == (
        f"{tool} is missing: run `make npm` (or `npm install`) in the repo root"
    )


def test_a_missing_node_fails_and_says_to_install_it(nothing_installed):
    with pytest.raises(pytest.fail.Exception, match=r"^node is missing: install Node\.js"):
        require_tool("node")


def test_a_foundry_binary_that_is_not_executable_counts_as_missing(nothing_installed):
    forge = procs.foundry_bin("forge")
    forge.parent.mkdir(parents=True)
    forge.write_text("not a binary")
    forge.chmod(0o644)
    with pytest.raises(pytest.fail.Exception, match="forge is missing"):
        require_tool("forge")
    forge.chmod(0o755)
    assert require_tool("forge") == forge


def test_the_marker_fails_the_test_at_setup(nothing_installed):
    """``@pytest.mark.requires_tools("forge", ...)`` runs ``require_tool`` before fixtures."""

    class MarkedTest:
        def iter_markers(self, name: str):
            assert name == "requires_tools"
            return iter([pytest.mark.requires_tools("forge", "node").mark])

    with pytest.raises(pytest.fail.Exception, match="forge is missing: run `make npm`"):
        conftest.pytest_runtest_setup(MarkedTest())


def test_an_unknown_tool_is_a_mistake_in_the_test():
    with pytest.raises(ValueError, match="unknown tool 'solc'"):
        require_tool("solc")


@pytest.mark.parametrize("tool", sorted(TOOL_INSTALL))
def test_installed_tools_are_found(tool):
    """CI installs every tool (`make npm`); here each resolves to something that exists."""
    assert require_tool(tool).exists()


def test_wait_until_returns_the_first_true_value():
    answers = iter([None, 0, {"number": "0x1"}])
    assert wait_until(lambda: next(answers), "a block", interval=0) == {"number": "0x1"}


def test_wait_until_fails_with_what_it_waited_for():
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0\.2 s waiting for the moon"):
        wait_until(lambda: False, "the moon", timeout=0.2, interval=0.01)
    assert time.monotonic() - started < 5
