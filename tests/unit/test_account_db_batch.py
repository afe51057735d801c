"""The batched state root (``node.fork.account_db.BatchAccountDB``) against py-evm's
``AccountDB``: the same random transaction streams built on two in-process L2 chains, one
with each, give identical block hashes, state roots and receipts; every block built with the
batch verifies statelessly from its recorded witness (EXECUTE's ``verify``), under the batch
and under stock py-evm's account database.

The streams mix transfers (to fresh and known addresses, zero values included), deployments
of a storage writer (its constructor writes a slot), calls writing random slots (a third of
them back to zero, deleting the slot and collapsing storage-trie branches), and contracts
that write storage and self-destruct in their creating transaction. ``ACCOUNT_DB_STREAMS``
sets how many seeds run.
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager

import pytest
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth_hash.auto import keccak

from devtools.l2_blocks import L2_VM, L2Builder, contract_address
from node.fork.account_db import BatchAccountDB, BatchStorageLookup
from node.fork.state import DevnetPragueState
from node.trie_batch import NodeStore, cache_for, reachable_nodes
from precompiles.execute import verify

STREAMS = int(os.environ.get("ACCOUNT_DB_STREAMS", "4"))
BLOCKS = 8

# Runtime: for each 64-byte (slot, value) pair of the calldata, SSTORE(slot, value).
WRITER_RUNTIME = bytes.fromhex("60005b803611156018578060200135813555604001600256" + "5b00")
# Constructor: SSTORE(0, 7), then return the runtime.
WRITER_INIT = (
    bytes.fromhex("6007600055")
    + bytes([0x60, len(WRITER_RUNTIME), 0x60, 17, 0x60, 0, 0x39, 0x60, len(WRITER_RUNTIME)])
    + bytes.fromhex("6000f3")
    + WRITER_RUNTIME
)
# SSTORE(0, 1) then SELFDESTRUCT to the caller, in the creating transaction (EIP-6780).
SELF_DESTRUCTING_INIT = bytes.fromhex("600160005533ff")


@contextmanager
def account_db(cls):
    saved = DevnetPragueState.__dict__["account_db_class"]
    DevnetPragueState.account_db_class = cls
    try:
        yield
    finally:
        DevnetPragueState.account_db_class = saved


def stock_vm(vm_class):
    """``vm_class`` with py-evm's own ``AccountDB``."""
    state = type("StockState", (vm_class.get_state_class(),), {"account_db_class": AccountDB})
    return type("StockVM", (vm_class,), {"_state_class": state})


def random_stream(seed: int, builder: L2Builder) -> list[list]:
    """``BLOCKS`` blocks of random transactions, signed with ``builder``'s keys."""
    rng = random.Random(seed)
    fresh = [keccak(bytes([seed, n]))[:20] for n in range(12)]
    writers: list[bytes] = []
    blocks = []
    for _ in range(BLOCKS):
        txs = []
        for _ in range(rng.randint(1, 12)):
            sender = rng.randrange(10)
            kind = rng.random()
            if kind < 0.35:
                to = rng.choice(fresh + [builder.address(rng.randrange(10))] + writers)
                txs.append(builder.tx(sender, to=to, value=rng.choice((0, 1, 10**15))))
            elif kind < 0.5 or not writers:
                nonce = builder.next_nonce(sender)
                txs.append(
                    builder.tx(
                        sender, CREATE_CONTRACT_ADDRESS, data=WRITER_INIT, gas=300_000, nonce=nonce
                    )
                )
                writers.append(contract_address(builder.address(sender), nonce))
            elif kind < 0.85:
                pairs = b""
                for _ in range(rng.randint(1, 8)):
                    slot = rng.choice((rng.randrange(24), rng.getrandbits(256)))
                    value = 0 if rng.random() < 0.35 else rng.getrandbits(rng.choice((8, 256)))
                    pairs += slot.to_bytes(32, "big") + value.to_bytes(32, "big")
                txs.append(builder.tx(sender, rng.choice(writers), data=pairs, gas=600_000))
            else:
                txs.append(
                    builder.tx(
                        sender, CREATE_CONTRACT_ADDRESS, data=SELF_DESTRUCTING_INIT, gas=200_000
                    )
                )
        blocks.append(txs)
    return blocks


def zeroed_slots(tx) -> int:
    """How many (slot, value) pairs of a storage writer's call write zero."""
    if tx.to == CREATE_CONTRACT_ADDRESS or not tx.data or len(tx.data) % 64:
        return 0
    return sum(tx.data[i + 32 : i + 64] == bytes(32) for i in range(0, len(tx.data), 64))


@pytest.mark.parametrize("seed", range(STREAMS))
def test_batch_and_py_evm_build_the_same_chain(seed):
    batch = L2Builder()
    stock = L2Builder()
    assert batch.chain.head.hash == stock.chain.head.hash
    stream = random_stream(seed, batch)
    stock_verifier = stock_vm(L2_VM)
    deleted_slots = 0
    for txs in stream:
        assert DevnetPragueState.account_db_class is BatchAccountDB
        built = batch.build(txs, expect_all=False)
        with account_db(AccountDB):
            reference = stock.build(txs, expect_all=False)
        assert [s.transaction.hash for s in built.skipped] == [
            s.transaction.hash for s in reference.skipped
        ]
        assert built.block.hash == reference.block.hash
        assert batch.chain.state_root_after(built.block.header) == stock.chain.state_root_after(
            reference.block.header
        )
        assert [r.__dict__ for r in built.receipts] == [r.__dict__ for r in reference.receipts]
        deleted_slots += sum(map(zeroed_slots, txs))
        # The witness the batch recorded re-executes the block, under either account database.
        inp = batch.input_for(built.block)
        assert verify(inp, L2_VM).valid, verify(inp, L2_VM).detail
        verdict = verify(inp, stock_verifier)
        assert verdict.valid, verdict.detail
    assert deleted_slots > 0  # the stream did write slots back to zero
    # The node cache served this chain's blocks (so the witnesses above were recorded
    # through cache hits too, each reported to the block's recorder).
    assert cache_for(batch.chain.db).hits > 0
    # Every node of the final state is stored in the batch chain's database.
    root = batch.chain.state_root_after(batch.chain.head)
    assert root == stock.chain.state_root_after(stock.chain.head)
    assert sum(1 for _ in reachable_nodes(batch.chain.db.__getitem__, root)) > 1


def test_storage_wipe_and_revert_keep_py_evm_semantics():
    """Writes, a storage wipe, writes on the new trie, and a revert to before the wipe:
    the lookup's root after each step is py-evm's."""
    address = b"\x01" * 20
    results = []
    for cls in (BatchAccountDB, AccountDB):
        db = AtomicDB()
        accounts = cls(db)
        accounts.set_balance(address, 1)
        for slot in range(10):
            accounts.set_storage(address, slot, slot + 1)
        accounts.persist()
        roots = [accounts.state_root]
        checkpoint = accounts.record()
        accounts.delete_storage(address)
        accounts.set_storage(address, 3, 99)
        accounts.discard(checkpoint)  # back to before the wipe
        accounts.set_storage(address, 4, 0)
        accounts.set_storage(address, 20, 5)
        accounts.lock_changes()
        roots.append(accounts.make_state_root())
        checkpoint = accounts.record()
        accounts.delete_storage(address)  # a wipe that stays
        accounts.set_storage(address, 1, 1)
        accounts.commit(checkpoint)
        accounts.lock_changes()
        roots.append(accounts.make_state_root())
        accounts.persist()
        roots.append(accounts.state_root)
        roots.append(
            tuple(AccountDB(db, accounts.state_root).get_storage(address, s) for s in range(22))
        )
        results.append(roots)
    assert results[0] == results[1]


def test_storage_lookup_reads_its_own_unflushed_writes():
    db = AtomicDB()
    lookup = BatchStorageLookup(db, keccak(b"\x80"), b"\x02" * 20, None, None)
    lookup[b"\x01"] = b"\x05"
    assert lookup[b"\x01"] == b"\x05" and lookup.has_changed_root
    root = lookup.get_changed_root()
    del lookup[b"\x01"]
    assert lookup[b"\x01"] == b""
    assert lookup.get_changed_root() == keccak(b"\x80") != root
    assert NodeStore(db).db is db
