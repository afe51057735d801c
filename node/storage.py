"""Where the chain lives: in memory (the default) or in an LMDB file (``--data-dir``).

Both speak py-evm's atomic database API. ``block_transaction()`` groups every write a block
makes — state, header, body, receipts, our own indexes — into ONE commit, so a crash
leaves either the whole block or none of it. LMDB commits are durable (fsync) when they
return, so a block whose receipt a client has seen survives ``kill -9``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb
from eth.db.atomic import AtomicDB, AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB

log = logging.getLogger("native_devnet.storage")

LMDB_MAP_SIZE = 1 << 38  # 256 GiB of address space; the file grows only as needed
LMDB_FILE = "chain.lmdb"


class MemoryDatabase(AtomicDB):
    """py-evm's in-memory database; a block transaction needs nothing more."""

    @contextmanager
    def block_transaction(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass

    def clear(self) -> None:
        self.wrapped_db.kv_store.clear()


class LMDBDatabase(BaseAtomicDB):
    """An LMDB environment as py-evm's atomic database.

    Outside a block transaction each write is its own LMDB transaction. Inside one, writes
    (and py-evm's own atomic batches) collect in an overlay that readers see at once and
    that is committed in a single LMDB write transaction when the block is done.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(
            str(self.directory / LMDB_FILE),
            map_size=LMDB_MAP_SIZE,
            subdir=False,
            sync=True,
            metasync=True,
            readahead=False,
            max_dbs=0,
        )
        self._overlay: dict[bytes, bytes | None] | None = None  # None value: deleted
        self._owner: int | None = None
        self._lock = threading.RLock()

    # -- reads ------------------------------------------------------------------------------

    def __getitem__(self, key: bytes) -> bytes:
        overlay = self._overlay
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        with self.env.begin(buffers=False) as txn:
            value = txn.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    # -- writes -----------------------------------------------------------------------------

    def __setitem__(self, key: bytes, value: bytes) -> None:
        with self._lock:
            if self._overlay is not None:
                self._overlay[key] = value
                return
            with self.env.begin(write=True) as txn:
                txn.put(key, value)

    def __delitem__(self, key: bytes) -> None:
        with self._lock:
            if not self._exists(key):
                raise KeyError(key)
            if self._overlay is not None:
                self._overlay[key] = None
                return
            with self.env.begin(write=True) as txn:
                txn.delete(key)

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicDBWriteBatch]:
        with self.block_transaction(), AtomicDBWriteBatch._commit_unless_raises(self) as batch:
            yield batch

    @contextmanager
    def block_transaction(self) -> Iterator[None]:
        """Everything written inside lands in one LMDB commit (re-entrant)."""
        with self._lock:
            if self._overlay is not None:
                yield
                return
            self._overlay = {}
            try:
                yield
                overlay = self._overlay
                with self.env.begin(write=True) as txn:
                    for key, value in overlay.items():
                        if value is None:
                            txn.delete(key)
                        else:
                            txn.put(key, value)
            finally:
                self._overlay = None

    def put_direct(self, key: bytes, value: bytes) -> None:
        """One durable write outside any block transaction (LMDB serializes writers)."""
        with self.env.begin(write=True) as txn:
            txn.put(key, value)

    def delete_direct(self, key: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.delete(key)

    def prefixed_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        with self.env.begin(buffers=False) as txn:
            cursor = txn.cursor()
            items = []
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not key.startswith(prefix):
                        break
                    items.append((key, value))
        return items

    def clear(self) -> None:
        """Delete everything; inside a block transaction, as part of its one commit."""
        with self._lock:
            if self._overlay is not None:
                for key, _ in self.prefixed_items(b""):
                    self._overlay[key] = None
                for key in list(self._overlay):
                    self._overlay[key] = None
                return
            with self.env.begin(write=True) as txn:
                txn.drop(self.env.open_db(), delete=False)

    def close(self) -> None:
        self.env.sync(True)
        self.env.close()


def open_database(data_dir: str | Path | None) -> MemoryDatabase | LMDBDatabase:
    if data_dir is None:
        return MemoryDatabase()
    return LMDBDatabase(data_dir)


def prefixed_items(db, prefix: bytes) -> list[tuple[bytes, bytes]]:
    """Keys under a prefix, for either backend (the memory one is scanned)."""
    if isinstance(db, LMDBDatabase):
        return db.prefixed_items(prefix)
    store = db.wrapped_db.kv_store
    return sorted((k, v) for k, v in list(store.items()) if k.startswith(prefix))


POOL_PREFIX = b"native-devnet:pool:"


class PoolJournal:
    """Pending transactions in the chain's database, so a restarted node (or one loaded from
    a state file) can restore its pool. LMDB writes go straight to disk, outside any block
    transaction, so the event loop never waits for a block being built."""

    def __init__(self, db) -> None:
        self.db = db

    def added(self, tx_hash: bytes, raw: bytes) -> None:
        if isinstance(self.db, LMDBDatabase):
            self.db.put_direct(POOL_PREFIX + tx_hash, raw)
        else:
            self.db[POOL_PREFIX + tx_hash] = raw

    def removed(self, tx_hash: bytes) -> None:
        key = POOL_PREFIX + tx_hash
        if isinstance(self.db, LMDBDatabase):
            self.db.delete_direct(key)
        elif key in self.db:
            del self.db[key]

    def saved(self) -> list[bytes]:
        return [raw for _, raw in prefixed_items(self.db, POOL_PREFIX)]
