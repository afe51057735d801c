"""Adding an RPC method is one decorated function in a namespace table: it parses with
``rpc.params``, calls one public ``Devnet`` method and answers with ``rpc.shapes``. A new
namespace is one table added to the server's ``METHODS``; which port serves it follows the
one exposure table (``rpc.exposure``): a test-node control prefix is served only with
controls."""

from __future__ import annotations

from typing import Any

import pytest

from node.devnet import Devnet
from rpc import params as parse
from rpc import server as server_module
from rpc.registry import Namespace
from rpc.server import RpcServer
from rpc.shapes import qty

example = Namespace()


@example.method("example_balanceTimesTwo")
async def balance_times_two(devnet: Devnet, params: Any) -> str:
    (who,) = parse.parse_params(params, [(parse.address, parse.REQUIRED, "address")])
    return qty(2 * devnet.balance(who, devnet.head))


@example.method("anvil_exampleControl")
async def example_control(devnet: Devnet, params: Any) -> bool:
    return True


@pytest.fixture
def with_example(monkeypatch):
    for name, fn in example.methods.items():
        monkeypatch.setitem(server_module.METHODS, name, fn)  # the one line a namespace needs


async def ask(server: RpcServer, method: str, *params) -> dict:
    return await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )


async def test_a_new_method_is_served_with_the_projects_parsing_and_errors(
    devnet, dev_accounts, with_example
):
    server = RpcServer(devnet)
    who = dev_accounts[0].address
    answer = await ask(server, "example_balanceTimesTwo", "0x" + who.hex())
    assert int(answer["result"], 16) == 2 * devnet.balance(who, devnet.head)
    bad = await ask(server, "example_balanceTimesTwo", "0x1234")
    assert bad["error"]["code"] == -32602  # rpc.params' strict address, no extra code


async def test_a_new_control_is_only_served_where_controls_are(devnet, with_example):
    assert (await ask(RpcServer(devnet), "anvil_exampleControl"))["result"] is True
    public_only = RpcServer(devnet, controls=False)
    assert (await ask(public_only, "anvil_exampleControl"))["error"]["code"] == -32601
    assert "result" in await ask(public_only, "example_balanceTimesTwo", "0x" + "00" * 20)
