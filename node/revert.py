"""Revert reasons from revert data: the one decoder of ``Error(string)`` and ``Panic(uint256)``.

``unpack_revert`` reads the data; ``decode_revert_reason`` words it for an ``eth_call``
error, ``node.tracing.wording.geth_revert_reason`` as geth's tracers do.
"""

from __future__ import annotations

from eth_abi import decode
from eth_abi.exceptions import DecodingError

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

PANIC_REASONS = {
    0x00: "generic panic",
    0x01: "assert(false)",
    0x11: "arithmetic underflow or overflow",
    0x12: "division or modulo by zero",
    0x21: "enum overflow",
    0x22: "invalid encoded storage byte array accessed",
    0x31: "out-of-bounds array access; popping on an empty array",
    0x32: "out-of-bounds access of an array or bytesN",
    0x41: "out of memory",
    0x51: "uninitialized function",
}


def unpack_revert(output: bytes) -> str | int | None:
    """The ``Error(string)`` text, the ``Panic(uint256)`` code, or None for empty,
    custom-error or malformed data."""
    try:
        if output[:4] == ERROR_SELECTOR:
            return decode(["string"], output[4:])[0]
        if output[:4] == PANIC_SELECTOR:
            return decode(["uint256"], output[4:])[0]
    except (DecodingError, OverflowError, UnicodeDecodeError, ValueError):
        return None
    return None


def decode_revert_reason(output: bytes) -> str | None:
    """The reason string a user should see, or None for empty or custom-error data."""
    reason = unpack_revert(output)
    if isinstance(reason, int):
        return f"panic: {PANIC_REASONS.get(reason, 'unknown panic code')} ({reason:#x})"
    return reason
