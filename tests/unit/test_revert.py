"""``node.revert``: the one decoder of revert data, and its two wordings (an ``eth_call``
error's and geth's tracers')."""

from __future__ import annotations

from eth_abi import encode

from node.revert import ERROR_SELECTOR, PANIC_SELECTOR, decode_revert_reason, unpack_revert
from node.tracing.wording import geth_revert_reason


def error(text: str) -> bytes:
    return ERROR_SELECTOR + encode(["string"], [text])


def panic(code: int) -> bytes:
    return PANIC_SELECTOR + encode(["uint256"], [code])


def test_unpack_reads_error_text_and_panic_code():
    assert unpack_revert(error("no")) == "no"
    assert unpack_revert(panic(0x11)) == 0x11


def test_no_reason_in_empty_custom_or_malformed_data():
    for data in (b"", b"\x12\x34\x56\x78" + bytes(32), ERROR_SELECTOR + b"\x01", PANIC_SELECTOR):
        assert unpack_revert(data) is None
        assert decode_revert_reason(data) is None
        assert geth_revert_reason(data) is None


def test_the_two_wordings():
    assert decode_revert_reason(error("no")) == geth_revert_reason(error("no")) == "no"
    assert decode_revert_reason(panic(0x01)) == "panic: assert(false) (0x1)"
    assert geth_revert_reason(panic(0x01)) == "assert(false)"
    assert decode_revert_reason(panic(0x99)) == "panic: unknown panic code (0x99)"
    assert geth_revert_reason(panic(0x99)) == "unknown panic code: 0x99"
