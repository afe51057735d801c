"""The sequencer: builds each L2 block with its L1 anchor and settles it on L1.

One step (``Sequencer.step``):

1. settle any L2 block the L1 has not settled yet (a restart resumes from the L1 state);
2. read the L1 message count, mirror the message tree, and take its root as the anchor;
3. let the relayer claim every pending message against that anchor in the coming block;
4. mine the L2 block (``evm_mine`` with the timestamp, ``parentBeaconBlockRoot`` = anchor,
   ``coinbase`` and ``prevRandao``) if it has transactions or there are new messages;
5. fetch the block body (``debug_getRawBlock``) and ``debug_executionWitness``, send
   ``advance(...)`` on L1 (EXECUTE re-executes the block), and check that the L1 contract's
   ``lastBlockHash`` equals the L2 node's block hash.

Mining and its header fields are test-node controls, which an L2 node serves only on its
authenticated endpoint (``--auth-port`` with ``--jwt-secret``): the sequencer sends them
through ``control``, an ``RpcClient`` holding the JWT secret, and everything else through
the public ``l2``.

The L2 node must not mine on its own (``native-devnet --no-mining``): the sequencer decides
what every block holds and which anchor it carries. L2 timestamps never run ahead of the
L1 (``advance`` requires ``timestamp <= block.timestamp``): the next L2 timestamp is
``max(parent + 1, latest L1 timestamp)``, and an advance that is early waits for L1 time.

The advance input of one block lives in ``sequencer.advance``, the record of its settlement
(and the split of its L1 gas) in ``sequencer.settlement``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_hash.auto import keccak

from sequencer.advance import AdvanceInput, fetch_advance_input
from sequencer.client import RpcClient, RpcError, Signer, TxFailed, b2h, h2b, h2i
from sequencer.messages import Revert, decode_revert
from sequencer.relayer import Relayer
from sequencer.rollup import Rollup
from sequencer.settlement import Settlement, SettlementError, settlement_of

log = logging.getLogger("native_rollup.sequencer")

EARLY_RETRY_SECONDS = 60.0
METHOD_NOT_FOUND = -32601


class ChainMismatch(RuntimeError):
    """The L2 node does not serve the chain the L1 contract settles."""


@dataclass
class Sequencer:
    """Builds L2 blocks and settles them through ``NativeRollup.advance``."""

    rollup: Rollup
    l2: RpcClient
    signer: Signer  # on L1: the rollup's sequencer key
    relayer: Relayer | None = None
    control: RpcClient | None = None  # the L2's authenticated endpoint (default: ``l2``)
    coinbase: bytes | None = None
    measure_execution: bool = True
    settlements: list[Settlement] = field(default_factory=list)
    on_settled: Callable[[Settlement], None] | None = None

    def __post_init__(self) -> None:
        if self.coinbase is None:
            self.coinbase = self.signer.address
        if self.control is None:  # a node that serves its controls publicly
            self.control = self.l2

    @property
    def l1(self) -> RpcClient:
        return self.rollup.l1

    # -- checks -------------------------------------------------------------------------------

    def check_chain(self) -> int:
        """The L1 contract's head is the L2 node's block of that number; returns it."""
        number = self.rollup.last_block_number()
        expected = self.rollup.last_block_hash()
        try:
            actual = h2b(self.l2.block(number)["hash"])
        except RpcError:
            raise ChainMismatch(
                f"the L2 node has no block {number}, which the L1 settled"
            ) from None
        if actual != expected:
            raise ChainMismatch(
                f"L2 block {number} is 0x{actual.hex()}, the L1 settled 0x{expected.hex()}"
            )
        sequencer = self.rollup.sequencer()
        if sequencer != self.signer.address:
            raise ChainMismatch(
                f"the rollup's sequencer is 0x{sequencer.hex()}, this key is "
                f"0x{self.signer.address.hex()}"
            )
        try:
            if self.control.call("anvil_getAutomine"):
                raise ChainMismatch("the L2 node automines; start it with --no-mining")
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:  # e.g. 401 from the authenticated endpoint
                raise
            # not a devnet that can tell
        return number

    # -- building -----------------------------------------------------------------------------

    def next_timestamp(self) -> int:
        parent = h2i(self.l2.block("latest")["timestamp"])
        l1_time = h2i(self.l1.block("latest")["timestamp"])
        return max(parent + 1, l1_time)

    def produce_block(self, force: bool = False) -> dict | None:
        """Anchor, claim and mine the next L2 block; ``None`` when there is nothing to do
        (no transactions and no new L1 messages) unless ``force``."""
        count = self.rollup.message_count()
        anchored = self.rollup.anchored_message_count()
        head = self.l2.block("latest")
        number = h2i(head["number"]) + 1
        timestamp = self.next_timestamp()
        anchor = b"\x00" * 32
        if self.relayer is not None:
            self.relayer.book.sync(count)
            tree = self.relayer.book.tree(count)
            anchor = tree.root
            if not self.rollup.is_message_root(anchor):
                raise SettlementError(f"mirrored message root 0x{anchor.hex()} unknown to L1")
            self.relayer.submit_claims(tree, timestamp, number)
        else:
            anchor = self.rollup.message_root()
        pending = self._pool_pending()
        if not (force or pending or count > anchored):
            return None
        l1_head = self.l1.block("latest")
        try:
            self.control.call(
                "evm_mine",
                {
                    "timestamp": timestamp,
                    "parentBeaconBlockRoot": b2h(anchor),
                    "coinbase": b2h(self.coinbase),
                    "prevRandao": l1_head.get("mixHash") or b2h(keccak(h2b(l1_head["hash"]))),
                },
            )
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise
            raise ChainMismatch(
                f"{self.control.url} does not serve evm_mine: an L2 node serves its controls on "
                "its authenticated endpoint (native-devnet --auth-port --jwt-secret); give "
                "the sequencer --l2-auth-url and --jwt-secret"
            ) from None
        block = self.l2.block("latest")
        if h2i(block["number"]) != number or h2i(block["timestamp"]) != timestamp:
            raise ChainMismatch(
                f"the L2 node mined {block['number']} at {block['timestamp']}, "
                f"not {number} at {timestamp}"
            )
        if h2b(block["parentBeaconBlockRoot"]) != anchor:
            raise ChainMismatch("the L2 block does not carry the anchor it was given")
        if self.relayer is not None:
            self.relayer.after_block(number)
        log.info(
            "L2 block %d 0x%s: %d txs, anchor 0x%s (%d messages)",
            number,
            block["hash"][2:18],
            len(block["transactions"]),
            anchor.hex()[:16],
            count,
        )
        return block

    def _pool_pending(self) -> int:
        try:
            status = self.l2.call("txpool_status")
            return h2i(status.get("pending", "0x0"))
        except RpcError:
            return 0

    # -- settling -----------------------------------------------------------------------------

    def simulate(self, inp: AdvanceInput) -> Revert | None:
        """``eth_call`` of the advance from the sequencer: ``None`` if it would succeed."""
        try:
            self.l1.eth_call(self.rollup.address, inp.calldata(), sender=self.signer.address)
        except RpcError as exc:
            revert = decode_revert(exc.revert_data)
            if revert is None:
                raise
            return revert
        return None

    def estimate(self, inp: AdvanceInput) -> int:
        """Gas for the advance, waiting (bounded) while the L1 clock is behind the L2 block."""
        deadline = time.monotonic() + EARLY_RETRY_SECONDS
        while True:
            try:
                return self.signer.estimate(self.rollup.address, inp.calldata())
            except RpcError as exc:
                revert = decode_revert(exc.revert_data)
                if (
                    revert is not None
                    and revert.name == "TimestampInFuture"
                    and (time.monotonic() < deadline)
                ):
                    time.sleep(0.5)
                    continue
                raise SettlementError(
                    f"advance of L2 block {inp.number} would fail: {revert or exc.message}", revert
                ) from None

    def submit_advance(self, inp: AdvanceInput, gas: int | None = None) -> dict:
        """Send ``advance`` (forged or not) and return its receipt without judging it."""
        data = inp.calldata()
        if gas is None:
            gas = self.estimate(inp)
            gas += gas // 10
        return self.l1.wait_receipt(self.signer.submit(self.rollup.address, data, gas=gas))

    def settle(
        self, number: int, started: float | None = None, mine_seconds: float = 0.0
    ) -> Settlement:
        """Settle L2 block ``number`` (the L1's next) and check the hashes agree."""
        started = time.monotonic() if started is None else started
        inp = fetch_advance_input(self.l2, number)
        receipt = self.submit_advance(inp)
        if h2i(receipt["status"]) != 1:
            revert = self.simulate(inp)
            raise TxFailed(f"advance of L2 block {number} ({revert})", receipt)
        settled_hash = self.rollup.last_block_hash()
        if settled_hash != inp.block_hash or self.rollup.last_block_number() != number:
            raise ChainMismatch(
                f"L1 settled 0x{settled_hash.hex()} for L2 block {number}, the L2 node has "
                f"0x{inp.block_hash.hex()}"
            )
        settlement = settlement_of(
            self.l1,
            self.rollup.address,
            receipt,
            inp.calldata(),
            seconds=time.monotonic() - started,
            mine_seconds=mine_seconds,
            measure_execution=self.measure_execution,
        )
        self.settlements.append(settlement)
        log.info(
            "settled L2 block %d 0x%s on L1 in %s: %d L1 gas, execute fee %d wei, %.2fs",
            number,
            inp.block_hash.hex()[:16],
            receipt["transactionHash"][:18],
            settlement.gas.total,
            settlement.execute_fee,
            settlement.seconds,
        )
        if self.on_settled is not None:
            self.on_settled(settlement)
        return settlement

    # -- the loop -----------------------------------------------------------------------------

    def catch_up(self) -> list[Settlement]:
        """Settle every L2 block past the L1's head (after a restart, or blocks mined by
        someone else)."""
        out = []
        settled = self.rollup.last_block_number()
        head = self.l2.block_number()
        for number in range(settled + 1, head + 1):
            out.append(self.settle(number))
        return out

    def step(self, force: bool = False) -> list[Settlement]:
        """Catch up, then build and settle one block if there is anything to put in it."""
        out = self.catch_up()
        started = time.monotonic()
        block = self.produce_block(force)
        if block is not None:
            mined = time.monotonic() - started
            out.append(self.settle(h2i(block["number"]), started, mined))
        return out

    def run(
        self,
        interval: float = 1.0,
        max_blocks: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Step every ``interval`` seconds until ``should_stop()`` or ``max_blocks``."""
        self.check_chain()
        produced = 0
        while not (should_stop and should_stop()):
            began = time.monotonic()
            try:
                produced += len(self.step())
            except (RpcError, OSError) as exc:  # a node restarting: try again next step
                log.warning("step failed, retrying: %s", exc)
                self.signer.resync()
                if self.relayer is not None:
                    self.relayer.signer.resync()
            if max_blocks is not None and produced >= max_blocks:
                return
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
