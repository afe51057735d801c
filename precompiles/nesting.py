"""Bounded nesting for untrusted RLP and JSON, checked without recursion.

Decoders of both recurse once per nesting level, and py-ecc raises Python's recursion limit
to 100 000 when it is imported: a few hundred kilobytes of ``[[[[…`` would then overflow
the C stack and kill the process instead of raising. Every decode of untrusted bytes checks
its nesting with these iterative scanners first.
"""

from __future__ import annotations

import re

MAX_RLP_DEPTH = 16
MAX_JSON_DEPTH = 8

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(rb"[\[\]{}]")


def rlp_depth_ok(data: bytes, max_depth: int = MAX_RLP_DEPTH) -> bool:
    """False if ``data`` nests RLP lists deeper than ``max_depth`` (malformed lengths are
    left for the decoder to reject)."""
    open_lists: list[int] = []  # end offsets of the lists we are inside
    pos, end = 0, len(data)
    while pos < end:
        while open_lists and pos >= open_lists[-1]:
            open_lists.pop()
        prefix = data[pos]
        if prefix < 0x80:
            pos += 1
        elif prefix <= 0xB7:
            pos += 1 + prefix - 0x80
        elif prefix <= 0xBF:
            size = prefix - 0xB7
            pos += 1 + size + int.from_bytes(data[pos + 1 : pos + 1 + size], "big")
        else:
            if prefix <= 0xF7:
                size, length = 0, prefix - 0xC0
            else:
                size = prefix - 0xF7
                length = int.from_bytes(data[pos + 1 : pos + 1 + size], "big")
            start = pos + 1 + size
            open_lists.append(start + length)
            if len(open_lists) > max_depth:
                return False
            pos = start
    return True


def json_depth_ok(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """False if ``data`` nests JSON arrays/objects deeper than ``max_depth``."""
    depth = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub(b"", data)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return False
        else:
            depth -= 1
    return True
