"""Where the chain lives: in memory (the default) or in an LMDB file (``--data-dir``).

Both speak py-evm's atomic database API. ``block_transaction()`` groups every write a block
makes — state, header, body, receipts, our own indexes — into ONE commit, so a crash
leaves either the whole block or none of it. LMDB commits are durable (fsync) when they
return, so a block whose receipt a client has seen survives ``kill -9``.

The in-memory chain keeps every block and every state (an archive, as anvil's), but not all
of it in RAM: recent writes stay in two dicts, and once the newer one holds ``spill_after``
bytes it moves, on a thread of its own, to a private temporary SQLite file (unlinked as soon
as it is open, so nothing is left behind even after ``kill -9``). What a long-running devnet
keeps in RAM is bounded; what it keeps on disk grows about 4.6 KB per empty block (the system
contracts' storage-trie nodes and the header). Anvil does the same with its states: the newest
in memory, older ones in a temporary directory.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
import tempfile
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
# newer dict holds this much, it starts moving to the temporary SQLite file (so RAM holds
# about twice this, plus Python's per-object overhead: ~30 MB; about 1 700 empty blocks each).
SPILL_AFTER_BYTES = 8 << 20
# Values read back from the SQLite file, kept for the next read (entries, least recently used
# dropped first).
COLD_READ_CACHE = 4096
# SQLite's own page cache for the file, in KiB per connection (negative cache_size: KiB).
COLD_PAGE_CACHE_KIB = 2048
# The file's write-ahead log is checkpointed and truncated after every move: its size on disk
# is at most one move's pages.
COLD_FILE_NAME = "cold.sqlite"
# Rows per statement of a move: its buffers (the packed rows, SQLite's copy of them, its
# sort) stay near 150 KB instead of one move's 8 MiB, which the allocator would keep (RSS at
# a 40 000-block chain: 112 MB, not 140; the synchronous move's store: 102).
MOVE_CHUNK_ROWS = 512
# One move's rows as ONE statement, so that SQLite runs all of it without Python (and without
# the GIL): ?1 is the keys and values back to back, ?2 a JSON array of their lengths
# (key, value, key, value, ...); each row's start is the running sum of the lengths before it.
MOVE_SQL = """
INSERT OR REPLACE INTO kv (k, v)
SELECT substr(?1, start, klen), substr(?1, start + klen, vlen) FROM (
    SELECT klen, vlen, 1 + coalesce(sum(klen + vlen) OVER (
        ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS start
    FROM (
        SELECT j.key / 2 AS i, j.key % 2 AS odd, j.value AS klen,
            lead(j.value) OVER (ORDER BY j.key) AS vlen
        FROM json_each(?2) AS j
    )
    WHERE odd = 0
) ORDER BY 1
"""


class SpillingMemoryDB(BaseDB):
    """A key-value store in RAM whose older writes move to a temporary SQLite file.

    Two dicts, newer first, then the file, read through a small cache of values read from
    it: the newest write of a key always wins, and nothing is ever dropped. Writes go to the
    newer dict; once it holds ``spill_after`` bytes of keys and values, it becomes the older
    dict (the previous older one is dropped: it is in the file by then) and a thread of its
    own writes it to the file. Readers (the chain's writer, simulations) take the two dicts as
    one tuple, replaced whole, and the file through a second connection: a key is in a dict or
    committed to the file at every moment, and a read never waits for a move.

    A move is a few SQLite statements (``MOVE_SQL``, ``MOVE_CHUNK_ROWS`` rows each) in one
    transaction: the writing thread only joins keys and values into bytes objects and their
    lengths into JSON arrays (about 15 ms for 8 MiB, where inserting them took 150 ms);
    SQLite inserts the rows in key order with the GIL released, on the other core. The file is in WAL mode, so that the reading
    connection never waits for the writing one. The next move waits for the one before (RAM
    stays bounded). If the file cannot be written (a full disk), that move is rolled back,
    its dict kept, moving stops and the store is plain memory from then on (logged once).
    ``spill_after=0`` never moves anything: everything stays in RAM, no file is created.
    """

    def __init__(self, spill_after: int = SPILL_AFTER_BYTES) -> None:
        self.spill_after = spill_after
        self._tiers: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
        self._young_bytes = 0
        self._cold: sqlite3.Connection | None = None  # reads
        self._cold_writer: sqlite3.Connection | None = None  # moves and deletes
        self._cold_cache: dict[bytes, bytes] = {}
        self._cold_lock = threading.Lock()  # the reading connection and the read cache
        # Writes come from the chain's writer and, for the pool journal, the event loop.
        self._write_lock = threading.Lock()
        # Keys deleted since the last move finished: the file may hold them (or be about to:
        # the move under way may carry them); reads skip them there, and the next
        # _finish_move deletes them from the file.
        self._deleted: set[bytes] = set()
        self._mover: threading.Thread | None = None
        self._move_error: BaseException | None = None
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
            if self._cold is None or key in self._deleted:
                raise KeyError(key)
            value = self._cold_get(key)
            if value is None:
                raise KeyError(key)
        return value

    def _exists(self, key: bytes) -> bool:
        young, old = self._tiers
        if key in young or key in old:
            return True
        return (
            self._cold is not None and key not in self._deleted and self._cold_get(key) is not None
        )

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
                deleted = self._deleted
                for key, value in rows:
                    key = bytes(key)
                    if not key.startswith(prefix):
                        break
                    if key not in deleted:
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
            if self._deleted:
                self._deleted.discard(key)
            self._young_bytes += len(key) + len(value)
            if self.spill_after and self._young_bytes >= self.spill_after:
                self._rotate()

    def __delitem__(self, key: bytes) -> None:
        """Deletes never wait for a move: the file's copy is skipped by reads until the move
        under way has finished, then deleted (``_finish_move``)."""
        with self._write_lock:
            young, old = self._tiers
            found = young.pop(key, None) is not None
            found = old.pop(key, None) is not None or found
            if self._cold is not None and key not in self._deleted:
                found = found or self._cold_get(key) is not None
                self._deleted.add(key)
                with self._cold_lock:
                    self._cold_cache.pop(key, None)
            if not found:
                raise KeyError(key)

    def _rotate(self) -> None:
        """Called with the write lock held, when the newer dict is full: the older one is in
        the file by now (its move is waited for), the newer starts moving."""
        self._finish_move()
        if not self.spill_after:  # the move before failed: plain memory from now on
            return
        young, _ = self._tiers
        self._young_bytes = 0
        if self._cold_writer is None:
            try:
                self._cold, self._cold_writer = open_cold_store()
            except (sqlite3.Error, OSError) as exc:  # a full or unwritable disk
                self._stop_moving(exc)
                return
        chunks = pack(young)
        self._tiers = ({}, young)
        self._mover = threading.Thread(target=self._move, args=(chunks,), name="spill", daemon=True)
        self._mover.start()

    def _move(self, chunks: list[tuple[bytes, str]]) -> None:
        try:
            write_cold(self._cold_writer, chunks)
        except BaseException as exc:  # reported by _finish_move, on the writing thread
            self._move_error = exc
        else:
            self.spills += 1

    def _finish_move(self) -> None:
        """Wait for the move under way, if any (write lock held). Cached reads of the keys it
        wrote are dropped (the file has their newest values now), and the keys deleted
        meanwhile are deleted from the file. A failed move keeps its dict in RAM, and moving
        stops."""
        mover, self._mover = self._mover, None
        if mover is None:
            return
        mover.join()
        moved = self._tiers[1]
        error, self._move_error = self._move_error, None
        if error is not None:
            self._stop_moving(error)
            return
        deleted = self._deleted
        if deleted:
            try:
                delete_cold(self._cold_writer, deleted)
            except (sqlite3.Error, OSError) as exc:  # kept in _deleted: reads still skip them
                self._stop_moving(exc)
                return
            self._deleted = set()
        with self._cold_lock:
            cache = self._cold_cache
            for key in [k for k in cache if k in moved or k in deleted]:
                del cache[key]

    def _stop_moving(self, exc: BaseException) -> None:
        log.warning(
            "in-memory chain: cannot move older data to a temporary file (%s); "
            "keeping everything in RAM from now on",
            exc,
        )
        self.spill_after = 0
        young, old = self._tiers
        self._tiers = ({**old, **young}, {})

    def clear(self) -> None:
        with self._write_lock:
            self._finish_move()
            with self._cold_lock:
                self._tiers = ({}, {})
                self._young_bytes = 0
                self._deleted = set()
                self._cold_cache.clear()
                if self._cold_writer is not None:
                    self._cold_writer.execute("DELETE FROM kv")

    def close(self) -> None:
        with self._write_lock:
            self._finish_move()
            with self._cold_lock:
                for connection in (self._cold, self._cold_writer):
                    if connection is not None:
                        connection.close()
                self._cold = self._cold_writer = None


def pack(entries: dict[bytes, bytes]) -> list[tuple[bytes, str]]:
    """``MOVE_SQL``'s parameters for ``entries``, ``MOVE_CHUNK_ROWS`` rows a statement: keys
    and values back to back, and the JSON array of their lengths."""
    keys = list(entries)
    values = list(entries.values())
    chunks = []
    for start in range(0, len(keys), MOVE_CHUNK_ROWS):
        some_keys = keys[start : start + MOVE_CHUNK_ROWS]
        some_values = values[start : start + MOVE_CHUNK_ROWS]
        data = b"".join(itertools.chain.from_iterable(zip(some_keys, some_values, strict=True)))
        lengths = zip(map(len, some_keys), map(len, some_values), strict=True)
        chunks.append((data, json.dumps(list(itertools.chain.from_iterable(lengths)))))
    return chunks


def write_cold(writer: sqlite3.Connection, chunks: list[tuple[bytes, str]]) -> None:
    """One move (``MOVE_SQL`` for each chunk) in one transaction, then the log folded into
    the file and truncated."""
    writer.execute("BEGIN")
    try:
        for data, lengths in chunks:
            writer.execute(MOVE_SQL, (data, lengths))
    except BaseException:
        writer.execute("ROLLBACK")
        raise
    writer.execute("COMMIT")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def delete_cold(writer: sqlite3.Connection, keys: set[bytes]) -> None:
    """Delete ``keys`` from the file, in one transaction."""
    writer.execute("BEGIN")
    try:
        writer.executemany("DELETE FROM kv WHERE k = ?", [(key,) for key in keys])
    except BaseException:
        writer.execute("ROLLBACK")
        raise
    writer.execute("COMMIT")


def open_cold_store() -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """A private temporary SQLite database: (reading, writing) connections.

    The file and its WAL files live in a directory of their own (mode 0700, in
    ``SQLITE_TMPDIR`` or the system's temporary directory); once both connections have all
    three open, they are unlinked and the directory removed, so nothing is left behind,
    even after ``kill -9`` (but in the few milliseconds this function runs)."""
    directory = tempfile.mkdtemp(
        prefix="native-devnet-chain-", dir=os.environ.get("SQLITE_TMPDIR") or None
    )
    connections: list[sqlite3.Connection] = []
    try:
        path = os.path.join(directory, COLD_FILE_NAME)
        writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connections.append(writer)
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA synchronous = OFF")
        writer.execute(f"PRAGMA cache_size = -{COLD_PAGE_CACHE_KIB}")
        writer.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connections.append(reader)
        reader.execute(f"PRAGMA cache_size = -{COLD_PAGE_CACHE_KIB}")
        reader.execute("SELECT count(*) FROM kv").fetchone()  # opens the WAL files too
    except BaseException:
        for connection in connections:
            connection.close()
        raise
    finally:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    return reader, writer


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
