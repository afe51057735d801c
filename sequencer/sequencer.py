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

Forced inclusion (``sequencer.forced``): with ``honour_forced`` the sequencer puts the L1
queue's unconsumed entries (at most ``MAX_FORCED_PER_BLOCK``) at the head of its next block,
in queue order, in a block of their own; an entry its L2 node refuses (or does not include)
is left out once due, with the EXECUTE witness that shows it invalid.

Policies: under ``BASED`` anyone may settle, so two sequencers can build the same L2 number.
Each takes an ``evm_snapshot`` of its L2 node before mining; the one whose block the L1 did
not take rolls its node back to it and replays the L1's canonical blocks from their
``advance`` calldata (``sequencer.derive``).

The advance input of one block lives in ``sequencer.advance``, the record of its settlement
(and the split of its L1 gas) in ``sequencer.settlement``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from eth_hash.auto import keccak

from sequencer.advance import AdvanceInput, fetch_advance_input
from sequencer.client import RpcClient, RpcError, Signer, TxFailed, b2h, h2b, h2i
from sequencer.forced import ForcedEntry, invalidity_witness, pending_entries
from sequencer.messages import Revert, decode_revert
from sequencer.relayer import Relayer
from sequencer.rollup import Rollup
from sequencer.settlement import Settlement, SettlementError, settlement_of

log = logging.getLogger("native_rollup.sequencer")

EARLY_RETRY_SECONDS = 60.0
METHOD_NOT_FOUND = -32601
MAX_FORCED_PER_BLOCK = 16  # ForcedInclusion.MAX_FORCED_PER_BLOCK


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
    honour_forced: bool = True  # open blocks with the L1's forced-inclusion queue
    censor: frozenset[bytes] = frozenset()  # L2 senders kept out of blocks (a demo's villain)
    name: str = "sequencer"
    # evm_snapshot before each block it mines, to return there if the L1 takes another block
    # for that number (default: under BASED) or refuses it (``rollback``)
    snapshot_blocks: bool | None = None
    # L2 block number -> the evm_snapshot taken just before this sequencer mined it
    snapshots: dict[int, str] = field(default_factory=dict)
    # L2 block number -> forced entries left out of it as invalid on L2
    skipped: dict[int, list[ForcedEntry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.coinbase is None:
            self.coinbase = self.signer.address
        if self.control is None:  # a node that serves its controls publicly
            self.control = self.l2
        self._policy: str | None = None

    @property
    def policy(self) -> str:
        if self._policy is None:
            self._policy = self.rollup.policy()
        return self._policy

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
        if not self.rollup.may_settle(self.signer.address):
            sequencer = self.rollup.sequencer()
            raise ChainMismatch(
                f"the rollup's sequencer is 0x{sequencer.hex()}, this key is "
                f"0x{self.signer.address.hex()} (and the forced-inclusion fallback is closed)"
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
        self._drop_censored()
        forced = self._forced_candidates()
        pending = self._pool_pending()
        if not (force or pending or forced or count > anchored):
            return None
        l1_head = self.l1.block("latest")
        fields = {
            "timestamp": timestamp,
            "parentBeaconBlockRoot": b2h(anchor),
            "coinbase": b2h(self.coinbase),
            "prevRandao": l1_head.get("mixHash") or b2h(keccak(h2b(l1_head["hash"]))),
        }
        if self.snapshot_blocks if self.snapshot_blocks is not None else self.policy == "based":
            self._snapshot(number)
        if forced:
            self._mine_forced(number, forced, fields)
        else:
            self._mine(fields)
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
            "%s: L2 block %d 0x%s: %d txs, anchor 0x%s (%d messages)",
            self.name,
            number,
            block["hash"][2:18],
            len(block["transactions"]),
            anchor.hex()[:16],
            count,
        )
        return block

    def _snapshot(self, number: int) -> None:
        """Remember the L2 node's state before block ``number``. The node keeps a bounded
        number of live snapshots (1 000 on the devnet); past it, ``resync`` falls back to
        replaying the whole chain from the L1 after ``anvil_reset``."""
        try:
            self.snapshots[number] = self.control.call("evm_snapshot")
        except RpcError as exc:
            log.warning("%s: no snapshot before L2 block %d: %s", self.name, number, exc)

    def _mine(self, fields: dict) -> None:
        try:
            self.control.call("evm_mine", fields)
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise
            raise ChainMismatch(
                f"{self.control.url} does not serve evm_mine: an L2 node serves its controls on "
                "its authenticated endpoint (native-devnet --auth-port --jwt-secret); give "
                "the sequencer --l2-auth-url and --jwt-secret"
            ) from None

    # -- the L2 pool --------------------------------------------------------------------------

    def take_pool(self) -> list[bytes]:
        """Empty the L2 node's pool; returns its transactions (raw) to put back later."""
        content = self.l2.call("txpool_content")
        raws = []
        for part in ("pending", "queued"):
            for by_nonce in content.get(part, {}).values():
                for nonce in sorted(by_nonce, key=int):
                    raw = self.l2.call("eth_getRawTransactionByHash", by_nonce[nonce]["hash"])
                    if raw:
                        raws.append(h2b(raw))
        self.control.call("anvil_dropAllTransactions")
        return raws

    def put_back(self, raws: list[bytes]) -> None:
        """Resubmit transactions taken from the pool (those now spent are refused: skipped)."""
        for raw in raws:
            try:
                self.l2.call("eth_sendRawTransaction", b2h(raw))
            except RpcError:
                pass

    def _drop_censored(self) -> None:
        if not self.censor:
            return
        content = self.l2.call("txpool_content")
        for part in ("pending", "queued"):
            for sender, by_nonce in content.get(part, {}).items():
                if h2b(sender) in self.censor:
                    for tx in by_nonce.values():
                        self.control.call("anvil_dropTransaction", tx["hash"])
                        log.info("%s: censored L2 tx %s from %s", self.name, tx["hash"], sender)

    # -- forced inclusion ---------------------------------------------------------------------

    def _forced_candidates(self) -> list[ForcedEntry]:
        """Unconsumed queue entries for the next block (the L2 head is the settled head)."""
        if not self.honour_forced or self.rollup.forced_head() == self.rollup.forced_count():
            return []
        return pending_entries(self.rollup)[:MAX_FORCED_PER_BLOCK]

    def _mine_forced(self, number: int, entries: list[ForcedEntry], fields: dict) -> None:
        """Mine block ``number`` holding the queue's entries alone, in queue order. An entry
        the L2 node refuses, or accepts but leaves out (a nonce gap), is skipped once due
        (proved invalid at settlement); while not due it waits, and so do the ones after it."""
        l1_block = self.l1.block_number() + 1  # the advance lands in the next L1 block
        taken = self.take_pool()
        refused: set[int] = set()
        try:
            for _ in range(len(entries) + 1):
                try:  # to build the block again if the node leaves an entry out
                    snap = self.control.call("evm_snapshot")
                except RpcError:  # the node's live snapshots are used up
                    snap = None
                accepted, skipped = [], []
                for entry in entries:
                    if entry.index not in refused:
                        try:
                            self.l2.call("eth_sendRawTransaction", b2h(entry.l2_tx))
                            accepted.append(entry)
                            continue
                        except RpcError as exc:
                            log.info("%s: forced tx %d refused: %s", self.name, entry.index, exc)
                    if entry.due_block > l1_block:
                        break
                    skipped.append(entry)
                self._mine(fields)
                mined = [h2b(t) for t in self.l2.block("latest")["transactions"]]
                wanted = [e.tx_hash for e in accepted]
                if mined == wanted:
                    break
                if snap is None:
                    raise SettlementError(
                        f"L2 block {number} left out a forced entry and cannot be rebuilt"
                    )
                self.control.call("evm_revert", snap)
                self.control.call("anvil_dropAllTransactions")
                first = next(i for i, h in enumerate(wanted) if i >= len(mined) or mined[i] != h)
                refused.add(accepted[first].index)
            else:
                raise SettlementError(f"could not build L2 block {number} with the forced entries")
            if skipped:
                self.skipped[number] = skipped
                log.info(
                    "%s: L2 block %d leaves out forced txs %s (invalid on L2)",
                    self.name,
                    number,
                    [e.index for e in skipped],
                )
        finally:
            self.put_back(taken)

    def _pool_pending(self) -> int:
        try:
            status = self.l2.call("txpool_status")
            return h2i(status.get("pending", "0x0"))
        except RpcError:
            return 0

    # -- settling -----------------------------------------------------------------------------

    def advance_input(self, number: int) -> AdvanceInput:
        """Block ``number``'s advance: ``advanceTo`` under ``BASED`` (a lost race fails
        cleanly) or when forced entries are left out (with their invalidity witnesses)."""
        inp = fetch_advance_input(self.l2, number)
        invalid = tuple(
            (e.l2_tx, invalidity_witness(self.l2, number, inp.witness, e.sender).encode())
            for e in self.skipped.get(number, ())
        )
        if invalid or self.policy == "based":
            inp = replace(inp, advance_to=True, invalid=invalid)
        return inp

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
        inp = self.advance_input(number)
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
        self.skipped.pop(number, None)
        self.snapshots.pop(number, None)
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
        """Catch up, then build and settle one block if there is anything to put in it.
        Under ``BASED``, a block another settler beat first is rolled back and the L2 node
        follows the L1's canonical chain (``sequencer.derive``)."""
        if self.policy == "based":
            self.resync()
        try:
            out = self.catch_up()
            started = time.monotonic()
            block = self.produce_block(force)
            if block is not None:
                mined = time.monotonic() - started
                out.append(self.settle(h2i(block["number"]), started, mined))
        except SettlementError as exc:
            if exc.revert is None or exc.revert.name != "BlockAlreadySettled":
                raise
            log.info("%s: another settler took the L2 block: %s", self.name, exc.revert)
            self.resync()
            return []
        return out

    def rollback(self, number: int) -> None:
        """Return the L2 node to just before this sequencer mined block ``number`` (its
        transactions go back to the pool)."""
        snap = self.snapshots.get(number)
        if snap is None or not self.control.call("evm_revert", snap):
            raise ChainMismatch(f"no snapshot before L2 block {number} to roll back to")
        for n in [n for n in self.snapshots if n >= number]:
            del self.snapshots[n]
        self.skipped = {n: e for n, e in self.skipped.items() if n < number}

    def resync(self) -> int:
        """Roll the L2 node back to the L1's canonical chain and replay what it misses;
        returns how many blocks were replayed."""
        from sequencer.derive import resync

        return resync(self)

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
