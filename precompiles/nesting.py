"""Bounded nesting for untrusted RLP and JSON, checked without recursion in linear time.

Decoders of both recurse once per nesting level, and py-ecc raises Python's recursion limit
to 100 000 when it is imported: a few hundred kilobytes of ``[[[[…`` would then overflow
the C stack and kill the process instead of raising. Every decode of untrusted bytes checks
its nesting with these iterative scanners first.

Both scanners look at each input byte a bounded number of times, whatever the input: they
run on request bodies, WebSocket messages and inside EXECUTE, where their cost is part of a
consensus rule (EXECUTE's cost must be linear in its input).
"""

from __future__ import annotations

import re

MAX_RLP_DEPTH = 16
MAX_JSON_DEPTH = 8

# Outside strings only quotes and brackets matter. Inside a string, the rest of it up to
# the closing quote is one possessive match anchored where the string opens: it never
# backtracks and never restarts, so an unterminated string full of quotes or escapes costs
# one pass (a search that restarted at every quote was quadratic).
_JSON_STRUCTURE = re.compile(rb'["\[\]{}]')
_JSON_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+"', re.DOTALL)
_QUOTE, _OPENERS = ord('"'), (ord("["), ord("{"))


def rlp_depth_ok(data: bytes, max_depth: int = MAX_RLP_DEPTH) -> bool:
    """False if ``data`` nests RLP lists deeper than ``max_depth`` (malformed lengths are
    left for the decoder to reject). Linear: every step moves past at least one byte."""
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
    """False if ``data`` nests JSON arrays/objects deeper than ``max_depth``. Brackets
    inside strings do not count; an unterminated string runs to the end of ``data`` (the
    decoder rejects it). One pass over ``data``."""
    depth, pos = 0, 0
    next_structure, string_rest = _JSON_STRUCTURE.search, _JSON_STRING_REST.match
    while (token := next_structure(data, pos)) is not None:
        pos = token.end()
        char = data[token.start()]
        if char == _QUOTE:
            rest = string_rest(data, pos)
            if rest is None:
                return True
            pos = rest.end()
        elif char in _OPENERS:
            depth += 1
            if depth > max_depth:
                return False
        else:
            depth -= 1
    return True
