"""Where the chain lives: in memory (the default) or in an LMDB file (``--data-dir``).

Both speak py-evm's atomic database API. ``block_transaction()`` groups every write a block
makes — state, header, body, receipts, our own indexes — into ONE commit, so a crash
leaves either the whole block or none of it. LMDB commits are durable (fsync) when they
return, so a block whose receipt a client has seen survives ``kill -9``.

The in-memory chain keeps every block and every state (an archive, as anvil's), but not all
of it in RAM: recent writes stay in two dicts, and once the newer one holds ``spill_after``
bytes the older one moves to a private temporary SQLite file (unlinked by SQLite when it is
created, so nothing is left behind even after ``kill -9``). What a long-running devnet keeps
in RAM is bounded; what it keeps on disk grows about 4.6 KB per empty block (the system
contracts' storage-trie nodes and the header). Anvil does the same with its states: the newest
in memory, older ones in a temporary directory.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb
from eth.db.atomic import AtomicDB, AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB, BaseDB

log = logging.getLogger("native_devnet.storage")

LMDB_MAP_SIZE = 1 << 38  # 256 GiB of address space; the file grows only as needed
LMDB_FILE = "chain.lmdb"


# In-memory mode: bytes of keys and values of recent writes held in RAM per dict; when the
# newer dict holds this much, the older one moves to the temporary SQLite file (so RAM holds
# about twice this, plus Python's per-object overhead: ~30 MB; about 1 700 empty blocks each).
SPILL_AFTER_BYTES = 8 << 20
# Values read back from the SQLite file, kept for the next read (entries, least recently used
# dropped first).
COLD_READ_CACHE = 4096
# SQLite's own page cache for the file, in KiB (negative cache_size: KiB, not pages).
COLD_PAGE_CACHE_KIB = 2048


class SpillingMemoryDB(BaseDB):
    """A key-value store in RAM whose older writes move to a temporary SQLite file.

    Two dicts, newer first, then the file, read through a small cache of values read from
    it: the newest write of a key always wins, and nothing is ever dropped. Writes go to the
    newer dict; once it holds ``spill_after`` bytes of keys and values, the older dict is
    written to the file in one SQLite transaction, in key order (the B-tree's pages are
    touched in order), and the newer becomes the older. Readers on other threads
    (simulations) take the two dicts as one tuple, replaced whole, and the file under one
    lock: a key is in a dict or committed to the file at every moment.

    A move runs on the writing thread (about 5 µs per entry, 90–160 ms per move at a
    20 000-block chain; one move per ~1 100–1 700 empty blocks): a thread of its own would
    fight the GIL for every row SQLite writes. If the file cannot be written (a full disk), the dicts are
    kept, moving stops and the store is plain memory from then on (logged once).
    ``spill_after=0`` never moves anything: everything stays in RAM, no file is created.
    """

    def __init__(self, spill_after: int = SPILL_AFTER_BYTES) -> None:
        self.spill_after = spill_after
        self._tiers: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
        self._young_bytes = 0
        self._cold: sqlite3.Connection | None = None
        self._cold_cache: dict[bytes, bytes] = {}
        self._cold_lock = threading.Lock()  # the SQLite connection and the read cache
        # Writes come from the chain's writer and, for the pool journal, the event loop.
        self._write_lock = threading.Lock()
        self.spills = 0  # moves done (for tests and figures)

    # -- reads ------------------------------------------------------------------------------

    def __getitem__(self, key: bytes) -> bytes:
        young, old = self._tiers
        try:
            return young[key]
        except KeyError:
            pass
        value = old.get(key)
        if value is None:
            if self._cold is None:
                raise KeyError(key)
            value = self._cold_get(key)
            if value is None:
                raise KeyError(key)
        return value

    def _exists(self, key: bytes) -> bool:
        young, old = self._tiers
        if key in young or key in old:
            return True
        return self._cold is not None and self._cold_get(key) is not None

    def _cold_get(self, key: bytes) -> bytes | None:
        with self._cold_lock:
            cache = self._cold_cache
            value = cache.pop(key, None)
            if value is not None:
                cache[key] = value  # the most recently used last: the oldest go first
                return value
            cold = self._cold
            if cold is None:  # cleared meanwhile
                return None
            row = cold.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
            if row is None:
                return None
            value = bytes(row[0])
            if len(cache) >= COLD_READ_CACHE:
                del cache[next(iter(cache))]
            cache[key] = value
            return value

    def items(self, prefix: bytes = b"") -> list[tuple[bytes, bytes]]:
        """Every (key, value) whose key starts with ``prefix``, newest values, sorted by key."""
        young, old = self._tiers
        merged: dict[bytes, bytes] = {}
        with self._cold_lock:
            if self._cold is not None:
                rows = self._cold.execute("SELECT k, v FROM kv WHERE k >= ?", (prefix,))
                for key, value in rows:
                    key = bytes(key)
                    if not key.startswith(prefix):
                        break
                    merged[key] = bytes(value)
        for tier in (old, young):
            for key, value in list(tier.items()):
                if key.startswith(prefix):
                    merged[key] = value
        return sorted(merged.items())

    def in_ram_bytes(self) -> int:
        """Bytes of keys and values held in the dicts (not counting Python's overhead)."""
        return sum(len(k) + len(v) for tier in self._tiers for k, v in list(tier.items()))

    # -- writes -----------------------------------------------------------------------------

    def __setitem__(self, key: bytes, value: bytes) -> None:
        with self._write_lock:
            self._tiers[0][key] = value
            self._young_bytes += len(key) + len(value)
            if self.spill_after and self._young_bytes >= self.spill_after:
                self._rotate()

    def __delitem__(self, key: bytes) -> None:
        with self._write_lock:
            young, old = self._tiers
            found = young.pop(key, None) is not None
            found = old.pop(key, None) is not None or found
            if self._cold is not None:
                with self._cold_lock:
                    self._cold_cache.pop(key, None)
                    if self._cold is not None:
                        cursor = self._cold.execute("DELETE FROM kv WHERE k = ?", (key,))
                        found = cursor.rowcount > 0 or found
            if not found:
                raise KeyError(key)

    def _rotate(self) -> None:
        """Called with the write lock held, when the newer dict is full."""
        young, old = self._tiers
        self._young_bytes = 0
        if old:
            try:
                self._write_cold(old)
            except (sqlite3.Error, OSError) as exc:  # a full or unwritable disk
                log.warning(
                    "in-memory chain: cannot move older data to a temporary file (%s); "
                    "keeping everything in RAM from now on",
                    exc,
                )
                self.spill_after = 0
                self._tiers = ({**old, **young}, {})
                return
            self.spills += 1
        self._tiers = ({}, young)

    def _write_cold(self, entries: dict[bytes, bytes]) -> None:
        items = sorted(entries.items())
        with self._cold_lock:
            if self._cold is None:
                self._cold = open_cold_store()
            cold = self._cold
            cold.execute("BEGIN")
            try:
                cold.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", items)
            except BaseException:
                cold.execute("ROLLBACK")
                raise
            cold.execute("COMMIT")
            cache = self._cold_cache
            if cache:
                for key, _ in items:
                    cache.pop(key, None)

    def clear(self) -> None:
        with self._write_lock, self._cold_lock:
            self._tiers = ({}, {})
            self._young_bytes = 0
            self._cold_cache.clear()
            if self._cold is not None:
                self._cold.execute("DELETE FROM kv")

    def close(self) -> None:
        with self._cold_lock:
            if self._cold is not None:
                self._cold.close()
                self._cold = None


def open_cold_store() -> sqlite3.Connection:
    """A private temporary SQLite database (SQLite names, opens and unlinks the file)."""
    cold = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    cold.execute("PRAGMA journal_mode = OFF")
    cold.execute("PRAGMA synchronous = OFF")
    cold.execute(f"PRAGMA cache_size = -{COLD_PAGE_CACHE_KIB}")
    cold.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
    return cold


class MemoryDatabase(AtomicDB):
    """The in-memory chain: py-evm's atomic database over a ``SpillingMemoryDB``; a block
    transaction needs nothing more."""

    wrapped_db: SpillingMemoryDB

    def __init__(self, spill_after: int = SPILL_AFTER_BYTES) -> None:
        super().__init__(SpillingMemoryDB(spill_after))

    @contextmanager
    def block_transaction(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        self.wrapped_db.close()

    def clear(self) -> None:
        self.wrapped_db.clear()


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


def open_database(
    data_dir: str | Path | None, spill_after: int = SPILL_AFTER_BYTES
) -> MemoryDatabase | LMDBDatabase:
    if data_dir is None:
        return MemoryDatabase(spill_after)
    return LMDBDatabase(data_dir)


def prefixed_items(db, prefix: bytes) -> list[tuple[bytes, bytes]]:
    """Keys under a prefix, for either backend (the memory one is scanned)."""
    if isinstance(db, LMDBDatabase):
        return db.prefixed_items(prefix)
    return db.wrapped_db.items(prefix)


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
