"""Empty blocks on the fast path (``node.fork.empty_block`` on the tries, then the header
chain persisted without py-evm's generic walk, ``Chain._persist_extending_head``) leave the
chain exactly as py-evm's path does: the same block hashes, the same post-state roots and the
same database, key for key and byte for byte. Checked on the L1 genesis with and without
the delayed state root and on the L2 genesis, across timestamps that reuse a beacon-roots
ring slot, a block with a transaction, a state edit, a rewind and a non-canonical system
contract; and through ``Devnet`` for ``anvil_mine`` with and without an interval, a chosen
next timestamp and single blocks. The blocks also import through py-evm's ``import_block``.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS, HISTORY_BUFFER_LENGTH
from eth_hash.auto import keccak

import node.chain as chain_module
from node.chain import Chain
from node.devnet import Devnet, MiningConfig, MiningMode
from node.genesis import DEFAULT_L2_GENESIS, load_genesis
from node.storage import prefixed_items

RECIPIENT = b"\x11" * 20


@contextlib.contextmanager
def generic_path():
    """Every empty block through py-evm (the EVM runs its system calls, py-evm persists)."""
    original = chain_module.empty_block_post_root
    chain_module.empty_block_post_root = lambda *args: None
    try:
        yield
    finally:
        chain_module.empty_block_post_root = original


def database(chain: Chain) -> dict[bytes, bytes]:
    return dict(prefixed_items(chain.db, b""))


def genesis_for(name: str, genesis, dev_accounts):
    if name == "l2":
        loaded = load_genesis(DEFAULT_L2_GENESIS)
        return loaded.with_accounts([a.address for a in dev_accounts], 10**24).with_overrides(
            record_witnesses=False
        )
    return genesis.with_overrides(delayed_state_root=name == "l1-delayed")


class FastPathCounter:
    """How many blocks took the fast persist and the remembered accounts."""

    def __init__(self, monkeypatch) -> None:
        self.persisted = 0
        original = Chain._persist_extending_head

        def persist(chain, block):
            done = original(chain, block)
            self.persisted += done
            return done

        monkeypatch.setattr(Chain, "_persist_extending_head", persist)


@pytest.mark.parametrize("which", ["l1-delayed", "l1", "l2"])
def test_fast_empty_blocks_leave_the_same_database(which, genesis, dev_accounts, txs, monkeypatch):
    genesis = genesis_for(which, genesis, dev_accounts)
    counter = FastPathCounter(monkeypatch)
    fast, generic, replica = Chain(genesis), Chain(genesis), Chain(genesis)
    key = dev_accounts[0].private_key
    # Steps: a timestamp gap (seconds), "tx", "edit", "rewind" or "code".
    plan = [1, 12, 1, HISTORY_BUFFER_LENGTH, HISTORY_BUFFER_LENGTH * 3, 5, "tx", 1, 2]
    plan += ["edit", 12, 12, "rewind", 3, 1, HISTORY_BUFFER_LENGTH, "tx", 7, 7]
    plan += ["code", 1, 1]
    nonce = 0
    for step, gap in enumerate(plan):
        if gap == "edit":  # anvil_setBalance: a state root no empty block left
            for c in (fast, generic, replica):
                c.edit_head_state(lambda db, step=step: db.set_balance(RECIPIENT, 10**18 + step))
            continue
        if gap == "code":  # a non-canonical beacon-roots contract: the EVM path on both
            for c in (fast, generic, replica):
                c.edit_head_state(lambda db: db.set_code(BEACON_ROOTS_ADDRESS, b"\x00"))
            continue
        if gap == "rewind":  # evm_revert: the chain ends at block 4 again
            for c in (fast, generic):
                c.rewind_to(c.header_by_number(4))
            replica.rewind_to(replica.header_by_number(4))
            continue
        batch = []
        if gap == "tx":
            batch = [txs.dynamic(key, nonce, to=RECIPIENT, value=step)]
            nonce += 1
            gap = 12
        timestamp = fast.head.timestamp + gap
        built = fast.build_block(batch, timestamp=timestamp)
        with generic_path():
            expected = generic.build_block(batch, timestamp=timestamp)
        assert built.block.hash == expected.block.hash, step
        assert fast.state_root_after(fast.head) == generic.state_root_after(generic.head), step
        assert fast.head == generic.head
        imported = replica.import_block(fast.block_by_header(built.block.header))
        assert imported.hash == built.block.hash, step
        assert replica.state_root_after(replica.head) == fast.state_root_after(fast.head)
    stored = database(fast)
    assert len(stored) > 100 and stored == database(generic)
    # Every empty block after block 1 (no gap record yet) on the canonical code persisted
    # fast: 17 empty blocks, less block 1 and the 2 after the code edit.
    assert counter.persisted == 14


class FixedClock:
    def __init__(self, monkeypatch, now: int) -> None:
        self.now = now
        monkeypatch.setattr(time, "time", lambda: float(self.now))


async def test_anvil_mine_fast_equals_generic(genesis, dev_accounts, txs, monkeypatch):
    """``anvil_mine`` and friends through two devnets on one fixed clock: one on the fast
    path, one on py-evm's; the same chain and database after each request."""
    FixedClock(monkeypatch, 1_900_000_000)
    fast = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    generic = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))

    async def both(action) -> None:
        await action(fast)
        with generic_path():
            await action(generic)
        assert fast.head == generic.head
        assert fast.chain.state_root_after(fast.head) == generic.chain.state_root_after(
            generic.head
        )

    await both(lambda node: node.mine_many(5))
    await both(lambda node: node.mine_many(4, 12))
    await both(lambda node: node.mine_many(3, HISTORY_BUFFER_LENGTH))

    async def chosen(node):
        node.set_next_timestamp(node.head.timestamp + 100)
        await node.mine_many(3)

    await both(chosen)
    await both(lambda node: node.mine())
    for _ in range(3):
        await both(lambda node: node.mine_many(1))

    async def transfer(node):
        await node.submit(txs.dynamic(dev_accounts[1].private_key, 0, to=RECIPIENT, value=5))
        await node.mine_many(2)

    await both(transfer)
    assert fast.head.block_number == 21
    stored = database(fast.chain)
    assert len(stored) > 100 and stored == database(generic.chain)
    await fast.stop()
    await generic.stop()


@pytest.mark.parametrize("which", ["l1-delayed", "l1", "l2"])
def test_header_rlp_is_rlps_encoding(which, genesis, dev_accounts):
    """``header_rlp`` (what an empty block's hash and stored header are made of) is
    ``rlp.encode`` byte for byte, on the chain's header class with values of every size."""
    import random

    import rlp

    from node.chain import header_rlp

    chain = Chain(genesis_for(which, genesis, dev_accounts))
    chain.build_block([], timestamp=chain.head.timestamp + 1)
    head = chain.head
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        values = head.as_dict()
        for name, sedes in type(head)._meta.fields:
            if rng.random() < 0.5:
                continue
            if isinstance(sedes, rlp.sedes.BigEndianInt):
                values[name] = rng.choice([0, 1, 127, 128, 255, 256, 2**64 - 1, 2**256 - 1])
                values[name] = min(values[name], 2**2048 - 1)
            elif name in ("extra_data", "mix_hash"):
                values[name] = rng.randbytes(rng.choice([0, 1, 31, 32]))
        fresh = type(head)(**values)
        assert fresh._cached_rlp is None
        assert header_rlp(fresh) == rlp.encode(fresh, cache=False)
        checked += 1
    assert checked == 300
    # The built head's hash is the hash of that encoding (the cache the builder set).
    assert head.hash == keccak(rlp.encode(type(head)(**head.as_dict()), cache=False))


def test_fast_empty_blocks_on_disk(genesis, tmp_path, monkeypatch):
    """On the LMDB database (``--data-dir``) too: the same blocks and keys as py-evm's path,
    and the chain reopens at its head."""
    from node.storage import LMDBDatabase

    counter = FastPathCounter(monkeypatch)
    fast = Chain(genesis, db=LMDBDatabase(tmp_path / "fast"))
    generic = Chain(genesis, db=LMDBDatabase(tmp_path / "generic"))
    for step in range(12):
        timestamp = fast.head.timestamp + 1 + step
        built = fast.build_block([], timestamp=timestamp)
        with generic_path():
            expected = generic.build_block([], timestamp=timestamp)
        assert built.block.hash == expected.block.hash, step
    assert counter.persisted == 11
    stored = database(fast)
    assert len(stored) > 100 and stored == database(generic)
    head = fast.head
    fast.db.close()
    reopened = Chain(genesis, db=LMDBDatabase(tmp_path / "fast"))
    assert reopened.head == head
    assert reopened.state_root_after(head) == generic.state_root_after(generic.head)
    reopened.db.close()
    generic.db.close()


def test_gap_and_score_records_are_pyevms_encoding():
    import rlp
    from eth.rlp.sedes import chain_gaps

    from node.chain import _int_bytes, _no_gaps
    from node.trie_batch import encode_node

    for n in [0, 1, 2, 55, 56, 127, 128, 255, 256, 10**6, 2**64, 2**256 - 1]:
        assert _no_gaps(n) == rlp.encode(((), n), sedes=chain_gaps), n
        assert encode_node(_int_bytes(n)) == rlp.encode(n, sedes=rlp.sedes.big_endian_int), n
