"""The request log inside the dispatcher: an internal error (-32603) is one log line naming
the method and the exception, its traceback only at the most verbose level (DEBUG, ``-vv``);
request lines cost nothing when their level is off."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from node.devnet import Devnet, MiningConfig, MiningMode
from rpc import server as server_module
from rpc.server import REQUEST_LEVEL, RpcServer


async def broken(devnet: Devnet, params: Any) -> None:
    raise RuntimeError("something the node did not expect")


@pytest.fixture
async def server(genesis, dev_accounts, monkeypatch):
    monkeypatch.setitem(server_module.METHODS, "example_broken", broken)
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    yield RpcServer(node)
    await node.stop()


async def ask(server: RpcServer, method: str, *params) -> dict:
    return await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )


@pytest.fixture
def node_logger():
    logger = logging.getLogger("native_devnet")
    before = logger.level
    yield logger
    logger.setLevel(before)


async def test_an_internal_error_is_one_line_without_traceback(server, caplog, node_logger):
    node_logger.setLevel(logging.INFO)
    with caplog.at_level(logging.INFO, logger="native_devnet"):
        answer = await ask(server, "example_broken")
    assert answer["error"]["code"] == -32603
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "example_broken" in message and "something the node did not expect" in message
    assert errors[0].exc_info is None and "\n" not in message
    assert "Traceback" not in caplog.text


async def test_the_most_verbose_level_adds_the_traceback(server, caplog, node_logger):
    node_logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="native_devnet"):
        await ask(server, "example_broken")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "Traceback" in caplog.text


async def test_request_lines_only_at_their_level(server, caplog, node_logger):
    node_logger.setLevel(logging.INFO)
    with caplog.at_level(logging.INFO, logger="native_devnet"):
        await ask(server, "eth_chainId")
    assert "eth_chainId" not in caplog.text
    node_logger.setLevel(REQUEST_LEVEL)
    with caplog.at_level(REQUEST_LEVEL, logger="native_devnet"):
        await ask(server, "eth_chainId")
    assert [r.getMessage() for r in caplog.records] == ["eth_chainId"]
