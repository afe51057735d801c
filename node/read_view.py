"""Read views: balances, nonces, code and storage at one state root, shared by everything
that checks transactions against the head (the pool's validation, nonces, the automine and
block-building checks) instead of each opening a fresh ``AccountDB``.

A view is keyed by its state root. Trie nodes are content-addressed, so the state under a
root never changes: a view can never be stale, and a new head or a state edit (which
records a new post-state root for the head) simply asks for another view. The chain keeps
the ``MAX_READ_VIEWS`` most recent; each view starts a fresh ``AccountDB`` after
``MAX_VIEW_READS`` reads, so its caches stay bounded however long the head stays put.
Views are read-only and thread-safe (one lock per view); they read through the fork's own
account database class (the batched one shares its decoded-node cache).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from eth.abc import AtomicDatabaseAPI
from eth.db.account import AccountDB

MAX_READ_VIEWS = 8  # state roots with a live view
MAX_VIEW_READS = 50_000  # reads before a view drops its caches


class ReadView:
    """Read-only account data at ``state_root`` (the methods an ``AccountDB`` reads with)."""

    def __init__(
        self,
        db: AtomicDatabaseAPI,
        state_root: bytes,
        account_db_class: type[AccountDB] = AccountDB,
    ) -> None:
        self.db = db
        self.state_root = state_root
        self.account_db_class = account_db_class
        self._lock = threading.Lock()
        self._account_db = account_db_class(db, state_root)
        self._reads = 0

    def _reader(self) -> AccountDB:
        self._reads += 1
        if self._reads > MAX_VIEW_READS:
            self._account_db = self.account_db_class(self.db, self.state_root)
            self._reads = 1
        return self._account_db

    def get_balance(self, address: bytes) -> int:
        with self._lock:
            return self._reader().get_balance(address)

    def get_nonce(self, address: bytes) -> int:
        with self._lock:
            return self._reader().get_nonce(address)

    def get_code(self, address: bytes) -> bytes:
        with self._lock:
            return self._reader().get_code(address)

    def get_code_hash(self, address: bytes) -> bytes:
        with self._lock:
            return self._reader().get_code_hash(address)

    def get_storage(self, address: bytes, slot: int) -> int:
        with self._lock:
            return self._reader().get_storage(address, slot)

    def account_exists(self, address: bytes) -> bool:
        with self._lock:
            return self._reader().account_exists(address)


class ReadViews:
    """The most recent ``MAX_READ_VIEWS`` read views of one database, by state root."""

    def __init__(
        self,
        db: AtomicDatabaseAPI,
        account_db_class: type[AccountDB] = AccountDB,
        limit: int = MAX_READ_VIEWS,
    ) -> None:
        self.db = db
        self.account_db_class = account_db_class
        self.limit = limit
        self._views: OrderedDict[bytes, ReadView] = OrderedDict()
        self._lock = threading.Lock()

    def at(self, state_root: bytes) -> ReadView:
        with self._lock:
            view = self._views.get(state_root)
            if view is None:
                view = ReadView(self.db, state_root, self.account_db_class)
                self._views[state_root] = view
                while len(self._views) > self.limit:
                    self._views.popitem(last=False)
            else:
                self._views.move_to_end(state_root)
            return view

    def clear(self) -> None:
        """Forget every view (the database's content was replaced)."""
        with self._lock:
            self._views.clear()

    def __len__(self) -> int:
        return len(self._views)
