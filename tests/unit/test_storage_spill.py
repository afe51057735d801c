"""``node.storage.SpillingMemoryDB``: the in-memory chain's store, whose older writes move to a
private temporary SQLite file so that RAM stays bounded on a long-running chain.

- Against a plain dict under random sets, overwrites, deletes, reads, existence checks and
  prefix listings, with a spill threshold small enough that most keys have moved to the
  file: the same answers at every step (newest write wins, deletes reach the file).
- RAM holds at most about twice the threshold, however much is written.
- A chain on a store that spills every few blocks and one that never spills give the same
  blocks, state roots, receipts, balances at old blocks, proofs, witnesses, state dumps and
  rewinds.
- Readers on another thread never miss a key while moves happen.
- A file that cannot be written (full disk) keeps everything in RAM, loses nothing.
- The file is unlinked as soon as it is created: nothing is left in the temporary
  directory, even by a process killed with SIGKILL.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import node.storage as storage
from node.chain import Chain
from node.statefile import dump_state
from node.storage import MemoryDatabase, SpillingMemoryDB, prefixed_items

ROOT = Path(__file__).resolve().parents[2]


def check_same(db: SpillingMemoryDB, model: dict[bytes, bytes], universe: list[bytes]) -> None:
    for key in universe:
        if key in model:
            assert db[key] == model[key]
            assert key in db
        else:
            with pytest.raises(KeyError):
                db[key]
            assert key not in db
    for prefix in (b"", b"a", b"b\x00", b"zz"):
        expected = sorted((k, v) for k, v in model.items() if k.startswith(prefix))
        assert db.items(prefix) == expected


@pytest.mark.parametrize("seed", range(6))
def test_matches_a_dict_under_random_operations(seed):
    rng = random.Random(seed)
    # Keys of several shapes: hashes, short prefixed keys (py-evm's lookups), empty values too.
    universe = [rng.randbytes(32) for _ in range(60)]
    universe += [b"a" + rng.randbytes(rng.randrange(0, 6)) for _ in range(30)]
    universe += [b"b\x00" + bytes([i]) for i in range(20)]
    db = SpillingMemoryDB(spill_after=400)
    model: dict[bytes, bytes] = {}
    for step in range(1500):
        key = rng.choice(universe)
        roll = rng.random()
        if roll < 0.6:
            value = rng.randbytes(rng.choice((0, 1, 7, 40, 120)))
            db[key] = value
            model[key] = value
        elif roll < 0.8:
            if key in model:
                del db[key]
                del model[key]
            else:
                with pytest.raises(KeyError):
                    del db[key]
        else:
            assert (db[key] if key in model else None) == model.get(key)
        if step % 100 == 99:
            check_same(db, model, universe)
    check_same(db, model, universe)
    assert db.spills > 20, "the threshold is tiny: most keys went through the file"
    db.clear()
    check_same(db, {}, universe)
    db.close()


def test_ram_stays_bounded():
    db = SpillingMemoryDB(spill_after=10_000)
    rng = random.Random(1)
    written = {}
    for _ in range(5_000):
        key, value = rng.randbytes(32), rng.randbytes(100)
        db[key] = value
        written[key] = value
        assert db.in_ram_bytes() <= 2 * 10_000 + 132
    assert db.spills >= 30
    assert all(db[k] == v for k, v in written.items())
    db.close()


def test_never_spilling_below_the_threshold():
    db = SpillingMemoryDB(spill_after=1 << 20)
    for i in range(1000):
        db[i.to_bytes(4, "big")] = b"x" * 100
    assert db.spills == 0 and db._cold is None  # no file was ever opened


def build_chain(genesis, dev_accounts, txs, spill_after: int) -> tuple[Chain, list]:
    chain = Chain(genesis, MemoryDatabase(spill_after))
    keys = [a.private_key for a in dev_accounts[:3]]
    recipients = [bytes([0x70 + i]) * 20 for i in range(3)]
    blocks = []
    for n in range(24):
        batch = []
        if n % 3 != 2:  # every third block is empty
            batch = [
                txs.dynamic(keys[i], n - n // 3, to=recipients[i], value=n + 1) for i in range(3)
            ]
        built = chain.build_block(batch, timestamp=genesis.timestamp + 12 * (n + 1))
        assert not built.skipped
        blocks.append(built.block)
    chain.edit_head_state(lambda state: state.set_storage(recipients[0], 9, 0xC0FFEE))
    return chain, blocks


def chain_view(chain: Chain, blocks) -> dict:
    recipients = [bytes([0x70 + i]) * 20 for i in range(3)]
    return {
        "head": chain.head,
        "roots": [chain.state_root_after(b.header) for b in blocks],
        "receipts": [
            [(r.transaction_hash, r.gas_used, r.status) for r in chain.receipts_of(b.header)]
            for b in blocks
        ],
        "old balances": [[chain.balance(r, b.header) for r in recipients] for b in blocks],
        "headers": [chain.header_by_number(n) for n in range(1, len(blocks) + 1)],
        "proof": chain.proof(recipients[0], [9], chain.head),
        "old proof": chain.proof(recipients[1], [], blocks[3].header),
        "witnesses": [chain.execution_witness(b.hash) for b in blocks[-3:]],
    }


def test_a_spilling_chain_equals_one_in_ram(genesis, dev_accounts, txs):
    spilling, blocks = build_chain(genesis, dev_accounts, txs, spill_after=4_096)
    in_ram, same_blocks = build_chain(genesis, dev_accounts, txs, spill_after=1 << 30)
    assert spilling.db.wrapped_db.spills > 10
    assert in_ram.db.wrapped_db.spills == 0
    assert [b.hash for b in blocks] == [b.hash for b in same_blocks]
    assert chain_view(spilling, blocks) == chain_view(in_ram, same_blocks)
    assert dump_state(spilling) == dump_state(in_ram)
    assert prefixed_items(spilling.db, b"") == prefixed_items(in_ram.db, b"")

    # Rewinding deletes canonical keys that have long moved to the file.
    spilling.rewind_to(blocks[5].header)
    in_ram.rewind_to(same_blocks[5].header)
    assert spilling.head == in_ram.head == blocks[5].header
    assert prefixed_items(spilling.db, b"") == prefixed_items(in_ram.db, b"")
    spilling.db.close()
    in_ram.db.close()


def test_readers_on_another_thread_never_miss_a_key():
    db = SpillingMemoryDB(spill_after=2_000)
    rng = random.Random(7)
    known = {rng.randbytes(32): rng.randbytes(50) for _ in range(300)}
    for key, value in known.items():
        db[key] = value
    stop = threading.Event()
    errors: list[str] = []

    def read() -> None:
        keys = list(known)
        while not stop.is_set():
            key = rng.choice(keys)
            try:
                if db[key] != known[key]:
                    errors.append("wrong value")
            except KeyError:
                errors.append("missing key")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20_000):
            db[i.to_bytes(8, "big")] = b"v" * 60
    finally:
        stop.set()
        reader.join()
    assert db.spills > 100
    assert errors == []
    db.close()


def test_a_file_that_cannot_be_written_keeps_everything_in_ram(monkeypatch, caplog):
    def full_disk() -> sqlite3.Connection:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(storage, "open_cold_store", full_disk)
    db = SpillingMemoryDB(spill_after=1_000)
    written = {}
    with caplog.at_level(logging.WARNING, logger="native_devnet.storage"):
        for i in range(500):
            key = i.to_bytes(4, "big")
            written[key] = bytes([i % 256]) * 30
            db[key] = written[key]
    assert all(db[k] == v for k, v in written.items())
    assert db.items() == sorted(written.items())
    assert db.spill_after == 0 and db.spills == 0
    warnings = [r for r in caplog.records if "cannot move older data" in r.getMessage()]
    assert len(warnings) == 1 and "disk is full" in warnings[0].getMessage()


def test_a_move_that_fills_the_disk_is_rolled_back_and_kept_in_ram(monkeypatch, caplog):
    """SQLite's own "database or disk is full" in the middle of a move (the file may not grow
    past a few pages): that move is rolled back, its keys stay in RAM, the keys moved before
    stay readable in the file, and nothing moves again."""
    real_open = storage.open_cold_store

    def small_disk():
        reader, writer = real_open()
        writer.execute("PRAGMA max_page_count = 40")
        return reader, writer

    monkeypatch.setattr(storage, "open_cold_store", small_disk)
    db = SpillingMemoryDB(spill_after=20_000)
    rng = random.Random(3)
    written = {}
    with caplog.at_level(logging.WARNING, logger="native_devnet.storage"):
        for _ in range(3_000):
            key, value = rng.randbytes(32), rng.randbytes(150)
            written[key] = value
            db[key] = value
    assert db.spills >= 2 and db.spill_after == 0  # some moves landed, then one failed
    in_file = db._cold.execute("SELECT count(*) FROM kv").fetchone()[0]
    assert 0 < in_file < len(written)
    assert all(db[k] == v for k, v in written.items())
    assert db.items() == sorted(written.items())
    warnings = [r for r in caplog.records if "cannot move older data" in r.getMessage()]
    assert len(warnings) == 1 and "full" in warnings[0].getMessage()
    db.close()


def test_reads_do_not_wait_for_a_move(monkeypatch):
    """A move in progress runs a statement on the file's writing connection; reads of keys
    already in the file go through the other one and are answered meanwhile."""
    db = SpillingMemoryDB(spill_after=4_000)
    rng = random.Random(5)
    early = {rng.randbytes(32): rng.randbytes(100) for _ in range(200)}
    for key, value in early.items():
        db[key] = value
    assert db.spills >= 2
    started, release = threading.Event(), threading.Event()
    real_write = storage.write_cold

    def held_write(writer, chunks):
        # A statement of the writing connection runs until released, as a long move would.
        writer.create_function("held", 0, lambda: started.set() or release.wait(30))
        writer.execute("SELECT held()").fetchone()
        real_write(writer, chunks)

    monkeypatch.setattr(storage, "write_cold", held_write)
    written = dict(early)
    while True:  # until the newer dict is full: the next move starts, and is held
        filled = db._young_bytes
        key, value = rng.randbytes(32), rng.randbytes(100)
        db[key] = written[key] = value
        if db._young_bytes < filled:
            break
    assert started.wait(30)
    answers: list[bool] = []
    in_file, moving = next(iter(early)), next(iter(db._tiers[1]))
    gone = {in_file, moving}

    def read_and_delete() -> None:
        answers.extend(db[k] == v for k, v in early.items())
        for key in gone:
            del db[key]
            del written[key]

    reader = threading.Thread(target=read_and_delete)
    reader.start()
    reader.join(5)
    try:
        assert not reader.is_alive(), "a read or a delete waited for the move"
        assert answers == [True] * len(early)
    finally:
        release.set()
        reader.join()
    db[b"after"] = written[b"after"] = b"x" * 5_000  # the next move waits for the held one
    assert db.spills >= 3
    assert all(db[k] == v for k, v in written.items())
    for key in gone:  # the held move carried one of them to the file: deleted there after it
        assert key not in db
        with pytest.raises(KeyError):
            db[key]
    assert db.items() == sorted(written.items())
    assert (
        db._cold.execute("SELECT count(*) FROM kv WHERE k IN (?, ?)", tuple(gone)).fetchone()[0]
        == 0
    )
    db.close()


SPILLER = textwrap.dedent(
    """
    import os, sys
    from node.storage import SpillingMemoryDB
    db = SpillingMemoryDB(spill_after=64 * 1024)
    for i in range(40_000):
        db[os.urandom(32)] = os.urandom(300)
    assert db.spills > 10 and db._cold is not None
    print("spilled", flush=True)
    sys.stdin.read()  # wait to be killed
    """
)


def test_the_file_is_unlinked_at_once_even_under_sigkill(tmp_path):
    env = dict(os.environ, SQLITE_TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", SPILLER],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "spilled"
        fds = [
            os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")
        ]
        open_files = [f for f in fds if f.startswith(str(tmp_path))]
        # The process holds the file open (the data is there) but no name points to it.
        assert open_files and all(f.endswith("(deleted)") for f in open_files)
        assert list(tmp_path.iterdir()) == []
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert list(tmp_path.iterdir()) == []
