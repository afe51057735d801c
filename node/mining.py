"""Block production on the devnet: mining one block from the pool, the automine and interval
loops, and the mining mode (``evm_setAutomine``, ``evm_setIntervalMining``).

One thread writes the chain (``Devnet._on_writer``); readers use the cached ``head`` header,
which only moves once a block is fully persisted. Mixed into ``node.devnet.Devnet``, which
provides ``chain``, ``pool``, ``head``, the writer thread and the transaction waiters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from eth.abc import BlockHeaderAPI
from eth.constants import ZERO_HASH32

from node.chain import BuiltBlock, Chain
from node.errors import InvalidTimestamp
from node.pool import TxPool

log = logging.getLogger("native_devnet")

MAX_DROPPED_REMEMBERED = 10_000
MAX_TIMESTAMP = 2**64 - 1  # header timestamps are uint64


class MiningMode(Enum):
    AUTO = "automine"
    INTERVAL = "interval"
    MANUAL = "manual"


@dataclass
class MiningConfig:
    mode: MiningMode = MiningMode.AUTO
    block_time: float | None = None


BlockListener = Callable[[BuiltBlock], None]


class BlockProduction:
    """The block-producing side of ``Devnet``."""

    chain: Chain
    pool: TxPool
    head: BlockHeaderAPI
    mining: MiningConfig
    time_offset: int
    dropped: dict[bytes, str]
    listeners: list[BlockListener]
    _tasks: list[asyncio.Task]
    _wake: asyncio.Event
    _waiters: dict[bytes, asyncio.Future]
    _next_timestamp: int | None
    _next_fields: dict[str, bytes | int]
    coinbase: bytes
    increase_time: Callable[[int], int]  # node/controls.py

    def check_block_timestamp(self, timestamp: int) -> None:
        """A timestamp the next block may have: after the head's and a uint64."""
        if timestamp > MAX_TIMESTAMP:
            raise InvalidTimestamp(
                f"The timestamp is too big: {timestamp} is above the largest uint64 {MAX_TIMESTAMP}"
            )
        if timestamp <= self.head.timestamp:
            raise InvalidTimestamp(
                f"Timestamp error: {timestamp} is lower than or equal to previous block's "
                f"timestamp {self.head.timestamp}"
            )

    async def mine(self, timestamp: int | None = None) -> BuiltBlock:
        """Mine one block now with whatever the pool can execute."""
        if timestamp is not None:
            self.check_block_timestamp(timestamp)
        built = await self._on_writer(self._build_next_block, timestamp)
        self._after_block(built)
        return built

    async def mine_after_interval(self, interval: int) -> BuiltBlock:
        """One block of ``anvil_mine [blocks, interval]``: the interval adds to the clock's
        offset (as anvil), and the block lands at least ``interval`` after the head (blocks
        here never share a timestamp, so the head may be ahead of the clock); an exact next
        timestamp (``evm_setNextBlockTimestamp``) still wins."""
        self.increase_time(interval)
        if self._next_timestamp is not None:
            return await self.mine()
        clock = int(time.time()) + self.time_offset
        return await self.mine(max(clock, self.head.timestamp + max(interval, 1)))

    async def mine_many(self, count: int, interval: int | None = None) -> list[BuiltBlock]:
        """``anvil_mine [count, interval]``: ``count`` blocks built in one trip to the chain
        writer (not one trip each), each announced in order as ``mine`` announces it; with
        ``interval``, each block as ``mine_after_interval`` makes it. A block that fails
        stops the run: the blocks before it stay (and are announced), the error is raised."""
        built, error = await self._on_writer(self._build_blocks, count, interval)
        for block in built:
            self._after_block(block)
        if error is not None:
            raise error
        return built

    def _build_blocks(
        self, count: int, interval: int | None
    ) -> tuple[list[BuiltBlock], Exception | None]:
        built: list[BuiltBlock] = []
        try:
            for _ in range(count):
                timestamp = None
                if interval is not None:
                    self.increase_time(interval)
                    if self._next_timestamp is None:
                        clock = int(time.time()) + self.time_offset
                        timestamp = max(clock, self.chain.head.timestamp + max(interval, 1))
                built.append(self._build_next_block(timestamp))
        except Exception as exc:  # the blocks built so far are the chain's: announce them
            return built, exc
        return built, None

    def _build_next_block(self, timestamp: int | None) -> BuiltBlock:
        head = self.chain.head
        base_fee = self._next_fields.get("base_fee_per_gas")
        if not isinstance(base_fee, int):
            base_fee = self.chain.next_base_fee(head)
        ordered = self.pool.ordered_for_block(self._nonce_reader(head), base_fee)
        if timestamp is None:
            timestamp = self._next_timestamp
            self._next_timestamp = None
        if timestamp is None:
            timestamp = int(time.time()) + self.time_offset
        timestamp = max(timestamp, head.timestamp + 1)
        if timestamp > MAX_TIMESTAMP:  # the clock ran out: no block can follow
            raise InvalidTimestamp(
                f"The timestamp is too big: block {head.block_number + 1} would need "
                f"{timestamp}, above the largest uint64 {MAX_TIMESTAMP}"
            )
        fields, self._next_fields = self._next_fields, {}
        fields.setdefault("parent_beacon_block_root", ZERO_HASH32)
        fields.setdefault("coinbase", self.coinbase)
        built = self.chain.build_block(
            [p.transaction for p in ordered], timestamp=timestamp, **fields
        )
        for info in built.receipts:
            self.pool.remove(info.transaction_hash)
        for skipped in built.skipped:
            pooled = self.pool.get(skipped.transaction.hash)
            if pooled is None:
                continue
            if skipped.error.retryable:
                pooled.last_error = str(skipped.error)
            else:
                self.pool.remove(pooled.hash)
        self.pool.prune(self._nonce_reader(built.block.header))
        return built

    def _nonce_reader(self, header: BlockHeaderAPI) -> Callable[[bytes], int]:
        """Nonces after ``header``'s block, its read view opened at the first one asked
        (an empty pool asks none: a run of empty blocks opens no view)."""
        view = None

        def nonce_of(address: bytes) -> int:
            nonlocal view
            if view is None:
                view = self.chain.account_db(header)
            return view.get_nonce(address)

        return nonce_of

    def _after_block(self, built: BuiltBlock) -> None:
        self.head = built.block.header
        header = built.block.header
        log.info(
            "block %d 0x%s txs=%d gas=%d base_fee=%d in %.1f ms",
            header.block_number,
            built.block.hash.hex()[:16],
            len(built.receipts),
            header.gas_used,
            header.base_fee_per_gas,
            built.seconds * 1000,
        )
        for info in built.receipts:
            self._settle(info.transaction_hash, None)
        for skipped in built.skipped:
            if not skipped.error.retryable:
                log.info("tx 0x%s dropped: %s", skipped.transaction.hash.hex(), skipped.error)
                self.dropped[skipped.transaction.hash] = str(skipped.error)
                while len(self.dropped) > MAX_DROPPED_REMEMBERED:
                    self.dropped.pop(next(iter(self.dropped)))
                self._settle(skipped.transaction.hash, skipped.error)
            else:
                log.info("tx 0x%s deferred: %s", skipped.transaction.hash.hex(), skipped.error)
        for listener in list(self.listeners):
            try:
                listener(built)
            except Exception:  # a listener must never stop block production
                log.exception("block listener failed")

    def _settle(self, tx_hash: bytes, error: Exception | None) -> None:
        waiter = self._waiters.pop(tx_hash, None)
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _has_executable(self) -> bool:
        head = self.head
        return bool(self.pool.pending(self.chain.account_db(head).get_nonce))

    def _clock_ran_out(self, exc: InvalidTimestamp, who: str = "automine") -> None:
        """One line per loop and head (not a traceback at every wake-up or tick) when the
        head's timestamp is 2**64 - 1: no block can follow it (only ``evm_revert`` helps)."""
        key = (who, self.chain.head.hash)
        warned = self.__dict__.setdefault("_clock_warned", set())  # Devnet builds the mixin
        if key in warned:
            return
        warned.add(key)
        log.warning("%s: no block can follow block %d: %s", who, self.chain.head.block_number, exc)

    async def _automine_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.mining.mode is not MiningMode.AUTO:
                continue
            while self._has_executable():
                try:
                    built = await self.mine()
                except InvalidTimestamp as exc:  # the clock ran out: a condition, not a bug
                    self._clock_ran_out(exc)
                    break
                except Exception:
                    log.exception("block production failed; pool left as it was")
                    break
                if not built.receipts:
                    break  # nothing could be included now; wait for the next change
            # Waiters whose tx is still pooled were deferred: answer them (tx is pending).
            for tx_hash in [h for h in self._waiters if h in self.pool]:
                self._settle(tx_hash, None)

    async def _interval_loop(self) -> None:
        interval = self.mining.block_time or 1.0
        next_at = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            try:
                await self.mine()
            except InvalidTimestamp as exc:
                self._clock_ran_out(exc, "interval mining")
            except Exception:
                log.exception("interval block production failed")

    def set_interval_mining(self, seconds: float) -> None:
        """``evm_setIntervalMining``: a block every ``seconds``; 0 turns it off."""
        for task in [t for t in self._tasks if t.get_name() == "interval"]:
            task.cancel()
            self._tasks.remove(task)
        if seconds > 0:
            self.mining = MiningConfig(MiningMode.INTERVAL, seconds)
            self._tasks.append(asyncio.create_task(self._interval_loop(), name="interval"))
        elif self.mining.mode is MiningMode.INTERVAL:
            self.mining = MiningConfig(MiningMode.MANUAL)

    def set_automine(self, enabled: bool) -> None:
        if enabled:
            self.set_interval_mining(0)  # automine replaces interval mining, as in anvil
            self.mining = MiningConfig(MiningMode.AUTO)
            self._wake.set()
        elif self.mining.mode is MiningMode.AUTO:
            self.mining = MiningConfig(MiningMode.MANUAL)
