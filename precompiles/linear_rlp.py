"""pyrlp's list decoding in linear time, with a bounded nesting depth.

pyrlp (pure Python here: its Rust backend does not build for Python 3.11) rebuilds the
encoding of every list it decodes by appending each item's encoding to a growing ``bytes``
(``list_rlp += item_rlp[0]``), which copies the list so far once per item: a 1 MB list of
one-byte items took 15 s to decode. Those bytes are the contiguous slice of the input the
items were read from, so one slice gives the same value in linear time. Each nesting level
still copies its list once, so decoding also stops below ``MAX_DECODE_DEPTH`` levels
instead of copying a deep input once per level.

Every RLP decode in the process goes through ``rlp.codec.consume_payload`` (transactions in
py-evm, trie nodes in py-trie, EXECUTE's transactions and witness), so ``install`` swaps
that one function. The results, the per-item encodings and the errors for inputs within
the depth bound are exactly pyrlp's.
"""

from __future__ import annotations

import rlp.codec
from rlp.exceptions import DecodingError

# Deeper than any Ethereum structure (a block with an access-list transaction nests 6 deep),
# shallow enough that copying each level once stays a small multiple of the input.
MAX_DECODE_DEPTH = 64

_consume_length_prefix = rlp.codec.consume_length_prefix


def _consume_payload(rlp_bytes, prefix, start, type_, length, depth=0):
    if type_ is bytes:
        item = rlp_bytes[start : start + length]
        return (item, [prefix + item], start + length)
    if type_ is not list:
        raise TypeError("Type must be either list or bytes")
    if depth >= MAX_DECODE_DEPTH:
        raise DecodingError(f"RLP nests deeper than {MAX_DECODE_DEPTH} lists", rlp_bytes)
    items = []
    per_item_rlp = []
    next_item_start = start
    end = next_item_start + length
    while next_item_start < end:
        p, t, l, s = _consume_length_prefix(rlp_bytes, next_item_start)  # noqa: E741
        item, item_rlp, next_item_start = _consume_payload(rlp_bytes, p, s, t, l, depth + 1)
        per_item_rlp.append(item_rlp)
        items.append(item)
    # The items' encodings are read back to back, so their concatenation is this slice.
    per_item_rlp.insert(0, prefix + rlp_bytes[start:next_item_start])
    if next_item_start > end:
        raise DecodingError("List length prefix announced a too small length", rlp_bytes)
    return (items, per_item_rlp, next_item_start)


def consume_payload(rlp_bytes, prefix, start, type_, length):
    """Drop-in for ``rlp.codec.consume_payload`` (same arguments, results and errors)."""
    return _consume_payload(rlp_bytes, prefix, start, type_, length)


def install() -> None:
    """Make every ``rlp.decode`` in this process use the linear list decoder."""
    rlp.codec.consume_payload = consume_payload
