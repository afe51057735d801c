"""node.trie_batch against py-trie: the same changes applied as one batch and one by one give
the same root and the same nodes, and the batch stores only nodes of the final trie.

Random tries and batches (hypothesis): short keys over a small alphabet (shared prefixes, keys
that are prefixes of others, inline nodes), 32-byte hashed keys, short and long values,
updates, inserts, deletions of present and absent keys, empty values. The number of examples
is ``TRIE_BATCH_EXAMPLES`` (CI default below; raise it for a longer run).
"""

from __future__ import annotations

import os

import pytest
import rlp
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie import HexaryTrie
from trie.exceptions import MissingTrieNode

from node.trie_batch import (
    BLANK_ROOT_HASH,
    NodeCache,
    NodeStore,
    decode_path,
    encode_node,
    encode_path,
    get,
    reachable_nodes,
    update,
)

EXAMPLES = int(os.environ.get("TRIE_BATCH_EXAMPLES", "150"))

short_keys = st.binary(min_size=1, max_size=3).map(lambda b: bytes(x % 4 for x in b))
hashed_keys = st.integers(0, 400).map(lambda n: keccak(n.to_bytes(4, "big")))
values = st.one_of(st.binary(min_size=1, max_size=4), st.binary(min_size=30, max_size=40))


@st.composite
def scenarios(draw):
    keys = draw(st.sampled_from([short_keys, hashed_keys]))
    start = draw(st.dictionaries(keys, values, max_size=40))
    changes: dict[bytes, bytes] = {}
    present = sorted(start)
    if present:
        for key in draw(st.lists(st.sampled_from(present), max_size=20)):
            changes[key] = draw(st.one_of(st.just(b""), values))  # update or delete
    for key in draw(st.lists(keys, max_size=20)):
        changes[key] = draw(st.one_of(st.just(b""), values))  # insert or delete absent
    return start, changes


def build_reference(start: dict[bytes, bytes]) -> tuple[dict, bytes]:
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db)
    for key, value in start.items():
        trie[key] = value
    return db, trie.root_hash


def reachable(db: dict, root: bytes) -> dict[bytes, bytes]:
    return dict(reachable_nodes(db.__getitem__, root))


def check(start: dict[bytes, bytes], changes: dict[bytes, bytes], cache: NodeCache | None):
    db, root = build_reference(start)
    before = set(db)

    expected_db = dict(db)
    expected = HexaryTrie(expected_db, root)
    for key, value in changes.items():
        expected[key] = value  # an empty value deletes, as in the batch

    ours_db = dict(db)
    store = NodeStore(ours_db, cache)
    new_root = update(store, root, changes)

    assert new_root == expected.root_hash
    ours_nodes = reachable(ours_db, new_root)
    assert ours_nodes == reachable(expected_db, new_root)
    # Only nodes of the final trie are written, each under the keccak of its encoding.
    assert store.written <= set(ours_nodes)
    assert set(ours_db) - before == store.written - before
    for node_hash in store.written:
        assert keccak(ours_db[node_hash]) == node_hash
    # What py-evm's account trie stores for the same changes (squashed, intermediate
    # nodes pruned) is what the batch adds to the database.
    squash_db = dict(db)
    squashing = HexaryTrie(squash_db, root, prune=True)
    with squashing.squash_changes() as memory:
        for key, value in changes.items():
            memory[key] = value
    assert squashing.root_hash == new_root
    assert {k for k in squash_db if k not in before} == set(ours_db) - before
    # Reads through the store give the model's values (py-trie's own ``get`` fails on a key
    # that ends inside an extension, so the model is a dict).
    model = {**start, **changes}
    for key, value in model.items():
        assert get(store, new_root, key) == value


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios())
def test_batch_matches_py_trie(scenario):
    start, changes = scenario
    check(start, changes, cache=None)


@settings(max_examples=max(EXAMPLES // 3, 10), deadline=None)
@given(st.lists(scenarios(), min_size=1, max_size=4))
def test_batches_sharing_one_cache_match_py_trie(scenario_list):
    """One cache across batches on different tries gives each batch py-trie's result."""
    cache = NodeCache(limit=64)
    for start, changes in scenario_list:
        check(start, changes, cache)
    assert len(cache) <= 64


def test_successive_batches_on_one_database_match_py_trie():
    """Block after block on one database: the batch's root follows py-trie's, and the cache
    (kept small here so it evicts) serves nodes of earlier batches."""
    import random

    rng = random.Random(7)
    db: dict[bytes, bytes] = {}
    cache = NodeCache(limit=200)
    reference = HexaryTrie(dict(db))
    root = BLANK_ROOT_HASH
    for _block in range(30):
        changes = {}
        for _ in range(rng.randint(1, 60)):
            key = keccak(rng.randint(0, 500).to_bytes(4, "big"))
            changes[key] = b"" if rng.random() < 0.25 else rng.randbytes(rng.choice((3, 70)))
        root = update(NodeStore(db, cache), root, changes)
        for key, value in changes.items():
            reference[key] = value
        assert root == reference.root_hash
        assert reachable(db, root) == reachable(reference.db, root)
    assert cache.hits > 0 and len(cache) <= 200


def test_empty_trie_edges():
    db: dict[bytes, bytes] = {}
    store = NodeStore(db)
    assert update(store, BLANK_ROOT_HASH, {}) == BLANK_ROOT_HASH
    assert update(store, BLANK_ROOT_HASH, {b"a": b""}) == BLANK_ROOT_HASH
    assert db == {}
    root = update(store, BLANK_ROOT_HASH, {b"a": b"1"})
    assert root == keccak(rlp.encode([encode_path(bytes((6, 1)), True), b"1"]))
    assert db[root] == rlp.encode([encode_path(bytes((6, 1)), True), b"1"])  # small root: stored
    assert update(store, root, {b"a": b""}) == BLANK_ROOT_HASH
    assert update(store, root, {b"a": b"1"}) == root  # no change, nothing rewritten


def test_deleting_collapses_a_branch_into_its_last_leaf():
    start = {b"\x10\x00": b"x" * 40, b"\x20\x00": b"y" * 40}
    db, root = build_reference(start)
    new_root = update(NodeStore(db), root, {b"\x10\x00": b""})
    expected = HexaryTrie({})
    expected[b"\x20\x00"] = b"y" * 40
    assert new_root == expected.root_hash
    path, is_leaf = decode_path(rlp.decode(db[new_root])[0])
    assert is_leaf and path == bytes((2, 0, 0, 0))


def test_missing_node_names_the_node_and_the_key():
    start = {keccak(bytes([n])): b"v" * 40 for n in range(20)}
    db, root = build_reference(start)
    victim = next(h for h in reachable(db, root) if h != root)
    del db[victim]
    with pytest.raises(MissingTrieNode) as raised:
        for key in start:
            update(NodeStore(dict(db)), root, {key: b"w" * 40})
    assert bytes(raised.value.missing_node_hash) == victim
    assert bytes(raised.value.root_hash) == root


def test_hex_prefix_encoding_matches_py_trie():
    from trie.utils.nibbles import encode_nibbles
    from trie.utils.nodes import compute_leaf_key

    for nibbles in [(), (1,), (1, 2), (0, 15, 3), tuple(range(16))]:
        assert encode_path(bytes(nibbles), False) == encode_nibbles(nibbles)
        assert encode_path(bytes(nibbles), True) == compute_leaf_key(nibbles)
        assert decode_path(encode_path(bytes(nibbles), True)) == (bytes(nibbles), True)
        assert decode_path(encode_path(bytes(nibbles), False)) == (bytes(nibbles), False)


nested = st.recursive(
    st.binary(max_size=70), lambda children: st.lists(children, max_size=17), max_leaves=40
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(nested)
def test_node_encoding_is_rlp(item):
    assert encode_node(item) == rlp.encode(item)


class ReadRecorder(dict):
    """A node database that remembers which keys were read."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.reads: set[bytes] = set()

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.reads.add(key)
        return value


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios(), st.randoms(use_true_random=False))
def test_nodes_the_batch_reads_let_py_evm_apply_the_changes_statelessly(scenario, rng):
    """A witness is the nodes a block read. py-evm applies a block's changes one by one: its
    account trie the deletions first (in any order) then the writes, a storage trie in
    journal order (deletions and writes mixed). With only the nodes the batch read (plus
    what it writes itself) neither order may miss a node."""
    start, changes = scenario
    db, root = build_reference(start)
    recorder = ReadRecorder(db)
    new_root = update(NodeStore(recorder), root, changes)
    witness = {key: db[key] for key in recorder.reads}
    if root in db:
        witness[root] = db[root]
    deletions = [(k, v) for k, v in changes.items() if not v]
    writes = [(k, v) for k, v in changes.items() if v]
    rng.shuffle(deletions)
    rng.shuffle(writes)
    mixed = deletions + writes
    rng.shuffle(mixed)
    for order in (deletions + writes, mixed):
        stateless = HexaryTrie(dict(witness), root)
        for key, value in order:
            stateless[key] = value
        assert stateless.root_hash == new_root


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_batch_applies_the_changes_on_the_nodes_py_evm_read(scenario, rng):
    """The other way round: a witness recorded by py-evm's one-by-one order (deletions
    first, or mixed as a storage trie's journal) serves the batch (a stateless check with
    the batch on a block built elsewhere)."""
    start, changes = scenario
    db, root = build_reference(start)
    deletions = [(k, v) for k, v in changes.items() if not v]
    writes = [(k, v) for k, v in changes.items() if v]
    rng.shuffle(deletions)
    rng.shuffle(writes)
    mixed = deletions + writes
    rng.shuffle(mixed)
    for order in (deletions + writes, mixed):
        recorder = ReadRecorder(db)
        sequential = HexaryTrie(recorder, root)
        for key, value in order:
            sequential[key] = value
        witness = {key: db[key] for key in recorder.reads if key in db}
        if root in db:
            witness[root] = db[root]
        assert update(NodeStore(witness), root, changes) == sequential.root_hash


def test_a_deletion_refilled_by_a_write_still_reads_the_sibling_py_evm_collapses():
    """Branch of two hashed leaves; the block deletes one and writes a third key under the
    same branch. py-evm deletes first, collapsing the branch onto the other leaf (a read);
    the batch never collapses, yet its reads must include that leaf."""
    start = {b"\x10": b"a" * 40, b"\x20": b"c" * 40}
    changes = {b"\x10": b"", b"\x30": b"d" * 40}
    db, root = build_reference(start)
    recorder = ReadRecorder(db)
    new_root = update(NodeStore(recorder), root, changes)
    sibling = rlp.decode(db[root])[2]
    assert sibling in recorder.reads
    witness = {key: db[key] for key in recorder.reads}
    stateless = HexaryTrie(witness, root)
    stateless[b"\x10"] = b""
    stateless[b"\x30"] = b"d" * 40
    assert stateless.root_hash == new_root


def test_a_witness_without_that_sibling_still_serves_the_batch():
    """The same block recorded one by one with the write first (a storage journal's order):
    the branch never collapses and the sibling is not in the witness; the batch's
    deletions-first reads are only for the witness it records, so it still applies."""
    start = {b"\x10": b"a" * 40, b"\x20": b"c" * 40}
    db, root = build_reference(start)
    recorder = ReadRecorder(db)
    sequential = HexaryTrie(recorder, root)
    sequential[b"\x30"] = b"d" * 40
    sequential[b"\x10"] = b""
    sibling = rlp.decode(db[root])[2]
    assert sibling not in recorder.reads
    witness = {key: db[key] for key in recorder.reads if key in db}
    changes = {b"\x10": b"", b"\x30": b"d" * 40}
    assert update(NodeStore(witness), root, changes) == sequential.root_hash
