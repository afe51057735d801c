"""The root of an index-keyed trie (a block's transactions or receipts), built in one pass.

py-evm's ``make_trie_root_and_nodes`` inserts the items one by one into a ``HexaryTrie``,
re-encoding and re-hashing the path from the root on every insert (some 35 ms for 200
transactions, as much again for their receipts). The keys here are all known at once
(``rlp(index)``), so the trie is built bottom-up from the sorted keys: every node is encoded
and hashed once. Same root, same stored nodes (``tests/unit/test_execute_fast_path.py``
compares both with py-evm's for many sizes).
"""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_hash.auto import keccak

Node = list  # an RLP structure: a list of byte strings and embedded lists


def _nibbles(key: bytes) -> tuple[int, ...]:
    out = []
    for byte in key:
        out.append(byte >> 4)
        out.append(byte & 0x0F)
    return tuple(out)


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        head = [((flag + 1) << 4) | nibbles[0]]
        rest = nibbles[1:]
    else:
        head = [flag << 4]
        rest = nibbles
    return bytes(head + [(rest[i] << 4) | rest[i + 1] for i in range(0, len(rest), 2)])


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def reference(self, node: Node) -> bytes | Node:
        """How a parent refers to ``node``: embedded under 32 bytes, else by hash."""
        encoded = rlp.encode(node)
        if len(encoded) < 32:
            return node
        digest = keccak(encoded)
        self.nodes[digest] = encoded
        return digest

    def build(self, pairs: Sequence[tuple[tuple[int, ...], bytes]], depth: int) -> Node:
        """The node for ``pairs`` (sorted, distinct paths), all sharing ``path[:depth]``."""
        if len(pairs) == 1:
            path, value = pairs[0]
            return [_hex_prefix(path[depth:], leaf=True), value]
        first, last = pairs[0][0], pairs[-1][0]
        common = 0
        limit = min(len(first), len(last)) - depth
        while common < limit and first[depth + common] == last[depth + common]:
            common += 1
        if common:
            child = self.build(pairs, depth + common)
            prefix = first[depth : depth + common]
            return [_hex_prefix(prefix, leaf=False), self.reference(child)]
        branch: list = [b""] * 17
        start = 0
        if len(pairs[0][0]) == depth:  # a key ending here: the branch's value
            branch[16] = pairs[0][1]
            start = 1
        index = start
        while index < len(pairs):
            nibble = pairs[index][0][depth]
            end = index
            while end < len(pairs) and pairs[end][0][depth] == nibble:
                end += 1
            branch[nibble] = self.reference(self.build(pairs[index:end], depth + 1))
            index = end
        return branch


def ordered_trie_root_and_nodes(items: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """(root, {hash: node}) of the trie mapping ``rlp(i)`` to ``items[i]``: what
    ``eth.db.trie.make_trie_root_and_nodes`` gives for items with these encodings."""
    if not items:
        return BLANK_ROOT_HASH, {}
    pairs = sorted((_nibbles(rlp.encode(i)), item) for i, item in enumerate(items))
    builder = _Builder()
    root = rlp.encode(builder.build(pairs, 0))
    digest = keccak(root)
    builder.nodes[digest] = root
    return digest, builder.nodes
