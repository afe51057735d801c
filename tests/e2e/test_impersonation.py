"""Impersonation: ``anvil_impersonateAccount`` lets ``eth_sendTransaction`` send as any
address (an EOA without a known key, or a contract) until
``anvil_stopImpersonatingAccount``; receipts and lookups show the impersonated sender."""

from __future__ import annotations

import pytest

from tests.procs import rpc, under_test

pytestmark = pytest.mark.e2e

WHALE = "0x5555555555555555555555555555555555555555"
SINK = "0x6666666666666666666666666666666666666666"
# A contract (code: STOP) that we impersonate too: EIP-3607 does not apply to it then.
CONTRACT = "0x7777777777777777777777777777777777777777"


def send(node, sender: str, value: int) -> dict:
    return rpc(node.url, "eth_sendTransaction", [{"from": sender, "to": SINK, "value": hex(value)}])


def test_impersonated_sends_work_and_stop_working_after_stop(l1):
    l1.call("anvil_setBalance", WHALE, hex(10**18))
    refused = send(l1, WHALE, 1000)
    assert "error" in refused
    if under_test() != "anvil":  # anvil words it differently
        assert refused["error"]["code"] == -32000
        assert "not impersonated" in refused["error"]["message"]

    assert l1.call("anvil_impersonateAccount", WHALE) is None
    tx_hash = send(l1, WHALE, 1000)["result"]
    receipt = l1.call("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    assert receipt["from"] == WHALE
    assert l1.call("eth_getTransactionByHash", tx_hash)["from"] == WHALE
    block = l1.call("eth_getBlockByNumber", receipt["blockNumber"], True)
    assert block["transactions"][0]["from"] == WHALE
    assert int(l1.call("eth_getBalance", SINK, "latest"), 16) == 1000
    assert int(l1.call("eth_getTransactionCount", WHALE, "latest"), 16) == 1
    fee = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert int(l1.call("eth_getBalance", WHALE, "latest"), 16) == 10**18 - 1000 - fee

    assert l1.call("anvil_stopImpersonatingAccount", WHALE) is None
    again = send(l1, WHALE, 1000)
    assert "error" in again
    assert int(l1.call("eth_getBalance", SINK, "latest"), 16) == 1000


def test_a_contract_can_be_impersonated(l1):
    l1.call("anvil_setCode", CONTRACT, "0x00")
    l1.call("anvil_setBalance", CONTRACT, hex(10**18))
    l1.call("hardhat_impersonateAccount", CONTRACT)
    receipt = l1.call("eth_getTransactionReceipt", send(l1, CONTRACT, 7)["result"])
    assert receipt["status"] == "0x1" and receipt["from"] == CONTRACT
    l1.call("hardhat_stopImpersonatingAccount", CONTRACT)


def test_auto_impersonation_covers_every_address(l1):
    l1.call("anvil_setBalance", WHALE, hex(10**18))
    l1.call("anvil_autoImpersonateAccount", True)
    assert "result" in send(l1, WHALE, 5)
    l1.call("anvil_autoImpersonateAccount", False)
    assert "error" in send(l1, WHALE, 5)
