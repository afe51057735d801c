"""The transaction pool: future nonces held, replacement by fee, ordering for inclusion.

Ordering follows geth's miner: per sender strictly by nonce, across senders by the tip the
next transaction pays at the coming block's base fee (ties by arrival).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from eth.abc import SignedTransactionAPI

from node.errors import InvalidTransaction, TxRejection

PRICE_BUMP_PERCENT = 10  # a replacement must raise both fee cap and tip by this much


@dataclass
class PooledTransaction:
    transaction: SignedTransactionAPI
    sender: bytes
    hash: bytes
    arrival: int
    last_error: str | None = None  # why it was held back from the last block, if it was

    @property
    def nonce(self) -> int:
        return self.transaction.nonce

    def tip_at(self, base_fee: int) -> int:
        tx = self.transaction
        return min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee)


@dataclass
class TxPool:
    by_hash: dict[bytes, PooledTransaction] = field(default_factory=dict)
    by_sender: dict[bytes, dict[int, PooledTransaction]] = field(default_factory=dict)
    _arrivals: Iterator[int] = field(default_factory=itertools.count)
    on_removed: Callable[[bytes], None] | None = None  # e.g. the on-disk pool journal

    def __len__(self) -> int:
        return len(self.by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self.by_hash

    def get(self, tx_hash: bytes) -> PooledTransaction | None:
        return self.by_hash.get(tx_hash)

    def add(self, tx: SignedTransactionAPI, sender: bytes) -> PooledTransaction | None:
        """Add ``tx``; returns the transaction it replaced, if any."""
        if tx.hash in self.by_hash:
            raise InvalidTransaction(TxRejection.ALREADY_KNOWN)
        queue = self.by_sender.setdefault(sender, {})
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
            del self.by_hash[replaced.hash]
            if self.on_removed is not None:
                self.on_removed(replaced.hash)
        pooled = PooledTransaction(tx, sender, tx.hash, next(self._arrivals))
        queue[tx.nonce] = pooled
        self.by_hash[tx.hash] = pooled
        return replaced

    def remove(self, tx_hash: bytes) -> None:
        pooled = self.by_hash.pop(tx_hash, None)
        if pooled is None:
            return
        if self.on_removed is not None:
            self.on_removed(tx_hash)
        queue = self.by_sender.get(pooled.sender, {})
        if queue.get(pooled.nonce) is pooled:
            del queue[pooled.nonce]
        if not queue:
            self.by_sender.pop(pooled.sender, None)

    def prune(self, nonce_of: Callable[[bytes], int]) -> list[PooledTransaction]:
        """Drop transactions whose nonce is already used on chain; returns them."""
        dropped = []
        for sender in list(self.by_sender):
            current = nonce_of(sender)
            for nonce in [n for n in self.by_sender[sender] if n < current]:
                pooled = self.by_sender[sender][nonce]
                dropped.append(pooled)
                self.remove(pooled.hash)
        return dropped

    def clear(self) -> list[PooledTransaction]:
        everything = list(self.by_hash.values())
        for pooled in everything:
            self.remove(pooled.hash)
        return everything

    def next_nonce(self, sender: bytes, state_nonce: int) -> int:
        """The nonce after the sender's contiguous run of pooled transactions."""
        queue = self.by_sender.get(sender, {})
        nonce = state_nonce
        while nonce in queue:
            nonce += 1
        return nonce

    def pending(self, nonce_of: Callable[[bytes], int]) -> list[PooledTransaction]:
        """Executable transactions (contiguous from the on-chain nonce), per sender."""
        ready = []
        for sender, queue in self.by_sender.items():
            nonce = nonce_of(sender)
            while nonce in queue:
                ready.append(queue[nonce])
                nonce += 1
        return ready

    def queued(self, nonce_of: Callable[[bytes], int]) -> list[PooledTransaction]:
        """Transactions waiting for a nonce gap to fill."""
        ready = {p.hash for p in self.pending(nonce_of)}
        return [p for p in self.by_hash.values() if p.hash not in ready]

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


def _bumped(new: int, old: int) -> bool:
    return new * 100 >= old * (100 + PRICE_BUMP_PERCENT)
