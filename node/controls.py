"""Test-node controls of the devnet: snapshots and revert, time travel, the next block's
timestamp and header fields, state edits, reset, and dumping and loading the whole state
(``evm_*`` and ``anvil_*`` methods).

Mixed into ``node.devnet.Devnet``, which provides ``chain``, ``pool``, ``head``, the journal and
the writer thread; changes to the chain run on the writer thread, between blocks.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth.abc import BlockHeaderAPI

from node.chain import Chain
from node.errors import InvalidTimestamp, InvalidTransaction, TooManySnapshots
from node.genesis import Genesis
from node.mining import MAX_TIMESTAMP
from node.pool import TxPool
from node.statefile import checked_entries, dump_state
from node.storage import PoolJournal

log = logging.getLogger("native_devnet")

# Live evm_snapshot ids: each holds the pool's transactions, so an endless loop of snapshots
# would grow without bound. Reverting uses up a snapshot and every newer one.
MAX_SNAPSHOTS = 1_000
MAX_BALANCE = 2**256 - 1  # anvil_addBalance saturates here, as anvil


@dataclass
class Snapshot:
    head: BlockHeaderAPI
    post_state_root: bytes
    pool: list


class NodeControls:
    """The test-node side of ``Devnet``."""

    genesis: Genesis
    chain: Chain
    pool: TxPool
    head: BlockHeaderAPI
    journal: PoolJournal
    time_offset: int
    _next_timestamp: int | None
    _next_fields: dict[str, bytes | int]
    coinbase: bytes
    _waiters: dict
    _level_before_silence: int | None = (
        None  # the log level anvil_setLoggingEnabled(false) replaced
    )
    _instance_id: bytes | None = None  # anvil_metadata's, drawn again on reset
    _rebase: Callable | None = None  # the block listener a chosen timestamp waits with
    _settle: Callable[[bytes, Exception | None], None]
    listeners: list[Callable]
    _snapshots: dict[int, Snapshot]
    _next_snapshot_id: int

    def set_next_timestamp(self, timestamp: int) -> None:
        """``evm_setNextBlockTimestamp``: the next block's timestamp; once a block has it,
        the clock continues from it, as anvil's (an ``evm_increaseTime`` after it adds to
        that, and a timestamp behind the clock takes the clock back)."""
        self.check_block_timestamp(timestamp)
        self._next_timestamp = timestamp

        def rebase_once(built) -> None:
            if built.block.header.timestamp == timestamp:
                self.rebase_clock(timestamp)
            self._drop_rebase()

        self._drop_rebase()  # one at most: only the last chosen timestamp is used
        self._rebase = rebase_once
        self.listeners.append(rebase_once)

    def _drop_rebase(self) -> None:
        if self._rebase is not None and self._rebase in self.listeners:
            self.listeners.remove(self._rebase)
        self._rebase = None

    def rebase_clock(self, timestamp: int) -> None:
        """Make the clock read ``timestamp`` now (a block was given that timestamp)."""
        self.time_offset = timestamp - int(time.time())

    def set_next_block_fields(
        self,
        anchor: bytes | None = None,
        prev_randao: bytes | None = None,
        coinbase: bytes | None = None,
    ) -> None:
        """Header fields of the next block only: the L1 anchor (``parent_beacon_block_root``)
        a rollup sequencer hands its L2, ``prevRandao`` and the fee recipient."""
        if anchor is not None:
            self._next_fields["parent_beacon_block_root"] = anchor
        if prev_randao is not None:
            self._next_fields["prev_randao"] = prev_randao
        if coinbase is not None:
            self._next_fields["coinbase"] = coinbase

    def set_next_base_fee(self, base_fee: int) -> None:
        """``anvil_setNextBlockBaseFeePerGas``: the next block's base fee; later blocks follow
        EIP-1559 from it (as anvil, the builder sets it whatever the parent's rule says)."""
        self._next_fields["base_fee_per_gas"] = base_fee

    def set_block_gas_limit(self, gas_limit: int) -> None:
        """``evm_setBlockGasLimit``: the next block's gas limit, which later blocks keep
        (the limit stays pinned to the parent's)."""
        self._next_fields["gas_limit"] = gas_limit

    def next_gas_limit(self) -> int:
        """The gas limit of the block to come."""
        chosen = self._next_fields.get("gas_limit")
        return chosen if isinstance(chosen, int) else self.head.gas_limit

    def set_coinbase(self, coinbase: bytes) -> None:
        """``anvil_setCoinbase``: the fee recipient of every block from the next one on
        (``devnet_setNextBlockFields`` still overrides it for one block)."""
        self.coinbase = coinbase

    def drop_transaction(self, tx_hash: bytes) -> bytes | None:
        """``anvil_dropTransaction``: remove one pooled transaction; its hash, or None if the
        pool does not hold it."""
        if tx_hash not in self.pool:
            return None
        self.pool.remove(tx_hash)
        self._settle(tx_hash, None)
        log.info("tx 0x%s dropped from the pool", tx_hash.hex())
        return tx_hash

    def drop_all_transactions(self) -> None:
        """``anvil_dropAllTransactions``: empty the pool."""
        for pooled in self.pool.clear():
            self._settle(pooled.hash, None)
        log.info("all pooled transactions dropped")

    def remove_pool_transactions(self, sender: bytes) -> None:
        """``anvil_removePoolTransactions``: remove every pooled transaction of ``sender``."""
        for pooled in self.pool.remove_sender(sender):
            self._settle(pooled.hash, None)
        log.info("pooled transactions of 0x%s dropped", sender.hex())

    def set_logging_enabled(self, enabled: bool) -> None:
        """``anvil_setLoggingEnabled``: switch the node's informational log lines (requests,
        blocks, transactions) off, or back on at the level they had (at least INFO, so a
        ``--silent`` node starts logging, as anvil's switch does); warnings and errors
        always print."""
        logger = logging.getLogger("native_devnet")
        if not enabled:
            if self._level_before_silence is None:
                self._level_before_silence = logger.level
            logger.setLevel(logging.WARNING)
            return
        level, self._level_before_silence = self._level_before_silence, None
        if level is not None:
            logger.setLevel(level)
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)

    async def snapshot(self) -> int:
        """``evm_snapshot``: remember head, head state, pool and clock."""
        if len(self._snapshots) >= MAX_SNAPSHOTS:
            raise TooManySnapshots(
                f"too many snapshots: {MAX_SNAPSHOTS} are live; evm_revert one to free them"
            )
        snapshot_id = self._next_snapshot_id
        self._next_snapshot_id += 1
        head = self.head
        self._snapshots[snapshot_id] = Snapshot(
            head=head,
            post_state_root=self.chain.state_root_after(head),
            pool=self.pool.entries(),
        )
        return snapshot_id

    def snapshots(self) -> dict[int, BlockHeaderAPI]:
        """The live ``evm_snapshot`` ids and the head each returns to (``anvil_metadata``)."""
        return {i: snap.head for i, snap in self._snapshots.items()}

    def instance_id(self) -> bytes:
        """32 random bytes naming this run of the chain (``anvil_metadata``'s ``instanceId``):
        kept until ``anvil_reset``, as anvil."""
        if self._instance_id is None:
            self._instance_id = os.urandom(32)
        return self._instance_id

    async def revert(self, snapshot_id: int) -> bool:
        """``evm_revert``: back to the snapshot; it and every newer one are used up.

        The next block's chosen fields follow anvil 1.7.1 (probed side by side): the clock
        goes back to the snapshot head's timestamp (``evm_increaseTime`` since is undone, a
        chosen next timestamp is dropped), a chosen gas limit is dropped (the next block keeps
        the head's), while a chosen next base fee and the coinbase stay as they are."""
        snap = self._snapshots.get(snapshot_id)
        if snap is None:
            return False
        for newer in [i for i in self._snapshots if i >= snapshot_id]:
            del self._snapshots[newer]

        def rewind() -> None:
            self.chain.rewind_to(snap.head)
            self.chain.edit_head_state(lambda db: None, post_state_root=snap.post_state_root)
            self.pool.clear()
            for tx, sender in sorted(snap.pool, key=lambda pooled: pooled[0].nonce):
                try:
                    self.pool.add(tx, sender, self.chain.nonce(sender, snap.head))
                except InvalidTransaction as exc:  # the limits may have changed since
                    log.info("pooled tx 0x%s dropped on revert: %s", tx.hash.hex(), exc)
                    continue
                self.journal.added(tx.hash, tx.encode())

        await self._on_writer(rewind)
        self.head = snap.head
        self.time_offset = snap.head.timestamp - int(time.time())
        self._next_timestamp = None
        self._next_fields.pop("gas_limit", None)
        log.info("reverted to snapshot %d (block %d)", snapshot_id, snap.head.block_number)
        return True

    def increase_time(self, seconds: int) -> int:
        """``evm_increaseTime``: move the clock forward (never back, as anvil)."""
        if seconds < 0:
            raise InvalidTimestamp(f"cannot increase time by a negative {seconds} seconds")
        clock = int(time.time()) + self.time_offset + seconds
        if clock > MAX_TIMESTAMP:
            raise InvalidTimestamp(
                f"The timestamp is too big: the clock would read {clock}, above the largest "
                f"uint64 {MAX_TIMESTAMP}"
            )
        self.time_offset += seconds
        return self.time_offset

    async def add_balance(self, address: bytes, amount: int) -> int:
        """``anvil_addBalance``: add to the balance after the head block, saturating at
        2**256 - 1 as anvil; the new balance."""
        added = 0

        def edit(db) -> None:
            nonlocal added
            added = min(db.get_balance(address) + amount, MAX_BALANCE)
            db.set_balance(address, added)

        await self.edit_state(edit)
        return added

    async def edit_state(self, edit) -> None:
        """Change the state after the head block (``anvil_setBalance`` and friends)."""
        await self._on_writer(self.chain.edit_head_state, edit)

    async def reset(self) -> None:
        """``anvil_reset``: a fresh chain from the same genesis, an empty pool."""

        # The genesis this chain really has (a resumed node's file may say "now").
        genesis = self.genesis.with_overrides(timestamp=self.chain.genesis_header.timestamp)

        def fresh() -> None:
            self.pool.clear()
            db = self.chain.db
            with db.block_transaction():
                db.clear()
                self.chain = Chain(genesis, db)

        await self._on_writer(fresh)
        self.head = self.chain.head
        self.time_offset = 0
        self._next_timestamp = None
        self._snapshots.clear()
        self._instance_id = None

    async def dump_state(self) -> dict:
        """The chain as a state document, taken between blocks (never of a half-built one)."""
        return await self._on_writer(dump_state, self.chain)

    async def load_state(self, entries: list[tuple[bytes, bytes]]) -> None:
        """Replace the whole chain with a state file's (``anvil_loadState``). The file must
        come from this genesis; otherwise nothing changes."""

        def load() -> None:
            checked_entries(lambda db: Chain(self.genesis, db), entries)
            self.pool.on_removed = None
            self.pool.clear()
            self.pool.on_removed = self.journal.removed
            db = self.chain.db
            with db.block_transaction():  # one commit: the old chain or the new one
                db.clear()
                for key, value in entries:
                    db[key] = value
            self.chain = Chain(self.genesis, db)

        await self._on_writer(load)
        self.head = self.chain.head
        self._snapshots.clear()
        self._restore_pool()
        log.info("loaded a state file: head is block %d", self.head.block_number)
