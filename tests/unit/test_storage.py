"""``node.storage``: the LMDB database behind ``--data-dir``, and a chain kept in it.

- ``LMDBDatabase`` is a key/value store with py-evm's API: get/set/delete/exists, KeyError
  for missing keys, empty values, reopen keeps everything.
- ``atomic_batch`` commits everything or nothing; ``block_transaction`` collects every write
  (batches included) in an overlay its readers see, and lands it in ONE LMDB commit when it
  ends; an exception inside, or a process killed inside, leaves nothing on disk.
- ``prefixed_items`` lists the keys under a prefix in order (both backends); ``clear``
  empties the database; ``PoolJournal`` keeps pending transactions across reopen.
- ``Chain`` on LMDB: blocks built, state edited, the database closed and reopened: same
  head, state, receipts, witnesses, post-state roots and proofs; one commit per block; a
  rewind survives reopen; another chain id or genesis is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from eth.db.schema import SchemaV1

from node.chain import Chain
from node.genesis import GenesisAccount, GenesisError
from node.statefile import dump_state
from node.storage import (
    LMDB_FILE,
    LMDBDatabase,
    MemoryDatabase,
    PoolJournal,
    open_database,
    prefixed_items,
)
from tests.unit.conftest import with_alloc

ROOT = Path(__file__).resolve().parents[2]


def last_txnid(db: LMDBDatabase) -> int:
    """The id of LMDB's last committed write transaction: one more per commit."""
    return db.env.info()["last_txnid"]


def committed(db: LMDBDatabase, key: bytes) -> bytes | None:
    """What LMDB itself holds for ``key`` (no overlay)."""
    with db.env.begin() as txn:
        return txn.get(key)


@pytest.fixture
def db_dir(tmp_path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def db(db_dir):
    database = LMDBDatabase(db_dir)
    yield database
    try:
        database.close()
    except Exception:  # already closed by the test
        pass


def reopen(db: LMDBDatabase) -> LMDBDatabase:
    directory = db.directory
    db.close()
    return LMDBDatabase(directory)


# --------------------------------------------------------------------------- basics


def test_basics(db, db_dir):
    assert (db_dir / LMDB_FILE).is_file()
    with pytest.raises(KeyError):
        db[b"missing"]
    assert db.get(b"missing") is None
    assert b"missing" not in db
    assert db.exists(b"missing") is False

    db[b"k1"] = b"v1"
    db.set(b"k2", b"v2")
    db[b"empty"] = b""
    db[b"\x00\xff binary"] = bytes(range(256))
    big = os.urandom(1 << 20)
    db[b"big"] = big
    assert db[b"k1"] == b"v1"
    assert db.get(b"k2") == b"v2"
    assert db[b"empty"] == b""
    assert b"empty" in db and db.exists(b"empty")
    assert db[b"\x00\xff binary"] == bytes(range(256))
    assert db[b"big"] == big

    db[b"k1"] = b"overwritten"
    assert db[b"k1"] == b"overwritten"
    del db[b"k2"]
    assert b"k2" not in db
    with pytest.raises(KeyError):
        db[b"k2"]
    with pytest.raises(KeyError):
        del db[b"k2"]
    db.delete(b"k2")  # py-evm's delete ignores a missing key

    again = reopen(db)
    try:
        assert again[b"k1"] == b"overwritten"
        assert again[b"empty"] == b""
        assert again[b"big"] == big
        assert b"k2" not in again
    finally:
        again.close()


def test_open_database_picks_the_backend(tmp_path):
    assert isinstance(open_database(None), MemoryDatabase)
    lmdb_db = open_database(tmp_path / "x")
    try:
        assert isinstance(lmdb_db, LMDBDatabase)
        assert (tmp_path / "x" / LMDB_FILE).is_file()
    finally:
        lmdb_db.close()


def test_each_plain_write_is_its_own_commit(db):
    start = last_txnid(db)
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    del db[b"a"]
    assert last_txnid(db) == start + 3
    assert committed(db, b"b") == b"2"
    assert committed(db, b"a") is None


# --------------------------------------------------------------------------- atomic batches


def test_atomic_batch_commits_once(db):
    db[b"gone"] = b"x"
    start = last_txnid(db)
    with db.atomic_batch() as batch:
        for i in range(50):
            batch[b"key%d" % i] = b"value%d" % i
        del batch[b"gone"]
        assert batch[b"key7"] == b"value7"
        assert b"gone" not in batch
        assert committed(db, b"key7") is None  # nothing on disk before the batch ends
    assert last_txnid(db) == start + 1
    assert db[b"key49"] == b"value49"
    assert b"gone" not in db
    again = reopen(db)
    try:
        assert [again[b"key%d" % i] for i in range(50)] == [b"value%d" % i for i in range(50)]
        assert b"gone" not in again
    finally:
        again.close()


def test_atomic_batch_rolls_back_on_exception(db):
    db[b"kept"] = b"old"
    start = last_txnid(db)
    with pytest.raises(RuntimeError, match="boom"), db.atomic_batch() as batch:
        batch[b"new"] = b"1"
        batch[b"kept"] = b"new"
        del batch[b"kept"]
        raise RuntimeError("boom")
    assert last_txnid(db) == start
    assert b"new" not in db
    assert db[b"kept"] == b"old"
    again = reopen(db)
    try:
        assert b"new" not in again
        assert again[b"kept"] == b"old"
    finally:
        again.close()


# --------------------------------------------------------------------------- block transactions


def test_block_transaction_is_one_commit_visible_inside(db):
    db[b"old"] = b"x"
    start = last_txnid(db)
    with db.block_transaction():
        db[b"a"] = b"1"
        with db.atomic_batch() as batch:  # py-evm's batches join the block
            batch[b"b"] = b"2"
        with db.block_transaction():  # re-entrant: still the same commit
            db[b"c"] = b"3"
        del db[b"old"]
        # Readers see the overlay at once; LMDB has nothing yet.
        assert (db[b"a"], db[b"b"], db[b"c"]) == (b"1", b"2", b"3")
        assert b"old" not in db
        assert committed(db, b"a") is None
        assert committed(db, b"old") == b"x"
        assert last_txnid(db) == start
    assert last_txnid(db) == start + 1
    assert [committed(db, k) for k in (b"a", b"b", b"c", b"old")] == [b"1", b"2", b"3", None]


def test_block_transaction_raising_writes_nothing(db):
    db[b"kept"] = b"old"
    start = last_txnid(db)
    with pytest.raises(ValueError, match="bad block"), db.block_transaction():
        db[b"a"] = b"1"
        db[b"kept"] = b"new"
        with db.atomic_batch() as batch:  # committed into the overlay, then dropped
            batch[b"b"] = b"2"
        raise ValueError("bad block")
    assert last_txnid(db) == start
    assert b"a" not in db and b"b" not in db
    assert db[b"kept"] == b"old"
    again = reopen(db)
    try:
        assert b"a" not in again
        assert b"b" not in again
        assert again[b"kept"] == b"old"
        # and the database still works
        with again.block_transaction():
            again[b"a"] = b"after"
        assert again[b"a"] == b"after"
    finally:
        again.close()


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {root!r})
from node.storage import LMDBDatabase
db = LMDBDatabase({directory!r})
db[b"before"] = b"1"
with db.block_transaction():
    for i in range(1000):
        db[b"block%d" % i] = b"x" * 100
    {inside}
{after}
"""


def run_and_kill(directory: Path, inside: str, after: str) -> None:
    script = textwrap.dedent(KILL_SCRIPT).format(
        root=str(ROOT), directory=str(directory), inside=inside, after=after
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()


def test_process_killed_inside_a_block_transaction_leaves_nothing(db_dir):
    run_and_kill(db_dir, inside="os.kill(os.getpid(), signal.SIGKILL)", after="")
    db = LMDBDatabase(db_dir)
    try:
        assert db[b"before"] == b"1"
        assert [k for k, _ in db.prefixed_items(b"block")] == []
    finally:
        db.close()


def test_process_killed_after_a_block_transaction_keeps_all_of_it(db_dir):
    run_and_kill(db_dir, inside="pass", after="os.kill(os.getpid(), signal.SIGKILL)")
    db = LMDBDatabase(db_dir)
    try:
        assert len(db.prefixed_items(b"block")) == 1000
        assert db[b"block999"] == b"x" * 100
    finally:
        db.close()


# --------------------------------------------------------------------------- prefixes and clear


def fill(database) -> None:
    for key, value in [
        (b"a:2", b"2"),
        (b"a:1", b"1"),
        (b"a;", b"x"),
        (b"a", b"y"),
        (b"b:1", b"z"),
        (b"a:\xff", b"f"),
    ]:
        database[key] = value


def test_prefixed_items_both_backends(db):
    memory = MemoryDatabase()
    fill(db)
    fill(memory)
    for database in (db, memory):
        assert prefixed_items(database, b"a:") == [
            (b"a:1", b"1"),
            (b"a:2", b"2"),
            (b"a:\xff", b"f"),
        ]
        assert prefixed_items(database, b"b") == [(b"b:1", b"z")]
        assert prefixed_items(database, b"c") == []
        assert prefixed_items(database, b"") == sorted(prefixed_items(database, b""))
        assert len(prefixed_items(database, b"")) == 6
    assert db.prefixed_items(b"a:") == prefixed_items(db, b"a:")


def test_clear(db):
    fill(db)
    db.clear()
    assert db.prefixed_items(b"") == []
    assert b"a:1" not in db
    db[b"after"] = b"1"
    again = reopen(db)
    try:
        assert again.prefixed_items(b"") == [(b"after", b"1")]
    finally:
        again.close()

    memory = MemoryDatabase()
    fill(memory)
    memory.clear()
    assert prefixed_items(memory, b"") == []
    with memory.block_transaction():
        memory[b"k"] = b"v"
    assert memory[b"k"] == b"v"


def test_pool_journal_on_lmdb(db):
    journal = PoolJournal(db)
    journal.added(b"\x01" * 32, b"raw-1")
    journal.added(b"\x02" * 32, b"raw-2")
    journal.added(b"\x03" * 32, b"raw-3")
    journal.removed(b"\x02" * 32)
    journal.removed(b"\x09" * 32)  # unknown: nothing happens
    assert journal.saved() == [b"raw-1", b"raw-3"]
    again = reopen(db)
    try:
        assert PoolJournal(again).saved() == [b"raw-1", b"raw-3"]
    finally:
        again.close()

    memory = PoolJournal(MemoryDatabase())
    memory.added(b"\x01" * 32, b"raw-1")
    memory.removed(b"\x01" * 32)
    memory.removed(b"\x01" * 32)
    assert memory.saved() == []


# --------------------------------------------------------------------------- a chain on LMDB


def account_view(chain: Chain, addresses: list[bytes]) -> list[tuple[int, int, bytes]]:
    head = chain.head
    return [(chain.balance(a, head), chain.nonce(a, head), chain.code(a, head)) for a in addresses]


def test_chain_on_lmdb_reopens_with_everything(genesis, dev_accounts, txs, db_dir):
    keys = [a.private_key for a in dev_accounts[:3]]
    senders = [a.address for a in dev_accounts[:3]]
    recipients = [bytes([0x50 + i]) * 20 for i in range(3)]
    db = LMDBDatabase(db_dir)
    chain = Chain(genesis, db)
    assert chain.reopened is False
    blocks = []
    for n in range(3):
        txids = last_txnid(db)
        built = chain.build_block(
            [txs.dynamic(keys[i], n, to=recipients[i], value=1000 * (n + 1)) for i in range(3)],
            timestamp=genesis.timestamp + 12 * (n + 1),
        )
        assert len(built.receipts) == 3 and not built.skipped
        assert last_txnid(db) == txids + 1, "a block is exactly one LMDB commit"
        blocks.append(built.block)
    chain.edit_head_state(lambda state: state.set_storage(recipients[0], 7, 0xBEEF))
    head = chain.head
    assert head.block_number == 3
    watched = senders + recipients
    view = account_view(chain, watched)
    assert [v[0] for v in view[3:]] == [6000, 6000, 6000]
    witnesses = [chain.execution_witness(b.hash) for b in blocks]
    roots = [chain.state_root_after(b.header) for b in blocks]
    receipts = [
        [(r.transaction_hash, r.gas_used, r.status) for r in chain.receipts_of(b.header)]
        for b in blocks
    ]
    proof = chain.proof(recipients[0], [7], head)
    genesis_hash = chain.genesis_header.hash
    db.close()

    db = LMDBDatabase(db_dir)
    chain = Chain(genesis, db)
    try:
        assert chain.reopened is True
        assert chain.head == head
        assert chain.genesis_header.hash == genesis_hash
        assert account_view(chain, watched) == view
        assert chain.storage(recipients[0], 7, chain.head) == 0xBEEF
        assert [chain.execution_witness(b.hash) for b in blocks] == witnesses
        assert [chain.state_root_after(b.header) for b in blocks] == roots
        assert [
            [(r.transaction_hash, r.gas_used, r.status) for r in chain.receipts_of(b.header)]
            for b in blocks
        ] == receipts
        assert chain.proof(recipients[0], [7], chain.head) == proof
        for n, block in enumerate(blocks, start=1):
            assert chain.header_by_number(n) == block.header
            assert chain.block_by_header(block.header).transactions == block.transactions
        found = chain.find_transaction(receipts[1][2][0])
        assert (found.block_number, found.index) == (2, 2)
        # Past states are still readable.
        assert chain.balance(recipients[1], blocks[0].header) == 1000

        # The reopened chain builds on its head, on the edited state.
        built = chain.build_block(
            [txs.dynamic(keys[0], 3, to=recipients[0], value=1)],
            timestamp=genesis.timestamp + 100,
        )
        assert built.block.header.parent_hash == head.hash
        assert built.block.number == 4
        assert chain.storage(recipients[0], 7, chain.head) == 0xBEEF
        assert chain.balance(recipients[0], chain.head) == 6001
    finally:
        db.close()


def test_rewind_on_lmdb_survives_reopen(genesis, dev_accounts, txs, db_dir):
    key = dev_accounts[4].private_key
    to = b"\x61" * 20
    db = LMDBDatabase(db_dir)
    chain = Chain(genesis, db)
    transactions = [txs.dynamic(key, n, to=to, value=10) for n in range(3)]
    for n, tx in enumerate(transactions):
        chain.build_block([tx], timestamp=genesis.timestamp + 12 * (n + 1))
    first = chain.header_by_number(1)
    chain.rewind_to(first)
    assert chain.head == first
    db.close()

    db = LMDBDatabase(db_dir)
    chain = Chain(genesis, db)
    try:
        assert chain.head == first
        assert chain.balance(to, chain.head) == 10
        assert chain.find_transaction(transactions[0].hash).block_number == 1
        assert chain.find_transaction(transactions[1].hash) is None
        assert SchemaV1.make_block_number_to_hash_lookup_key(2) not in db
        built = chain.build_block([transactions[1]], timestamp=genesis.timestamp + 50)
        assert built.block.number == 2
        assert built.block.header.parent_hash == first.hash
        assert chain.find_transaction(transactions[1].hash).block_hash == built.block.hash
        assert chain.balance(to, chain.head) == 20
    finally:
        db.close()


def test_reopen_with_another_chain_refuses(genesis, db_dir):
    db = LMDBDatabase(db_dir)
    Chain(genesis, db)
    db.close()

    db = LMDBDatabase(db_dir)
    try:
        with pytest.raises(GenesisError, match="the stored chain has chain id 31337, not 7"):
            Chain(replace(genesis, chain_id=7), db)
        other = with_alloc(genesis, {b"\xab" * 20: GenesisAccount(balance=1)})
        with pytest.raises(GenesisError, match="the data directory holds a chain with genesis"):
            Chain(other, db)
        # A different genesis timestamp is fine: the stored one counts.
        reopened = Chain(replace(genesis, timestamp=genesis.timestamp + 999), db)
        assert reopened.reopened is True
    finally:
        db.close()


def test_dump_during_a_block_build_is_self_consistent(genesis, dev_accounts, txs, db_dir):
    key = dev_accounts[5].private_key
    db = LMDBDatabase(db_dir)
    chain = Chain(genesis, db)
    try:
        chain.build_block([txs.dynamic(key, 0)], timestamp=genesis.timestamp + 12)
        # The writer thread is inside a block's commit scope when a reader dumps.
        with db.block_transaction():
            chain.build_block([txs.dynamic(key, 1)], timestamp=genesis.timestamp + 24)
            doc = dump_state(chain)
        entries = dict(doc["entries"])
        canonical = "0x" + SchemaV1.make_canonical_head_hash_lookup_key().hex()
        assert entries[canonical] == doc["head"]["hash"]
    finally:
        db.close()
