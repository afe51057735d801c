"""Untrusted-input scanning in linear time: the JSON/RLP nesting checks, pyrlp's list
decoding, and EXECUTE on the input shapes that used to be quadratic.

Regression tests for the hardening issue: the JSON nesting check's regex restarted at every
quote of an unterminated string (a 20 KB body froze the node 7.7 s; one 40 KB EXECUTE
witness stalled block building 15 s), and pyrlp rebuilt every decoded list's encoding by
appending each item to a growing ``bytes`` (a 1 MB transaction list took 15 s).

Linearity is checked by timing the same shape at two sizes 16 times apart: linear code
takes ~16 times longer, quadratic code ~256 times. The bound (64 times, plus 50 ms for
scheduling noise) is generous; the quadratic code failed it by minutes.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable

import pytest
import rlp
import rlp.codec
from rlp.exceptions import DecodingError

import precompiles  # noqa: F401 - installs the linear RLP decoder
from devtools.l2_blocks import L2_VM
from precompiles import linear_rlp
from precompiles.execute import verify
from precompiles.execute_wire import ExecuteInput, Reason
from precompiles.nesting import MAX_JSON_DEPTH, json_depth_ok, rlp_depth_ok

GROWTH = 16
ALLOWED_RATIO = 64
NOISE_SECONDS = 0.05


def timed(fn: Callable[[], object]) -> float:
    # The collector's passes grow with the number of live objects, a cost of the process
    # rather than of the code under test (EXECUTE pauses it while decoding, too).
    gc.disable()
    try:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started
    finally:
        gc.enable()


def assert_linear(make_input: Callable[[int], object], run: Callable, small: int) -> None:
    small_input, large_input = make_input(small), make_input(small * GROWTH)
    small_times, large_times = [], []
    for _ in range(3):  # interleaved, best of three: a busy machine slows some runs
        small_times.append(timed(lambda: run(small_input)))
        large_times.append(timed(lambda: run(large_input)))
    small_time, large_time = min(small_times), min(large_times)
    assert large_time < ALLOWED_RATIO * small_time + NOISE_SECONDS, (
        f"{GROWTH}x the input took {large_time / small_time:.0f}x the time "
        f"({small_time:.4f}s -> {large_time:.4f}s)"
    )


# -- the JSON nesting check -----------------------------------------------------------------


def unterminated_escapes(size: int) -> bytes:
    return b'{"' + b'\\"' * (size // 2)


def unterminated_quotes(size: int) -> bytes:
    return b'["' + b'x\\"' * (size // 3)


@pytest.mark.parametrize(
    "shape",
    [
        unterminated_escapes,
        unterminated_quotes,
        lambda n: b'["' + b'\\\\\\"' * (n // 4),  # escaped backslashes and quotes
        lambda n: b'""' * (n // 2),
        lambda n: b"[]" * (n // 2),
    ],
    ids=["escaped-quotes", "escapes-and-text", "escaped-backslashes", "empty-strings", "pairs"],
)
def test_json_depth_check_is_linear(shape):
    assert_linear(shape, json_depth_ok, 2_000)


@pytest.mark.parametrize(
    "data,depth,ok",
    [
        (b'{"a": "[[[[[[[[[[["}', 1, True),  # brackets inside strings do not count
        (b'{"a": "\\"[[[[[[[[["}', 1, True),  # nor after an escaped quote
        (b'{"a": "\\\\", "b": [[[]]]}', 3, False),  # an escaped backslash ends no string
        (b'{"a": "\\\\", "b": [[[]]]}', 4, True),
        (b"[" * 9 + b"]" * 9, MAX_JSON_DEPTH, False),
        (b"[" * 8 + b"]" * 8, MAX_JSON_DEPTH, True),
        (b'[[["unterminated [[[[[[[[[[', 3, True),  # the decoder rejects it
        (b'[[["unterminated [[[[[[[[[[', 2, False),
        (b"", 0, True),
    ],
)
def test_json_depth_check_verdicts(data, depth, ok):
    assert json_depth_ok(data, depth) is ok


# -- RLP --------------------------------------------------------------------------------------


def test_rlp_depth_check_is_linear_for_many_tiny_items():
    assert_linear(lambda n: rlp.encode([b"\x01"] * n), rlp_depth_ok, 20_000)


def test_rlp_depth_check_skips_huge_announced_lengths():
    # a string announcing 2**64 - 1 bytes is one step; lists announcing as much nest
    huge_list = b"\xff" + b"\xff" * 8
    assert rlp_depth_ok(b"\xbf" + b"\xff" * 8 + b"\xc0" * 100)
    assert rlp_depth_ok(huge_list * 16)
    assert not rlp_depth_ok(huge_list * 17)


def test_rlp_decode_is_linear_for_many_tiny_items():
    assert_linear(lambda n: rlp.encode([b"\x01"] * n), rlp.decode, 16_000)


def test_rlp_decode_is_linear_for_many_small_lists():
    assert_linear(lambda n: rlp.encode([[b"\x01", [b""]]] * n), rlp.decode, 4_000)


def test_linear_decoder_is_installed_and_answers_as_pyrlp():
    assert rlp.codec.consume_payload is linear_rlp.consume_payload
    assert rlp.decode(rlp.encode([b"a", [b"b", [b""]], b"c" * 60])) == [
        b"a",
        [b"b", [b""]],
        b"c" * 60,
    ]
    with pytest.raises(DecodingError, match="too small length"):
        rlp.decode(b"\xc2\x83abc")
    with pytest.raises(DecodingError, match="superfluous"):
        rlp.decode(b"\xc0\x00")


def _random_item(rng: random.Random, depth: int = 0):
    if depth > 4 or rng.random() < 0.5:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 1, 2, 55, 56, 60])))
    return [_random_item(rng, depth + 1) for _ in range(rng.randrange(5))]


def _decode_with(consume_payload, data: bytes):
    saved = rlp.codec.consume_payload
    rlp.codec.consume_payload = consume_payload
    try:
        return ("decoded", rlp.codec.decode_raw(data, True, False))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    finally:
        rlp.codec.consume_payload = saved


def test_linear_decoder_matches_pyrlp_on_random_and_damaged_inputs():
    """pyrlp's own list decoding, kept here as the reference."""
    reference = _pyrlp_consume_payload
    rng = random.Random(7)
    for _ in range(2_000):
        good = rlp.encode(_random_item(rng))
        cut = rng.randrange(len(good) + 1)
        for data in (good, good[:-1], good + b"\x00", good[:cut] + b"\xc5" + good[cut:]):
            assert _decode_with(linear_rlp.consume_payload, data) == _decode_with(reference, data)


def _pyrlp_consume_payload(rlp_bytes, prefix, start, type_, length):
    if type_ is bytes:
        item = rlp_bytes[start : start + length]
        return (item, [prefix + item], start + length)
    items, per_item_rlp, list_rlp = [], [], prefix
    next_item_start, end = start, start + length
    while next_item_start < end:
        p, t, l, s = rlp.codec.consume_length_prefix(rlp_bytes, next_item_start)  # noqa: E741
        item, item_rlp, next_item_start = _pyrlp_consume_payload(rlp_bytes, p, s, t, l)
        per_item_rlp.append(item_rlp)
        list_rlp += item_rlp[0]
        items.append(item)
    per_item_rlp.insert(0, list_rlp)
    if next_item_start > end:
        raise DecodingError("List length prefix announced a too small length", rlp_bytes)
    return (items, per_item_rlp, next_item_start)


def test_rlp_decode_stops_at_its_depth_bound():
    nested: list = []
    for _ in range(linear_rlp.MAX_DECODE_DEPTH - 1):
        nested = [nested]
    assert rlp.decode(rlp.encode(nested)) == nested
    with pytest.raises(DecodingError, match="nests deeper than"):
        rlp.decode(rlp.encode([nested]))


# -- EXECUTE on the shapes that were quadratic ------------------------------------------------

ZERO = bytes(32)


def execute_input(transactions: bytes = b"\xc0", witness: bytes = b"") -> ExecuteInput:
    return ExecuteInput(
        ZERO, ZERO, 0, ZERO, ZERO, 1, 1, 5_000_000, 1, bytes(20), ZERO, ZERO, transactions, witness
    )


def test_execute_json_witness_of_one_unterminated_string_is_linear():
    def run(inp):
        assert verify(inp, L2_VM).reason == Reason.WITNESS_ENCODING

    assert_linear(lambda n: execute_input(witness=unterminated_escapes(n)), run, 2_000)


def test_execute_transaction_list_of_tiny_items_is_linear():
    def run(inp):
        assert verify(inp, L2_VM).reason == Reason.TX_ENCODING

    assert_linear(lambda n: execute_input(transactions=rlp.encode([b"\x01"] * n)), run, 16_000)


def test_execute_rlp_witness_of_many_tiny_header_entries_is_linear():
    def run(inp):
        assert verify(inp, L2_VM).reason == Reason.WITNESS_ENCODING

    def witness(n: int) -> ExecuteInput:
        return execute_input(witness=rlp.encode([[b"\x01"] * n, [], [], []]))

    assert_linear(witness, run, 16_000)


def test_execute_rlp_witness_of_many_unused_nodes_is_linear():
    def run(inp):
        assert verify(inp, L2_VM).reason == Reason.PARENT_NOT_IN_WITNESS

    def witness(n: int) -> ExecuteInput:
        return execute_input(witness=rlp.encode([[], [b"\x01"] * n, [], []]))

    assert_linear(witness, run, 16_000)
