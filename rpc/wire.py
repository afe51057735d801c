"""The JSON-RPC wire at the edge: strict decoding of request bodies, strict encoding of responses.

A body is UTF-8 JSON text (RFC 8259 §8.1) and nothing else: a byte-order mark, UTF-16 or
UTF-32 (which Python's ``json.loads`` would otherwise guess and accept) and the non-JSON
constants ``NaN``/``Infinity``/``-Infinity`` and numbers beyond a double's range (``1e400``)
are parse errors (-32700), so every id the node
echoes, and every response it writes, is JSON a strict parser (Go, Rust, a browser) accepts.

Before parsing, one C-speed pass counts the body's structural characters. It bounds what the
parse can cost: a body may hold at most ``MAX_JSON_VALUES`` values and keys (1.5 MB of
``[],[],…`` would otherwise become 40 MB of Python lists), and the nesting pre-scan of
``precompiles.nesting`` (a Python loop) only runs when the body has more brackets than
``MAX_REQUEST_DEPTH`` — never for the big hex strings of ``anvil_loadState`` or raw
transactions. Bodies over ``DECODE_IN_THREAD_BYTES`` are decoded in a worker thread: the
pre-scan then yields the interpreter to the event loop, so other clients are answered;
``json.loads`` itself holds the interpreter lock while it runs, which is why the value count
(not the thread) is what bounds how long one body can hold up the others. The garbage
collector is paused during the parse: each batch of new lists would otherwise trigger a
collection that walks every object of the node (3 to 6 times the parse itself).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
from typing import Any

from precompiles.nesting import json_depth_ok
from rpc.errors import INVALID_REQUEST, PARSE_ERROR, RpcError

MAX_REQUEST_DEPTH = 64  # nested arrays/objects in one body
MAX_JSON_VALUES = 500_000  # values and object keys in one body (about 0.15 s of parsing)
DECODE_IN_THREAD_BYTES = 64 * 2**10  # bodies above this are decoded off the event loop

_UTF8_BOM = "\ufeff"
# Everything but the characters that start a value or separate two: what is left of a body
# after deleting the rest counts its values and keys from above, and its openers.
_NOT_STRUCTURE = bytes(range(256)).translate(None, b",:[{")


class ParseError(RpcError):
    """A body that is not strict UTF-8 JSON."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(PARSE_ERROR, f"parse error: {detail}" if detail else "parse error")


def _refuse_constant(name: str) -> Any:
    raise ParseError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: valid JSON, but no number a response can carry
        raise ParseError(f"number out of range: {text[:40]}")
    return value


def decode(body: bytes | str) -> Any:
    """Strictly decode one request body (a single request or a batch); raises ``RpcError``."""
    raw = body.encode() if isinstance(body, str) else body
    structure = raw.translate(None, _NOT_STRUCTURE)
    if len(structure) >= MAX_JSON_VALUES:
        raise RpcError(
            INVALID_REQUEST, f"request too large: too many JSON values (max {MAX_JSON_VALUES})"
        )
    openers = structure.count(b"[") + structure.count(b"{")
    if openers > MAX_REQUEST_DEPTH and not json_depth_ok(raw, MAX_REQUEST_DEPTH):
        raise ParseError("nested too deep")  # the C decoder would overflow the stack
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")  # strict: UTF-16/32 and stray bytes fail here
        except UnicodeDecodeError:
            raise ParseError("body is not UTF-8") from None
    else:
        text = body
    if text.startswith(_UTF8_BOM):
        raise ParseError("byte order mark")
    collecting = gc.isenabled()
    gc.disable()  # a parse makes no cycles; collections amid it would scan the whole node
    try:
        return _DECODER.decode(text)
    except ValueError:  # JSONDecodeError, e.g. the NULs of UTF-16 read as UTF-8
        raise ParseError() from None
    finally:
        if collecting:
            gc.enable()


async def decode_off_loop(body: bytes | str) -> Any:
    """``decode``, in a worker thread when the body is big enough to matter."""
    if len(body) > DECODE_IN_THREAD_BYTES:
        return await asyncio.to_thread(decode, body)
    return decode(body)


def encode(payload: Any) -> bytes:
    """A response as compact JSON; a non-finite float is a bug, never sent (``ValueError``)."""
    return _ENCODER.encode(payload).encode()


# Made once: ``json.loads``/``json.dumps`` with any option build a new decoder/encoder per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
