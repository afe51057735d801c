"""How fast are the curve precompiles: native (the devnet's table) against py-evm's pure
Python ones (py_ecc), per operation and per pair.

In process, no servers. Each call runs through py-evm's ``apply_computation`` on a state of
the L1 genesis, exactly as a CALL to the precompile does, once with the devnet's
computation class (``node.fork.precompiles.DEVNET_PRECOMPILES``: revm for BN254, arkworks
for BLS12-381) and once with py-evm's Prague computation (``PRAGUE_PRECOMPILES``). Inputs
are valid points made with py_ecc (``tests/unit/curve_inputs.py``); both sides must return
the same output, or the script stops. A pairing's per-pair time is the slope between a
2-pair and a ``--pairs``-pair call (so the fixed cost, e.g. the final exponentiation, is
left out); the full call's time is printed too.

Output: one table (operation, native ms, py_ecc ms, speed-up), then one JSON object.

Usage::

    .venv/bin/python scripts/bench_pairings.py [--repeat 5] [--pairs 10] [--json-only]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth.vm.forks.cancun.transaction_context import CancunTransactionContext  # noqa: E402
from eth.vm.forks.prague.computation import PragueComputation  # noqa: E402
from eth.vm.message import Message  # noqa: E402
from py_ecc import optimized_bn128 as bn  # noqa: E402
from py_ecc.optimized_bls12_381 import optimized_curve as bls  # noqa: E402

from node.chain import Chain  # noqa: E402
from node.fork.precompiles import PRAGUE_PRECOMPILES, DevnetPragueComputation  # noqa: E402
from node.genesis import DEFAULT_L1_GENESIS, load_genesis  # noqa: E402
from tests.unit.curve_inputs import (  # noqa: E402
    bls_g1,
    bls_g2,
    bls_pairing_input,
    bls_true_pairs,
    bn_g1,
    bn_pairing_input,
    bn_true_pairs,
    fp,
)

SENDER = b"\x5e" * 20
GAS = 10**9


class ReferenceComputation(PragueComputation):
    """py-evm's Prague computation (pure-Python precompiles)."""

    _precompiles = PRAGUE_PRECOMPILES


def address(n: int) -> bytes:
    return n.to_bytes(20, "big")


def call(state, computation_class, to: bytes, data: bytes) -> bytes:
    message = Message(gas=GAS, to=to, sender=SENDER, value=0, data=data, code=b"", code_address=to)
    context = CancunTransactionContext(gas_price=1, origin=SENDER)
    computation = computation_class.apply_computation(state, message, context)
    if not computation.is_success:
        raise SystemExit(f"precompile 0x{to[-1]:02x} failed: {computation.error!r}")
    return bytes(computation.output)


def timed(state, computation_class, to: bytes, data: bytes, repeat: int) -> tuple[float, bytes]:
    """The median seconds of ``repeat`` calls (after one untimed warm-up call), and the
    output."""
    output = call(state, computation_class, to, data)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        output = call(state, computation_class, to, data)
        times.append(time.perf_counter() - started)
    return statistics.median(times), output


def operations(pairs: int) -> list[tuple[str, int, bytes, int]]:
    """(name, address, input, pair count or 0) for each measured call."""
    rng = random.Random(7)
    bn_p = bn.multiply(bn.G1, rng.randrange(1, bn.curve_order))
    bn_q = bn.multiply(bn.G1, rng.randrange(1, bn.curve_order))
    bls_p1 = bls.multiply(bls.G1, rng.randrange(1, bls.curve_order))
    bls_p2 = bls.multiply(bls.G2, rng.randrange(1, bls.curve_order))
    scalar = rng.getrandbits(256).to_bytes(32, "big")
    bn_pairs, bls_pairs = bn_true_pairs(rng, pairs), bls_true_pairs(rng, pairs)
    msm_g1 = b"".join(
        bls_g1(bls.multiply(bls.G1, rng.randrange(1, bls.curve_order)))
        + rng.getrandbits(256).to_bytes(32, "big")
        for _ in range(8)
    )
    return [
        ("bn254 ecadd", 6, bn_g1(bn_p) + bn_g1(bn_q), 0),
        ("bn254 ecmul", 7, bn_g1(bn_p) + scalar, 0),
        ("bn254 pairing, 2 pairs", 8, bn_pairing_input(bn_pairs[:2]), 2),
        (f"bn254 pairing, {pairs} pairs", 8, bn_pairing_input(bn_pairs), pairs),
        ("bls12 g1add", 0x0B, bls_g1(bls_p1) + bls_g1(bls.double(bls_p1)), 0),
        ("bls12 g1msm, 1 pair", 0x0C, bls_g1(bls_p1) + scalar, 0),
        ("bls12 g1msm, 8 pairs", 0x0C, msm_g1, 0),
        ("bls12 g2add", 0x0D, bls_g2(bls_p2) + bls_g2(bls.double(bls_p2)), 0),
        ("bls12 g2msm, 1 pair", 0x0E, bls_g2(bls_p2) + scalar, 0),
        ("bls12 pairing, 2 pairs", 0x0F, bls_pairing_input(bls_pairs[:2]), 2),
        (f"bls12 pairing, {pairs} pairs", 0x0F, bls_pairing_input(bls_pairs), pairs),
        ("bls12 map fp to g1", 0x10, fp(rng.randrange(bls.field_modulus)), 0),
        (
            "bls12 map fp2 to g2",
            0x11,
            fp(rng.randrange(bls.field_modulus)) + fp(rng.randrange(bls.field_modulus)),
            0,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="native calls per operation")
    parser.add_argument(
        "--reference-repeat", type=int, default=1, help="py_ecc timed calls per operation (slow)"
    )
    parser.add_argument("--pairs", type=int, default=10, help="pairs in the larger pairing call")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()

    chain = Chain(load_genesis(DEFAULT_L1_GENESIS))
    state = chain.vm_factory.state(chain.head)
    rows: dict[str, dict[str, float]] = {}
    for name, to, data, pairs in operations(args.pairs):
        native, native_out = timed(state, DevnetPragueComputation, address(to), data, args.repeat)
        reference, reference_out = timed(
            state, ReferenceComputation, address(to), data, args.reference_repeat
        )
        if native_out != reference_out:
            raise SystemExit(f"{name}: native and py_ecc outputs differ")
        rows[name] = {"native_ms": native * 1e3, "py_ecc_ms": reference * 1e3, "pairs": pairs}

    for curve in ("bn254", "bls12"):
        small, large = (
            rows[f"{curve} pairing, 2 pairs"],
            rows[f"{curve} pairing, {args.pairs} pairs"],
        )
        per_pair = {
            side: (large[side] - small[side]) / (args.pairs - 2)
            for side in ("native_ms", "py_ecc_ms")
        }
        rows[f"{curve} pairing, per pair (slope)"] = {**per_pair, "pairs": 1}

    if not args.json_only:
        print(f"{'operation':36} {'native ms':>10} {'py_ecc ms':>11} {'speed-up':>9}")
        for name, row in rows.items():
            speedup = row["py_ecc_ms"] / row["native_ms"] if row["native_ms"] > 0 else float("inf")
            print(f"{name:36} {row['native_ms']:10.3f} {row['py_ecc_ms']:11.1f} {speedup:8.0f}x")
    print(json.dumps({"repeat": args.repeat, "pairs": args.pairs, "operations": rows}))


if __name__ == "__main__":
    main()
