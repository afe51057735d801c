"""Is EXECUTE's cost linear in its input? Time it on the worst input shapes we know.

In process, no servers. A ``devtools.l2_blocks.L2Builder`` builds one empty L2 block; its
EXECUTE input is the valid base that some shapes extend. Each shape builds an input of about
10 KB, 100 KB and 1 MB and calls the EXECUTE precompile exactly as the L1 runs it
(``make_execute_precompile(DevnetPragueVM)``: gas charge, ABI decoding, the market's
transaction-gas reservation, verification), with a verdict cache that keeps nothing so
every call verifies. Repeats are interleaved (every shape and size once per round) so that
machine noise spreads evenly; the median is reported.

Shapes (each one aims at a step that was, or could be, superlinear):

- ``json_unterminated_escapes``: a JSON witness that is one unterminated string of ``\\"``
  (the nesting pre-scan restarted at every quote: quadratic).
- ``json_many_empty_strings``: a valid JSON witness of many ``""`` state entries.
- ``json_deep_allowed``: JSON witness arrays nested to the allowed depth, many times over.
- ``rlp_tx_tiny_items``: a transaction list of one-byte items (pyrlp's list decoding
  appended each item's encoding to a growing bytes: quadratic).
- ``rlp_tx_deep_allowed``: one typed transaction whose payload is many lists nested to the
  allowed RLP depth (the transaction list itself may only nest two deep).
- ``rlp_txs_fail_late``: many well-formed signed transactions, the last one undecodable.
- ``rlp_tx_huge_access_list``: one transaction whose access list holds every storage key
  the size allows (decoded inside py-evm).
- ``rlp_witness_unused_nodes``: the valid block with a witness full of one-byte nodes that
  are never read (each is still hashed into the witness database): a valid verdict.
- ``rlp_witness_many_headers``: the valid block with its parent header repeated.
- ``rlp_witness_deep_state_node``: a parent whose state root is a witness node of nested
  lists as deep as the size allows, read by the block's first system call.

Output: a table per shape (median seconds, nanoseconds per input byte, the ratio of the
time to the previous size's: linear growth is ~10), then one JSON object.

Usage::

    .venv/bin/python scripts/bench_execute_linear.py [--repeat 3] [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")  # what the node uses (rpc/cli.py)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rlp  # noqa: E402
from eth.exceptions import Revert  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402

from precompiles.execute import ExecuteHalt, VerdictCache, make_execute_precompile  # noqa: E402
from precompiles.execute_wire import (  # noqa: E402
    EXECUTE_INVALID_SELECTOR,
    ExecuteInput,
    encode_execute_input,
)
from precompiles.nesting import MAX_JSON_DEPTH, MAX_RLP_DEPTH  # noqa: E402

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


class Computation:
    """The part of a py-evm computation the precompile touches."""

    def __init__(self, data: bytes) -> None:
        self.msg = SimpleNamespace(data=data)
        self.output = b""
        self.gas = 0

    def consume_gas(self, amount: int, reason: str) -> None:
        self.gas += amount


def call_execute(execute: Callable, data: bytes) -> str:
    """Run the precompile once; the outcome as ``valid``, ``reason N`` or ``halt``."""
    computation = Computation(data)
    try:
        execute(computation)
    except Revert:
        assert computation.output[:4] == EXECUTE_INVALID_SELECTOR
        return f"reason {int.from_bytes(computation.output[4:], 'big')}"
    except ExecuteHalt:
        return "halt"
    return "valid"


# -- the shapes ---------------------------------------------------------------------------


class Shapes:
    """Input builders: each takes a target size in bytes and returns EXECUTE's input."""

    def __init__(self) -> None:
        from devtools.l2_blocks import L2Builder

        l2 = L2Builder()
        block = l2.build().block
        self.base: ExecuteInput = l2.input_for(block)
        self.parent = l2.chain.header_by_hash(block.header.parent_hash)
        decoded = rlp.decode(self.base.witness)
        self.witness_headers, self.witness_codes, self.witness_state, _ = decoded
        tx = l2.tx(0, value=1)
        self.signed_tx = tx.encode()
        self.tx_builder = l2.builder

    def _with(self, **changes) -> bytes:
        return encode_execute_input(replace(self.base, **changes))

    def _rlp_witness(self, headers=None, codes=None, state=None) -> bytes:
        return rlp.encode(
            [
                self.witness_headers if headers is None else headers,
                self.witness_codes if codes is None else codes,
                self.witness_state if state is None else state,
                [],
            ]
        )

    def json_unterminated_escapes(self, size: int) -> bytes:
        return self._with(witness=b'{"' + b'\\"' * (size // 2))

    def json_many_empty_strings(self, size: int) -> bytes:
        return self._with(witness=b'{"state": [' + b'"",' * (size // 3) + b'""]}')

    def json_deep_allowed(self, size: int) -> bytes:
        nest = MAX_JSON_DEPTH - 2  # inside the object and its "keys" array
        item = b"[" * nest + b"]" * nest
        count = size // (len(item) + 1)
        return self._with(witness=b'{"keys": [' + b",".join([item] * count) + b"]}")

    def rlp_tx_tiny_items(self, size: int) -> bytes:
        return self._with(transactions=rlp.encode([b"\x01"] * size))

    def rlp_tx_deep_allowed(self, size: int) -> bytes:
        item: list = []
        for _ in range(MAX_RLP_DEPTH - 2):  # inside the typed transaction's payload list
            item = [item]
        payload = rlp.encode([item] * (size // len(rlp.encode(item))))
        return self._with(transactions=rlp.encode([b"\x02" + payload]))

    def rlp_txs_fail_late(self, size: int) -> bytes:
        count = size // (len(self.signed_tx) + 3)
        return self._with(transactions=rlp.encode([self.signed_tx] * count + [b"\x02\xc1\x80"]))

    def rlp_tx_huge_access_list(self, size: int) -> bytes:
        keys = list(range(2**255, 2**255 + size // 33))
        unsigned = self.tx_builder.new_unsigned_dynamic_fee_transaction(
            self.base.chain_id,
            0,
            1,
            10**10,
            30_000_000,
            b"\x11" * 20,
            0,
            b"",
            [(b"\x11" * 20, keys)],
        )
        tx = unsigned.as_signed_transaction(_dev_key())
        return self._with(transactions=rlp.encode([tx.encode()]))

    def rlp_witness_unused_nodes(self, size: int) -> bytes:
        codes = [bytes([i % 128]) for i in range(size)]
        return self._with(witness=self._rlp_witness(codes=list(self.witness_codes) + codes))

    def rlp_witness_many_headers(self, size: int) -> bytes:
        header = rlp.encode(self.parent)
        count = max(1, size // (len(header) + 3))
        return self._with(witness=self._rlp_witness(headers=[header] * count))

    def rlp_witness_deep_state_node(self, size: int) -> bytes:
        encoded_node = _nested_empty_lists(size)
        parent = self.parent.copy(state_root=keccak(encoded_node))
        witness = self._rlp_witness(headers=[rlp.encode(parent)], state=[encoded_node])
        return self._with(
            parent_hash=parent.hash, pre_state_root=parent.state_root, witness=witness
        )


def _nested_empty_lists(size: int, max_depth: int = 50_000) -> bytes:
    """``[[[…[]…]]]`` of about ``size`` bytes (at most ``max_depth`` deep, below py-ecc's
    recursion limit), built from the inside out without re-encoding each level."""
    prefixes = []
    length = 1  # the innermost 0xc0
    while length < size and len(prefixes) < max_depth:
        if length < 56:
            prefix = bytes([0xC0 + length])
        else:
            digits = length.to_bytes((length.bit_length() + 7) // 8, "big")
            prefix = bytes([0xF7 + len(digits)]) + digits
        prefixes.append(prefix)
        length += len(prefix)
    return b"".join(reversed(prefixes)) + b"\xc0"


def _dev_key():
    from devtools.l2_blocks import dev_keys

    return dev_keys()[0]


SHAPES = [
    "json_unterminated_escapes",
    "json_many_empty_strings",
    "json_deep_allowed",
    "rlp_tx_tiny_items",
    "rlp_tx_deep_allowed",
    "rlp_txs_fail_late",
    "rlp_tx_huge_access_list",
    "rlp_witness_unused_nodes",
    "rlp_witness_many_headers",
    "rlp_witness_deep_state_node",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.shapes.split(",")

    from node.fork import DevnetPragueVM

    execute = make_execute_precompile(DevnetPragueVM, cache=VerdictCache(size=0))
    shapes = Shapes()
    inputs = {(n, s): getattr(shapes, n)(s) for n in names for s in sizes}
    times: dict[tuple[str, int], list[float]] = {key: [] for key in inputs}
    outcomes: dict[tuple[str, int], str] = {}
    for _ in range(args.repeat):
        for key, data in inputs.items():
            gc.collect()
            started = time.perf_counter()
            outcomes[key] = call_execute(execute, data)
            times[key].append(time.perf_counter() - started)

    report = {}
    for name in names:
        print(f"\n{name}")
        print(f"  {'input bytes':>12} {'seconds':>9} {'ns/byte':>8} {'x prev':>7}  outcome")
        previous = None
        rows = []
        for size in sizes:
            length = len(inputs[(name, size)])
            median = statistics.median(times[(name, size)])
            ratio = median / previous if previous else None
            previous = median
            rows.append(
                {
                    "input_bytes": length,
                    "seconds": round(median, 5),
                    "ns_per_byte": round(median / length * 1e9, 1),
                    "ratio_to_previous": round(ratio, 2) if ratio else None,
                    "outcome": outcomes[(name, size)],
                }
            )
            shown = f"{ratio:7.2f}" if ratio else f"{'':>7}"
            print(
                f"  {length:>12} {median:9.4f} {median / length * 1e9:8.1f} {shown}  "
                f"{outcomes[(name, size)]}"
            )
        report[name] = rows
    print(json.dumps(report))


if __name__ == "__main__":
    main()
