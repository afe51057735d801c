"""The transaction pool: future nonces held, replacement by fee, ordering for inclusion.

Ordering follows geth's miner: per sender strictly by nonce, across senders by the tip the
next transaction pays at the coming block's base fee (ties by arrival).

The pool is bounded as geth's is. Executable transactions (contiguous from the sender's
nonce on chain) count in 32 KiB slots, at most ``MAX_PENDING_SLOTS`` in all; transactions
waiting for a nonce gap to fill ("queued") at most ``MAX_QUEUED_PER_SENDER`` per sender and
``MAX_QUEUED`` in all. There is no per-sender cap on executable transactions: a devnet
with ``--no-mining`` and a forge script may hold hundreds from one deployer, and the global
bound already bounds memory. A replacement (same sender and nonce) never counts twice.

The event loop adds and reads while the chain-writer thread takes transactions for a block
and removes the mined ones, so every public method holds the pool's lock.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from eth.abc import SignedTransactionAPI

from node.errors import InvalidTransaction, TxRejection

PRICE_BUMP_PERCENT = 10  # a replacement must raise both fee cap and tip by this much
TX_SLOT_SIZE = 32 * 1024  # geth's txSlotSize: a transaction occupies ceil(size / this) slots
MAX_PENDING_SLOTS = 5_120  # geth's txpool.globalslots (executable transactions, in slots)
MAX_QUEUED = 1_024  # geth's txpool.globalqueue (nonce-gap transactions, all senders)
MAX_QUEUED_PER_SENDER = 64  # geth's txpool.accountqueue
MAX_TX_SIZE = 128 * 1024  # geth's txMaxSize: bytes of one encoded transaction


def _locked(method):
    """Run ``method`` holding the pool's lock (re-entrant: locked methods call each other)."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


@dataclass(frozen=True)
class PoolLimits:
    """What the pool holds at most (flags ``--txpool-max-pending``, ``--txpool-max-queued``,
    ``--txpool-max-queued-per-sender``, ``--txpool-max-tx-size``)."""

    max_pending_slots: int = MAX_PENDING_SLOTS
    max_queued: int = MAX_QUEUED
    max_queued_per_sender: int = MAX_QUEUED_PER_SENDER
    max_tx_size: int = MAX_TX_SIZE


@dataclass
class PooledTransaction:
    transaction: SignedTransactionAPI
    sender: bytes
    hash: bytes
    arrival: int
    last_error: str | None = None  # why it was held back from the last block, if it was
    slots: int = 1  # 32 KiB slots of the encoded transaction, as geth counts them

    @property
    def nonce(self) -> int:
        return self.transaction.nonce

    def tip_at(self, base_fee: int) -> int:
        tx = self.transaction
        return min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee)


@dataclass
class _Account:
    """What the pool knows of one sender's nonces, to count its transactions cheaply."""

    base: int  # the sender's nonce on chain, as the pool last learned it
    run: int = 0  # pooled transactions contiguous from ``base``: the executable ones
    run_slots: int = 0  # their slots
    queued: int = 0  # the sender's other pooled transactions


@dataclass
class TxPool:
    by_hash: dict[bytes, PooledTransaction] = field(default_factory=dict)
    by_sender: dict[bytes, dict[int, PooledTransaction]] = field(default_factory=dict)
    _arrivals: Iterator[int] = field(default_factory=itertools.count)
    on_removed: Callable[[bytes], None] | None = None  # e.g. the on-disk pool journal
    limits: PoolLimits = field(default_factory=PoolLimits)
    pending_slots: int = 0  # slots of executable transactions, all senders
    queued_count: int = 0  # transactions waiting for a nonce gap to fill, all senders
    _accounts: dict[bytes, _Account] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @_locked
    def __len__(self) -> int:
        return len(self.by_hash)

    @_locked
    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self.by_hash

    @_locked
    def get(self, tx_hash: bytes) -> PooledTransaction | None:
        return self.by_hash.get(tx_hash)

    def check_size(self, size: int) -> None:
        """Refuse a transaction of ``size`` encoded bytes above the limit (geth's words)."""
        if size > self.limits.max_tx_size:
            raise InvalidTransaction(
                TxRejection.OVERSIZED,
                f"transaction size {size}, limit {self.limits.max_tx_size}",
            )

    @_locked
    def add(
        self, tx: SignedTransactionAPI, sender: bytes, state_nonce: int | None = None
    ) -> PooledTransaction | None:
        """Add ``tx``; returns the transaction it replaced, if any. ``state_nonce`` is the
        sender's nonce on chain (when not given, the lowest nonce the pool holds for the
        sender is taken as next); it tells executable from queued for the limits."""
        if tx.hash in self.by_hash:
            raise InvalidTransaction(TxRejection.ALREADY_KNOWN)
        queue = self.by_sender.get(sender, {})
        replaced = queue.get(tx.nonce)
        if replaced is not None:
            old = replaced.transaction
            if not (
                _bumped(tx.max_fee_per_gas, old.max_fee_per_gas)
                and _bumped(tx.max_priority_fee_per_gas, old.max_priority_fee_per_gas)
            ):
                raise InvalidTransaction(
                    TxRejection.UNDERPRICED_REPLACEMENT,
                    f"fee cap and tip must rise by {PRICE_BUMP_PERCENT}%",
                )
        pooled = PooledTransaction(
            tx, sender, tx.hash, next(self._arrivals), slots=transaction_slots(tx)
        )
        if replaced is None:
            self._learn_nonce(sender, state_nonce, tx.nonce)
            self._check_room(sender, pooled)
        else:
            del self.by_hash[replaced.hash]
            if self.on_removed is not None:
                self.on_removed(replaced.hash)
        queue = self.by_sender.setdefault(sender, queue)
        queue[tx.nonce] = pooled
        self.by_hash[tx.hash] = pooled
        if replaced is None:
            self._count_added(sender, pooled)
        else:
            self._recount(sender)  # the slots of one executable transaction may change
        return replaced

    @_locked
    def remove(self, tx_hash: bytes) -> None:
        pooled = self.by_hash.pop(tx_hash, None)
        if pooled is None:
            return
        if self.on_removed is not None:
            self.on_removed(tx_hash)
        queue = self.by_sender.get(pooled.sender, {})
        if queue.get(pooled.nonce) is pooled:
            del queue[pooled.nonce]
            self._count_removed(pooled)
        if not queue:
            self.by_sender.pop(pooled.sender, None)
            self._accounts.pop(pooled.sender, None)

    @_locked
    def prune(self, nonce_of: Callable[[bytes], int]) -> list[PooledTransaction]:
        """Drop transactions whose nonce is already used on chain; returns them."""
        dropped = []
        for sender in list(self.by_sender):
            current = nonce_of(sender)
            for nonce in [n for n in self.by_sender[sender] if n < current]:
                pooled = self.by_sender[sender][nonce]
                dropped.append(pooled)
                self.remove(pooled.hash)
            if sender in self._accounts:
                self._accounts[sender].base = current
                self._recount(sender)
        # Once per block, the totals are summed afresh from the senders' counts.
        self.pending_slots = sum(a.run_slots for a in self._accounts.values())
        self.queued_count = sum(a.queued for a in self._accounts.values())
        return dropped

    @_locked
    def entries(self) -> list[tuple[SignedTransactionAPI, bytes]]:
        """Every pooled transaction with its sender, as one consistent copy."""
        return [(p.transaction, p.sender) for p in self.by_hash.values()]

    @_locked
    def clear(self) -> list[PooledTransaction]:
        everything = list(self.by_hash.values())
        for pooled in everything:
            self.remove(pooled.hash)
        return everything

    @_locked
    def remove_sender(self, sender: bytes) -> list[PooledTransaction]:
        """Remove every pooled transaction of ``sender``; returns them."""
        everything = list(self.by_sender.get(sender, {}).values())
        for pooled in everything:
            self.remove(pooled.hash)
        return everything

    @_locked
    def next_nonce(self, sender: bytes, state_nonce: int) -> int:
        """The nonce after the sender's contiguous run of pooled transactions."""
        queue = self.by_sender.get(sender, {})
        nonce = state_nonce
        while nonce in queue:
            nonce += 1
        return nonce

    @_locked
    def pending(self, nonce_of: Callable[[bytes], int]) -> list[PooledTransaction]:
        """Executable transactions (contiguous from the on-chain nonce), per sender."""
        ready = []
        for sender, queue in self.by_sender.items():
            nonce = nonce_of(sender)
            while nonce in queue:
                ready.append(queue[nonce])
                nonce += 1
        return ready

    @_locked
    def queued(self, nonce_of: Callable[[bytes], int]) -> list[PooledTransaction]:
        """Transactions waiting for a nonce gap to fill."""
        ready = {p.hash for p in self.pending(nonce_of)}
        return [p for p in self.by_hash.values() if p.hash not in ready]

    @_locked
    def ordered_for_block(
        self, nonce_of: Callable[[bytes], int], base_fee: int
    ) -> list[PooledTransaction]:
        """Executable transactions in inclusion order: by tip across senders, by nonce within."""
        heads: list[tuple[int, int, bytes, int]] = []
        for sender, queue in self.by_sender.items():
            nonce = nonce_of(sender)
            if nonce in queue:
                head = queue[nonce]
                heapq.heappush(heads, (-head.tip_at(base_fee), head.arrival, sender, nonce))
        ordered = []
        while heads:
            _, _, sender, nonce = heapq.heappop(heads)
            pooled = self.by_sender[sender][nonce]
            ordered.append(pooled)
            following = self.by_sender[sender].get(nonce + 1)
            if following is not None:
                heapq.heappush(
                    heads, (-following.tip_at(base_fee), following.arrival, sender, nonce + 1)
                )
        return ordered

    # -- limits -------------------------------------------------------------------------------

    def _learn_nonce(self, sender: bytes, state_nonce: int | None, nonce: int) -> None:
        account = self._accounts.get(sender)
        if state_nonce is None:
            if account is not None:
                return
            state_nonce = min([nonce, *self.by_sender.get(sender, ())])
        if account is None:
            self._accounts[sender] = _Account(base=state_nonce)
        elif account.base != state_nonce:
            account.base = state_nonce
            self._recount(sender)

    def _check_room(self, sender: bytes, pooled: PooledTransaction) -> None:
        """Refuse a new (not replacing) transaction the pool has no room for."""
        account = self._accounts[sender]
        limits = self.limits
        if pooled.nonce == account.base + account.run:  # executable at once
            if self.pending_slots + pooled.slots > limits.max_pending_slots:
                raise InvalidTransaction(
                    TxRejection.POOL_FULL,
                    f"{self.pending_slots} of {limits.max_pending_slots} slots of executable "
                    "transactions are taken (--txpool-max-pending)",
                )
            return
        queued_here = account.queued
        if queued_here >= limits.max_queued_per_sender:
            raise InvalidTransaction(
                TxRejection.ACCOUNT_LIMIT,
                f"0x{sender.hex()} already has {queued_here} queued transactions waiting for "
                f"a nonce gap to fill, the most one sender may have "
                f"(--txpool-max-queued-per-sender {limits.max_queued_per_sender}); "
                f"its next nonce is {account.base + account.run}",
            )
        if self.queued_count >= limits.max_queued:
            raise InvalidTransaction(
                TxRejection.POOL_FULL,
                f"{self.queued_count} queued transactions wait for nonce gaps to fill, "
                f"the most the pool holds (--txpool-max-queued {limits.max_queued})",
            )

    def _count_added(self, sender: bytes, pooled: PooledTransaction) -> None:
        account = self._accounts[sender]
        account.queued += 1  # counted as queued, then moved if it extends the run
        self.queued_count += 1
        # Extending the executable run may close a gap: what follows becomes executable.
        queue = self.by_sender[sender]
        while (following := queue.get(account.base + account.run)) is not None:
            account.run += 1
            account.run_slots += following.slots
            account.queued -= 1
            self.pending_slots += following.slots
            self.queued_count -= 1

    def _count_removed(self, pooled: PooledTransaction) -> None:
        account = self._accounts.get(pooled.sender)
        if account is None:
            return
        offset = pooled.nonce - account.base
        if not 0 <= offset < account.run:
            account.queued -= 1
            self.queued_count -= 1
        elif offset == 0:  # the head of the run (mined, or dropped): the rest waits
            account.queued += account.run - 1
            self.queued_count += account.run - 1
            self.pending_slots -= account.run_slots
            account.run = account.run_slots = 0
        else:  # a gap opens: what follows waits again
            self._recount(pooled.sender)

    def _recount(self, sender: bytes) -> None:
        """Count one sender's executable and queued transactions afresh."""
        account = self._accounts[sender]
        queue = self.by_sender.get(sender, {})
        self.pending_slots -= account.run_slots
        self.queued_count -= account.queued
        account.run = account.run_slots = 0
        while (pooled := queue.get(account.base + account.run)) is not None:
            account.run += 1
            account.run_slots += pooled.slots
        account.queued = len(queue) - account.run
        self.pending_slots += account.run_slots
        self.queued_count += account.queued


def transaction_slots(tx: SignedTransactionAPI) -> int:
    """How many of geth's 32 KiB slots ``tx`` takes (at least one)."""
    return max(1, -(-len(tx.encode()) // TX_SLOT_SIZE))


def _bumped(new: int, old: int) -> bool:
    return new * 100 >= old * (100 + PRICE_BUMP_PERCENT)
