"""Simulations (``eth_call``, ``eth_estimateGas``) never answer an internal error for user input:
a call whose sender cannot pay, whose nonce is at its maximum, or whose value would overflow
the recipient's balance gets geth's words and code, as ``eth_sendRawTransaction`` does.
"""

from __future__ import annotations

import pytest

from node.devnet import Devnet, MiningConfig, MiningMode
from rpc.server import RpcServer

RECIPIENT = "0x" + "11" * 20
MAX_UINT64 = 2**64 - 1
MAX_UINT256 = 2**256 - 1


@pytest.fixture
async def server(genesis, dev_accounts):
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.AUTO))
    yield RpcServer(node)
    await node.stop()


async def answer(server: RpcServer, method: str, *params) -> dict:
    return await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )


async def error_of(server: RpcServer, method: str, *params) -> dict:
    response = await answer(server, method, *params)
    assert "error" in response, response
    return response["error"]


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
async def test_value_without_funds_is_insufficient_funds(server, method):
    error = await error_of(server, method, {"to": RECIPIENT, "value": "0x1"}, "latest")
    assert error["code"] == -32003, error  # as the send path answers (anvil's code)
    assert error["message"].startswith("insufficient funds for gas * price + value"), error


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
async def test_fee_cap_below_the_base_fee_is_refused_in_geth_words(server, dev_accounts, method):
    sender = "0x" + dev_accounts[0].address.hex()
    error = await error_of(
        server, method, {"from": sender, "to": RECIPIENT, "maxFeePerGas": "0x1"}, "latest"
    )
    assert error["code"] != -32603, error
    assert "max fee per gas less than block base fee" in error["message"], error


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
async def test_sender_nonce_at_its_maximum_is_refused(server, dev_accounts, method):
    sender = "0x" + dev_accounts[0].address.hex()
    assert "error" not in await answer(server, "anvil_setNonce", sender, hex(MAX_UINT64))
    error = await error_of(server, method, {"from": sender, "to": RECIPIENT}, "latest")
    assert error["code"] != -32603, error
    assert "nonce has max value" in error["message"], error


async def test_value_overflowing_the_recipient_balance_is_refused(server, dev_accounts):
    sender = "0x" + dev_accounts[0].address.hex()
    assert "error" not in await answer(server, "anvil_setBalance", RECIPIENT, hex(MAX_UINT256))
    error = await error_of(
        server, "eth_call", {"from": sender, "to": RECIPIENT, "value": "0x1"}, "latest"
    )
    assert error["code"] != -32603, error
    assert "exceeds maximum uint256" in error["message"], error
