"""How the scenario's L2 blocks get made and settled: by a sequencer in this process
(``DrivingSequencer``) or by a running ``native-rollup sequence`` it watches
(``WatchingSequencer``)."""

from __future__ import annotations

import time

from sequencer.client import RpcClient, b2h, h2b, h2i
from sequencer.messages import BLOCK_SETTLED, topic
from sequencer.rollup import Rollup
from sequencer.scenario_results import ScenarioError, expect
from sequencer.sequencer import Sequencer
from sequencer.settlement import Settlement, settlement_of

# -- how blocks get made -------------------------------------------------------------------------


class Driver:
    """Gets submitted L2 transactions into settled L2 blocks."""

    external = False

    def include(self, tx_hashes: list[str], anchor_only: bool = False) -> list[Settlement]:
        raise NotImplementedError

    def hold(self, tx_hashes: list[str]) -> int | None:
        """Mine a block with ``tx_hashes`` but leave it unsettled (``None``: cannot)."""
        raise NotImplementedError

    def settle(self, number: int) -> Settlement:
        raise NotImplementedError


class DrivingSequencer(Driver):
    """This process sequences: one ``Sequencer.step`` per call."""

    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer

    def include(self, tx_hashes: list[str], anchor_only: bool = False) -> list[Settlement]:
        settled = self.sequencer.step(force=True)
        l2 = self.sequencer.l2
        for tx_hash in tx_hashes:
            receipt = l2.receipt(tx_hash)
            expect(receipt is not None, f"L2 tx {tx_hash} was not included")
        return settled

    def hold(self, tx_hashes: list[str]) -> int | None:
        block = self.sequencer.produce_block(force=True)
        expect(block is not None, "no block produced")
        included = set(block["transactions"])
        expect(all(h in included for h in tx_hashes), "held block lacks the transactions")
        return h2i(block["number"])

    def settle(self, number: int) -> Settlement:
        return self.sequencer.settle(number)


class WatchingSequencer(Driver):
    """A ``native-rollup sequence`` process sequences; we wait and read the L1 record."""

    external = True

    def __init__(self, rollup: Rollup, l2: RpcClient, timeout: float = 120.0) -> None:
        self.rollup = rollup
        self.l2 = l2
        self.timeout = timeout
        self.seen = rollup.last_block_number()

    def include(self, tx_hashes: list[str], anchor_only: bool = False) -> list[Settlement]:
        started = time.monotonic()
        deadline = started + self.timeout
        target = 0
        for tx_hash in tx_hashes:
            receipt = self.l2.wait_receipt(tx_hash, timeout=self.timeout)
            target = max(target, h2i(receipt["blockNumber"]))
        if anchor_only:  # wait for a block anchoring every L1 message so far
            count = self.rollup.message_count()
            while self.rollup.anchored_message_count() < count:
                expect(time.monotonic() < deadline, "the sequencer did not anchor new messages")
                time.sleep(0.2)
            target = max(target, self.l2.block_number())
        while self.rollup.last_block_number() < target:
            expect(time.monotonic() < deadline, f"L2 block {target} not settled in time")
            time.sleep(0.2)
        return self.collect(time.monotonic() - started)

    def collect(self, seconds: float) -> list[Settlement]:
        out = []
        last = self.rollup.last_block_number()
        for number in range(self.seen + 1, last + 1):
            receipt, data = settlement_tx(self.rollup, number)
            out.append(
                settlement_of(self.rollup.l1, self.rollup.address, receipt, data, seconds=seconds)
            )
        self.seen = last
        return out

    def hold(self, tx_hashes: list[str]) -> int | None:
        return None

    def settle(self, number: int) -> Settlement:
        raise ScenarioError("the external sequencer settles blocks itself")


def settlement_tx(rollup: Rollup, number: int) -> tuple[dict, bytes]:
    """The L1 receipt and calldata of the ``advance`` that settled L2 block ``number``."""
    logs = rollup.l1.call(
        "eth_getLogs",
        {
            "address": b2h(rollup.address),
            "topics": [topic(BLOCK_SETTLED), b2h(number.to_bytes(32, "big"))],
            "fromBlock": hex(rollup.deploy_block),
            "toBlock": "latest",
        },
    )
    expect(len(logs) == 1, f"no BlockSettled event for L2 block {number}")
    tx_hash = logs[0]["transactionHash"]
    tx = rollup.l1.call("eth_getTransactionByHash", tx_hash)
    return rollup.l1.receipt(tx_hash), h2b(tx["input"])
