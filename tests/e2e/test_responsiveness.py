"""EVM work must not freeze the server: while a large block is built, cheap calls answer.

The test builds a 300-transfer block with ``evm_mine`` and pings ``eth_blockNumber`` from
another connection meanwhile. It asserts that pings were answered *during* the build (a
behaviour, not a timing threshold) and prints the latencies it saw.
"""

from __future__ import annotations

import statistics
import threading
import time

import pytest
from eth_account import Account

from tests.procs import DEV_KEYS, rpc, under_test

pytestmark = pytest.mark.e2e

TRANSFERS = 300


def test_cheap_calls_answer_while_a_block_is_built(node_factory):
    if under_test() == "anvil":
        pytest.skip("anvil builds such a block in milliseconds; nothing to observe")
    node = node_factory("--no-mining")
    key = DEV_KEYS[1]
    base_fee = int(node.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    for nonce in range(TRANSFERS):
        signed = Account.sign_transaction(
            {
                "chainId": 31337,
                "nonce": nonce,
                "to": "0x" + "11" * 20,
                "value": 1,
                "gas": 21000,
                "maxFeePerGas": 4 * base_fee,
                "maxPriorityFeePerGas": 1,
            },
            key,
        )
        node.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())

    mine_window: dict[str, float] = {}

    def mine() -> None:
        mine_window["start"] = time.monotonic()
        rpc(node.url, "evm_mine", [], timeout=120)
        mine_window["end"] = time.monotonic()

    miner = threading.Thread(target=mine)
    miner.start()
    answered_during_build = []
    while miner.is_alive():
        sent = time.monotonic()
        response = rpc(node.url, "eth_blockNumber", [])
        done = time.monotonic()
        assert "result" in response
        answered_during_build.append((sent, done))
    miner.join()

    block = node.call("eth_getBlockByNumber", "latest", False)
    assert len(block["transactions"]) == TRANSFERS
    inside = [
        done - sent
        for sent, done in answered_during_build
        if sent >= mine_window["start"] and done <= mine_window["end"]
    ]
    build_seconds = mine_window["end"] - mine_window["start"]
    print(
        f"\nblock of {TRANSFERS} transfers built in {build_seconds * 1000:.0f} ms; "
        f"{len(inside)} eth_blockNumber answered meanwhile; latency ms median "
        f"{statistics.median(inside) * 1000:.1f} max {max(inside) * 1000:.1f}"
        if inside
        else "\nno ping fell inside the build window"
    )
    assert len(inside) >= 3, "the server stopped answering while it built a block"
