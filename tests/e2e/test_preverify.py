"""``native-devnet --preverify`` as a process: an L1 node pre-verifies the EXECUTE input of a
transaction entering its pool in a worker process, and the block mined afterwards takes the
verdict from there (the node's log says both), with the receipt EXECUTE gives inline."""

from __future__ import annotations

import pytest
from eth_account import Account

from devtools.execute_inputs import encoded
from devtools.l2_blocks import L2Builder
from precompiles.execute_wire import EXECUTE_ADDRESS
from tests.procs import DEV_KEYS, start_node, under_test, wait_until

pytestmark = pytest.mark.skipif(under_test() == "anvil", reason="EXECUTE is this node's own")


def execute_input() -> bytes:
    """EXECUTE's input for a small L2 block (its time is before the L1 node's clock)."""
    l2 = L2Builder()
    block = l2.build([l2.tx(0, value=10**15), l2.tx(1, to=b"\x12" * 20, value=7)]).block
    return encoded(l2.input_for(block))


def direct_call(node, data: bytes) -> str:
    chain_id = int(node.call("eth_chainId"), 16)
    zeros = data.count(0)
    signed = Account.sign_transaction(
        {
            "chainId": chain_id,
            "nonce": 0,
            "to": "0x" + EXECUTE_ADDRESS.hex(),
            "value": 0,
            "data": data,
            "gas": 21_000 + 10 * (zeros + 4 * (len(data) - zeros)) + 400_000,
            "maxFeePerGas": 100 * 10**9,
            "maxPriorityFeePerGas": 10**9,
        },
        DEV_KEYS[0],
    )
    return node.call("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())


def test_preverified_execute_call_in_a_mined_block():
    node = start_node(["--preverify", "--preverify-workers", "1", "--no-mining"])
    try:
        data = execute_input()
        tx_hash = direct_call(node, data)
        wait_until(lambda: "pre-verified EXECUTE input" in node.log(), "the worker's verdict", 120)
        assert "in worker" in node.log() and ": valid" in node.log()
        node.call("evm_mine")
        receipt = node.call("eth_getTransactionReceipt", tx_hash)
        assert receipt is not None and receipt["status"] == "0x1", receipt
        assert "found pre-verified" in node.log()
    finally:
        node.stop()
    assert node.proc.returncode == 0, node.log()[-2000:]
