"""A batched update of a hexary Merkle-Patricia trie (the state and storage tries).

``update`` applies a whole batch of ``key -> value`` changes (an empty value deletes) to the
trie under ``root_hash`` in one descent: the keys are sorted, every shared path is walked
once, and each node the batch touches is rebuilt, RLP-encoded and hashed once, however many
keys pass through it. The result is the same trie py-trie's ``HexaryTrie`` reaches applying
the changes one by one — same root, same nodes (the trie is canonical for its key set) — and
the nodes stored are exactly the new ones the final trie references: a node of 32 bytes or
more under its keccak, a shorter one inline in its parent, and the root always under its
hash. Nodes are py-trie's encoding: a leaf or extension is ``[hex-prefix path, value/child]``,
a branch is 16 children and a value.

Nodes are read through a ``NodeStore``: the batch's own database (where it writes), in front
of it a bounded cache of decoded nodes (``NodeCache``, shared across batches on the same
database), and a witness recorder told of every node the cache serves, so a recorded
execution witness holds each node the batch needed exactly as if it had read the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Protocol

import rlp
from eth_hash.auto import keccak
from trie.exceptions import MissingTrieNode

BLANK_NODE = b""
BLANK_ROOT_HASH = keccak(rlp.encode(b""))
HASH_SIZE = 32
NODE_CACHE_LIMIT = 10_000  # decoded nodes kept per database (a branch is ~2 KB decoded)
MAX_KEY_BYTES = 256  # the recursion is one level per nibble; state keys are 32 bytes

# Every byte as its two nibbles: a path is a ``bytes`` of nibbles (0-15).
_NIBBLES = [bytes((b >> 4, b & 0x0F)) for b in range(256)]

Node = Any  # b"" (blank) or a decoded RLP list: [path, value/child] or 16 children + value


def key_to_nibbles(key: bytes) -> bytes:
    return b"".join([_NIBBLES[b] for b in key])


def nibbles_to_key(nibbles: bytes) -> bytes:
    return bytes(nibbles[i] << 4 | nibbles[i + 1] for i in range(0, len(nibbles) - 1, 2))


def encode_path(nibbles: bytes, is_leaf: bool) -> bytes:
    """Hex-prefix encoding (Yellow Paper appendix C): a flag nibble saying leaf or
    extension and odd or even length, then the nibbles packed two a byte."""
    flag = 2 if is_leaf else 0
    if len(nibbles) % 2:
        first = bytes(((flag + 1) << 4 | nibbles[0],))
        rest = nibbles[1:]
    else:
        first = bytes((flag << 4,))
        rest = nibbles
    return first + bytes(rest[i] << 4 | rest[i + 1] for i in range(0, len(rest), 2))


def decode_path(encoded: bytes) -> tuple[bytes, bool]:
    """The nibbles of a hex-prefix encoded path, and whether it ends a leaf."""
    flag = encoded[0] >> 4
    nibbles = key_to_nibbles(encoded[1:])
    if flag & 1:
        nibbles = bytes((encoded[0] & 0x0F,)) + nibbles
    return nibbles, bool(flag & 2)


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    encoded_length = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(encoded_length),)) + encoded_length


# The RLP prefix of a byte string of each length under 56 (a single byte under 0x80 has none).
_SHORT_PREFIX = [bytes((0x80 + n,)) for n in range(56)]


def encode_node(item: Node) -> bytes:
    """RLP of a trie node (nested lists of byte strings); ``rlp.encode``'s bytes without
    its sedes inference, which costs more than the hashing here. A node's byte strings
    (hashes, paths, values) are encoded in the loop, only nested lists recurse."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length_prefix(len(item), 0x80) + item
    parts = []
    for x in item:
        if isinstance(x, bytes):
            n = len(x)
            if n == 1 and x[0] < 0x80:
                parts.append(x)
            elif n < 56:
                parts.append(_SHORT_PREFIX[n] + x)
            else:
                parts.append(_length_prefix(n, 0x80) + x)
        else:
            parts.append(encode_node(x))
    payload = b"".join(parts)
    return _length_prefix(len(payload), 0xC0) + payload


class Recorder(Protocol):
    def record(self, key: bytes, value: bytes) -> None: ...


class NodeCache:
    """Decoded trie nodes by hash, least recently used first out past ``limit``.

    A node is content-addressed, so an entry can never be stale; the cache must still be
    tied to one database (``cache_for``): serving a node a database does not hold would let
    a stateless check pass on an incomplete witness. Entries are shared, never mutated.
    Block building and simulations in worker threads share it: one lock."""

    def __init__(self, limit: int = NODE_CACHE_LIMIT) -> None:
        self.limit = limit
        self._entries: OrderedDict[bytes, tuple[Node, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, node_hash: bytes) -> tuple[Node, bytes] | None:
        with self._lock:
            entry = self._entries.get(node_hash)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(node_hash)
            return entry

    def put(self, node_hash: bytes, node: Node, encoded: bytes) -> None:
        with self._lock:
            entries = self._entries
            entries[node_hash] = (node, encoded)
            entries.move_to_end(node_hash)
            if len(entries) > self.limit:
                entries.popitem(last=False)


_CACHE_ATTRIBUTE = "_native_devnet_trie_node_cache"


def cache_for(db: object) -> NodeCache | None:
    """The node cache that lives and dies with ``db`` (None if ``db`` takes no attribute)."""
    cache = getattr(db, _CACHE_ATTRIBUTE, None)
    if cache is None:
        cache = NodeCache()
        try:
            setattr(db, _CACHE_ATTRIBUTE, cache)
        except AttributeError:
            return None
    return cache


class NodeStore:
    """Where a batch reads and writes nodes: ``db`` (reads fall through it), the shared
    ``cache`` in front, and ``recorder`` told of each cached node served that this store
    did not write itself (as a read of ``db`` would have told it)."""

    __slots__ = ("db", "cache", "recorder", "written")

    def __init__(
        self,
        db: MutableMapping[bytes, bytes],
        cache: NodeCache | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.recorder = recorder
        self.written: set[bytes] = set()

    def load(self, node_hash: bytes) -> Node:
        cache = self.cache
        if cache is not None:
            entry = cache.get(node_hash)
            if entry is not None:
                if self.recorder is not None and node_hash not in self.written:
                    self.recorder.record(node_hash, entry[1])
                return entry[0]
        encoded = self.db[node_hash]
        node = rlp.decode(encoded)
        if cache is not None:
            cache.put(node_hash, node, encoded)
        return node

    def write(self, node_hash: bytes, encoded: bytes, node: Node) -> None:
        self.db[node_hash] = encoded
        self.written.add(node_hash)
        if self.cache is not None:
            self.cache.put(node_hash, node, encoded)


class _Missing(Exception):
    def __init__(self, node_hash: bytes, nibbles: bytes, depth: int) -> None:
        super().__init__(node_hash)
        self.node_hash = node_hash
        self.nibbles = nibbles
        self.depth = depth


# -- reads ------------------------------------------------------------------------------


def get(store: NodeStore, root_hash: bytes, key: bytes) -> bytes:
    """The value at ``key`` in the trie under ``root_hash`` (b"" when absent)."""
    if root_hash == BLANK_ROOT_HASH:
        return b""
    nibbles = key_to_nibbles(key)
    ref: Node = root_hash
    depth = 0
    while True:
        if ref == BLANK_NODE:
            return b""
        if isinstance(ref, bytes):
            try:
                node = store.load(ref)
            except KeyError:
                raise MissingTrieNode(ref, root_hash, key, tuple(nibbles[:depth])) from None
        else:
            node = ref
        if len(node) == 17:
            if depth == len(nibbles):
                return node[16]
            ref = node[nibbles[depth]]
            depth += 1
            continue
        path, is_leaf = decode_path(node[0])
        if is_leaf:
            return node[1] if nibbles[depth:] == path else b""
        if nibbles[depth : depth + len(path)] != path:
            return b""
        depth += len(path)
        ref = node[1]


# -- the batch --------------------------------------------------------------------------


def update(
    store: NodeStore,
    root_hash: bytes,
    changes: Mapping[bytes, bytes],
    *,
    witness_order: bool = True,
) -> bytes:
    """Apply ``changes`` (an empty value deletes the key) to the trie under ``root_hash``,
    writing the new nodes to ``store``; returns the new root hash. ``witness_order=False``
    skips the reads done only so that a witness recorded here serves a one-by-one check
    (for a caller that records no witness and reads the database directly).

    A node missing from the store raises py-trie's ``MissingTrieNode`` naming it, the root
    and a key whose path needed it; nothing then is written that the old root needs."""
    if not changes:
        return root_hash
    items = []
    for key, value in changes.items():
        if len(key) > MAX_KEY_BYTES:
            raise ValueError(f"trie key longer than {MAX_KEY_BYTES} bytes")
        items.append((key_to_nibbles(key), value))
    items.sort()
    batch = _Batch(store)
    try:
        if root_hash == BLANK_ROOT_HASH:
            root = BLANK_NODE
        else:
            root = batch.resolve(root_hash, items[0][0], 0)
        deletions = [item for item in items if not item[1]]
        if witness_order and deletions and len(deletions) < len(items):
            # Read what the deletions alone would: py-evm applies the changes one by one
            # (its account trie deletions first), and a branch a deletion leaves with one
            # child reads that child to collapse, even when a write refills the branch. A
            # witness recorded here then also serves a stateless check done one by one.
            # Only reads: a node missing here (a witness recorded in another order, which
            # never needed it) is no error, the batch itself does not need it.
            try:
                _Batch(store, dry_run=True).update(root, deletions, 0)
            except _Missing:
                pass
        new_root = batch.update(root, items, 0)
    except _Missing as missing:
        raise MissingTrieNode(
            missing.node_hash,
            root_hash,
            nibbles_to_key(missing.nibbles),
            tuple(missing.nibbles[: missing.depth]),
        ) from None
    if new_root is root or new_root == root:
        return root_hash
    if new_root == BLANK_NODE:
        return BLANK_ROOT_HASH
    encoded = encode_node(new_root)
    new_hash = keccak(encoded)
    if new_hash != root_hash:
        store.write(new_hash, encoded, new_root)  # the root is stored by hash, however small
    return new_hash


class _Batch:
    """One batch's descent. ``update`` returns the node given, or one equal to it, when
    nothing under it changed (deleting absent keys, rewriting equal values), and the parent
    then keeps its reference: an unchanged subtree is never rewritten."""

    __slots__ = ("store", "dry_run")

    def __init__(self, store: NodeStore, dry_run: bool = False) -> None:
        self.store = store
        self.dry_run = dry_run  # read what the batch needs, build nothing to store

    def resolve(self, ref: Node, nibbles: bytes, depth: int) -> Node:
        """The node a child reference points to: blank, inline, or by hash."""
        if isinstance(ref, bytes) and len(ref) == HASH_SIZE:
            try:
                return self.store.load(ref)
            except KeyError:
                raise _Missing(ref, nibbles, depth) from None
        return ref

    def reference(self, node: Node) -> Node:
        """How a parent refers to ``node``: inline under 32 bytes encoded, else by its hash
        (stored)."""
        if node == BLANK_NODE or self.dry_run:
            return node
        encoded = encode_node(node)
        if len(encoded) < HASH_SIZE:
            return node
        node_hash = keccak(encoded)
        self.store.write(node_hash, encoded, node)
        return node_hash

    def update(self, node: Node, items: list[tuple[bytes, bytes]], depth: int) -> Node:
        """``node`` (at ``depth`` nibbles) with ``items`` (sorted, full nibble keys, all
        through this node's position) applied."""
        if node == BLANK_NODE:
            return self.build([(k[depth:], v) for k, v in items if v])
        if len(node) == 17:
            return self.update_branch(node, list(node[:16]), {}, node[16], items, depth)
        path, is_leaf = decode_path(node[0])
        if is_leaf:
            return self.update_leaf(node, path, items, depth)
        return self.update_extension(node, path, items, depth)

    def update_leaf(
        self, node: Node, path: bytes, items: list[tuple[bytes, bytes]], depth: int
    ) -> Node:
        entries = {k[depth:]: v for k, v in items}
        entries.setdefault(path, node[1])
        new = self.build(sorted((k, v) for k, v in entries.items() if v))
        return node if new == node else new

    def update_extension(
        self, node: Node, path: bytes, items: list[tuple[bytes, bytes]], depth: int
    ) -> Node:
        end = depth + len(path)
        through = [item for item in items if item[0][depth:end] == path]
        # A key that leaves the extension's path is absent: deleting it changes nothing.
        leaving = [item for item in items if item[1] and item[0][depth:end] != path]
        if not leaving:
            if not through:
                return node
            child = self.resolve(node[1], through[0][0], end)
            new_child = self.update(child, through, end)
            if new_child is child or new_child == child:
                return node
            return self.prefix(path, new_child)
        shared = len(path)
        for key, _ in leaving:
            limit = min(shared, len(key) - depth)
            i = 0
            while i < limit and key[depth + i] == path[i]:
                i += 1
            shared = i
        # The writes leave the extension's path at ``shared``: a branch goes there, holding
        # the rest of the extension under its next nibble.
        refs = [BLANK_NODE] * 16
        pending: dict[int, Node] = {}
        rest = path[shared + 1 :]
        if rest:
            pending[path[shared]] = [encode_path(rest, False), node[1]]
        else:
            refs[path[shared]] = node[1]
        kept = [item for item in items if item[1] or item[0][depth:end] == path]
        branch = self.update_branch(None, refs, pending, BLANK_NODE, kept, depth + shared)
        return self.prefix(path[:shared], branch)

    def update_branch(
        self,
        node: Node,
        refs: list[Node],
        pending: dict[int, Node],
        value: bytes,
        items: list[tuple[bytes, bytes]],
        depth: int,
    ) -> Node:
        """A branch at ``depth``: ``refs`` its child references, ``pending`` children
        decoded and not yet referenced, ``value`` its own; ``node`` the branch it was (None
        for one a split makes)."""
        new_value = value
        count = len(items)
        i = 0
        while i < count:
            key = items[i][0]
            if len(key) == depth:  # sorts first: the branch's own value
                new_value = items[i][1]
                i += 1
                continue
            nibble = key[depth]
            j = i + 1
            while j < count and items[j][0][depth] == nibble:
                j += 1
            if nibble in pending:
                child = pending[nibble]
            else:
                child = self.resolve(refs[nibble], key, depth + 1)
            new_child = self.update(child, items[i:j], depth + 1)
            if new_child is not child and new_child != child:
                pending[nibble] = new_child
            i = j
        if node is not None and not pending and new_value == value:
            return node
        return self.normalize(refs, pending, new_value, items[0][0], depth)

    def normalize(
        self, refs: list[Node], pending: dict[int, Node], value: bytes, key: bytes, depth: int
    ) -> Node:
        """The canonical node for a branch's children and value: a branch left with one
        child or only its value becomes a leaf or an extension."""
        if 16 - refs.count(BLANK_NODE) >= 2 and BLANK_NODE not in pending.values():
            # Two children stay whatever the batch did (it removed none): still a branch.
            return self.branch(refs, pending, value)
        live = [n for n in range(16) if (pending[n] if n in pending else refs[n]) != BLANK_NODE]
        if not live:
            return [encode_path(b"", True), value] if value else BLANK_NODE
        if len(live) == 1 and not value:
            nibble = live[0]
            if nibble in pending:
                child = pending[nibble]
            else:
                child = self.resolve(refs[nibble], key[:depth] + bytes((nibble,)), depth + 1)
            if len(child) == 2:
                path, is_leaf = decode_path(child[0])
                return [encode_path(bytes((nibble,)) + path, is_leaf), child[1]]
            ref = self.reference(child) if nibble in pending else refs[nibble]
            return [encode_path(bytes((nibble,)), False), ref]
        return self.branch(refs, pending, value)

    def branch(self, refs: list[Node], pending: dict[int, Node], value: bytes) -> Node:
        children = list(refs)
        for nibble, child in pending.items():
            children[nibble] = self.reference(child)
        children.append(value)
        return children

    def prefix(self, path: bytes, node: Node) -> Node:
        """``node`` reached through ``path`` more nibbles: merged into a leaf's or an
        extension's path, or under a new extension when it is a branch."""
        if not path or node == BLANK_NODE:
            return node
        if len(node) == 2:
            rest, is_leaf = decode_path(node[0])
            return [encode_path(path + rest, is_leaf), node[1]]
        return [encode_path(path, False), self.reference(node)]

    def build(self, entries: list[tuple[bytes, bytes]]) -> Node:
        """The subtrie holding exactly ``entries`` (sorted, relative paths, no empty
        values), every node new."""
        if not entries:
            return BLANK_NODE
        if len(entries) == 1:
            path, value = entries[0]
            return [encode_path(path, True), value]
        first, last = entries[0][0], entries[-1][0]
        limit = min(len(first), len(last))
        shared = 0
        while shared < limit and first[shared] == last[shared]:
            shared += 1
        children: list[Node] = [BLANK_NODE] * 16
        value = BLANK_NODE
        i, count = 0, len(entries)
        while i < count:
            path = entries[i][0]
            if len(path) == shared:
                value = entries[i][1]
                i += 1
                continue
            nibble = path[shared]
            j = i + 1
            while j < count and entries[j][0][shared] == nibble:
                j += 1
            group = [(p[shared + 1 :], v) for p, v in entries[i:j]]
            children[nibble] = self.reference(self.build(group))
            i = j
        children.append(value)
        if shared:
            return [encode_path(first[:shared], False), self.reference(children)]
        return children


def reachable_nodes(
    load: Any, root_hash: bytes, limit: int | None = None
) -> Iterable[tuple[bytes, bytes]]:
    """Every ``(hash, encoded node)`` stored under ``root_hash``'s trie (``load`` reads a
    node's encoding by hash); for tests and checks, not the hot path."""
    if root_hash == BLANK_ROOT_HASH:
        return
    stack: list[Node] = [root_hash]
    seen: set[bytes] = set()
    while stack:
        ref = stack.pop()
        if isinstance(ref, bytes):
            if len(ref) != HASH_SIZE or ref in seen:
                continue
            seen.add(ref)
            encoded = load(ref)
            yield ref, encoded
            node = rlp.decode(encoded)
        else:
            node = ref
        if len(node) == 17:
            stack.extend(node[:16])
        elif len(node) == 2 and not decode_path(node[0])[1]:
            stack.append(node[1])
        if limit is not None and len(seen) > limit:
            raise ValueError("trie larger than the limit")
