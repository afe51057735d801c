"""The native BN254 (0x06-0x08) and BLS12-381 (0x0b-0x11) precompiles against py-evm's
pure-Python ones (py_ecc, the oracle): on random valid inputs and crafted invalid ones
(off the curve, outside the subgroup, coordinates >= p, bad lengths, infinity), both run
through py-evm's ``apply_computation`` and must agree on success, output and gas used.
Each case also states what the answer is, so the comparison cannot pass on two equally
wrong answers. The EIPs' test vectors are in ``curve_vectors.json``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from eth.vm.forks.cancun.transaction_context import CancunTransactionContext
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.message import Message
from py_ecc import optimized_bn128 as bn
from py_ecc.optimized_bls12_381 import optimized_curve as bls

from node.fork import DevnetPragueVM
from node.fork.precompiles import (
    DEVNET_PRECOMPILES,
    NATIVE_CURVE_PRECOMPILES,
    PRAGUE_PRECOMPILES,
    DevnetPragueComputation,
)
from tests.unit.conftest import PyEvmTestChain
from tests.unit.curve_inputs import (
    BLS_P,
    BN_P,
    bls_g1,
    bls_g1_outside_subgroup,
    bls_g2,
    bls_g2_outside_subgroup,
    bls_pairing_input,
    bls_true_pairs,
    bn_g1,
    bn_g2,
    bn_g2_outside_subgroup,
    bn_pairing_input,
    bn_true_pairs,
    fp,
)

ECADD, ECMUL, ECPAIRING = (a.to_bytes(20, "big") for a in (6, 7, 8))
G1ADD, G1MSM, G2ADD, G2MSM, PAIRING, MAP_G1, MAP_G2 = (
    a.to_bytes(20, "big") for a in range(0x0B, 0x12)
)
GAS = 10_000_000
TRUE, FALSE = (1).to_bytes(32, "big"), bytes(32)
SENDER = b"\x5e" * 20
VECTORS = Path(__file__).with_name("curve_vectors.json")


class ReferenceComputation(PragueComputation):
    """py-evm's Prague computation: its pure-Python precompiles (the oracle)."""

    _precompiles = PRAGUE_PRECOMPILES


@pytest.fixture(scope="module")
def state(genesis):
    return PyEvmTestChain(DevnetPragueVM, genesis).state()


def run(state, computation_class, address: bytes, data: bytes, gas: int = GAS):
    """(success, output, gas used) of a call to ``address`` through py-evm's pipeline."""
    message = Message(
        gas=gas, to=address, sender=SENDER, value=0, data=data, code=b"", code_address=address
    )
    context = CancunTransactionContext(gas_price=1, origin=SENDER)
    computation = computation_class.apply_computation(state, message, context)
    return computation.is_success, bytes(computation.output), computation.get_gas_used()


def agree(state, address: bytes, data: bytes, gas: int = GAS):
    """The native outcome, after checking it equals the reference's."""
    native = run(state, DevnetPragueComputation, address, data, gas)
    reference = run(state, ReferenceComputation, address, data, gas)
    assert native == reference, (address[-1], data.hex()[:80], native, reference)
    return native


def fp32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def fails(state, address: bytes, data: bytes, gas: int = GAS) -> None:
    """Both reject ``data``: an exceptional halt consuming all the gas."""
    assert agree(state, address, data, gas) == (False, b"", gas)


def test_the_devnet_table_runs_the_native_curve_precompiles():
    assert set(NATIVE_CURVE_PRECOMPILES) == {ECADD, ECMUL, ECPAIRING} | {
        G1ADD,
        G1MSM,
        G2ADD,
        G2MSM,
        PAIRING,
        MAP_G1,
        MAP_G2,
    }
    for address, precompile in NATIVE_CURVE_PRECOMPILES.items():
        assert DEVNET_PRECOMPILES[address] is precompile
        assert PRAGUE_PRECOMPILES[address] is not precompile


# -- BN254 -- #


def test_bn254_add_and_mul_agree_on_random_points(state):
    rng = random.Random(196)
    points = [bn.multiply(bn.G1, rng.randrange(1, bn.curve_order)) for _ in range(4)]
    p, q = points[0], points[1]
    cases = [
        (bn_g1(p) + bn_g1(q), bn_g1(bn.add(p, q))),
        (bn_g1(p) + bn_g1(p), bn_g1(bn.double(p))),
        (bn_g1(p) + bn_g1(bn.neg(p)), bytes(64)),
        (bn_g1(p) + bytes(64), bn_g1(p)),
        (bytes(64) + bytes(64), bytes(64)),
        (b"", bytes(64)),  # short inputs are right-padded with zeros
        (bn_g1(p), bn_g1(p)),
        (bn_g1(p) + bn_g1(q) + b"\xff" * 40, bn_g1(bn.add(p, q))),  # extra bytes ignored
    ]
    for data, expected in cases:
        assert agree(state, ECADD, data) == (True, expected, 150)
    for scalar in (0, 1, 2, bn.curve_order - 1, bn.curve_order, 2**256 - 1, rng.getrandbits(256)):
        data = bn_g1(points[2]) + scalar.to_bytes(32, "big")
        expected = bn_g1(bn.multiply(points[2], scalar % bn.curve_order))
        assert agree(state, ECMUL, data) == (True, expected, 6000)
    assert agree(state, ECMUL, bytes(64) + (5).to_bytes(32, "big")) == (True, bytes(64), 6000)
    assert agree(state, ECMUL, bn_g1(points[3])) == (True, bytes(64), 6000)  # scalar padded: 0


def test_bn254_rejects_points_off_the_curve_and_coordinates_over_the_modulus(state):
    x, y = 1, 2  # (1, 2) is on y^2 = x^3 + 3
    assert agree(state, ECADD, fp32(x) + fp32(y) + bytes(64))[0]
    for bad in (
        fp32(1) + fp32(3),  # off the curve
        fp32(x + BN_P) + fp32(y),  # x >= p, though x - p is on the curve
        fp32(x) + fp32(y + BN_P),
        fp32(BN_P) + fp32(0),
        fp32(0) + fp32(1),  # not infinity: infinity is (0, 0) only
    ):
        fails(state, ECADD, bad + bytes(64))
        fails(state, ECADD, bytes(64) + bad)
        fails(state, ECMUL, bad + fp32(3))
        fails(state, ECPAIRING, bad + bn_g2(bn.G2))


def test_bn254_pairing_agrees_on_random_valid_inputs(state):
    rng = random.Random(197)
    pairs = bn_true_pairs(rng, 2)
    assert agree(state, ECPAIRING, bn_pairing_input(pairs)) == (True, TRUE, 45_000 + 2 * 34_000)
    wrong = [pairs[0], (bn.neg(pairs[1][0]), pairs[1][1])]
    assert agree(state, ECPAIRING, bn_pairing_input(wrong)) == (True, FALSE, 45_000 + 68_000)
    assert agree(state, ECPAIRING, bn_pairing_input([pairs[0]])) == (True, FALSE, 79_000)
    assert agree(state, ECPAIRING, b"") == (True, TRUE, 45_000)  # the empty product
    infinities = bytes(64) + bn_g2(bn.G2) + bn_g1(bn.G1) + bytes(128)
    assert agree(state, ECPAIRING, infinities) == (True, TRUE, 113_000)
    with_infinity = bn_pairing_input(pairs) + bytes(192)
    assert agree(state, ECPAIRING, with_infinity) == (True, TRUE, 147_000)


def test_bn254_pairing_rejects_bad_g2_points_and_lengths(state):
    g1 = bn_g1(bn.G1)
    x_i, x_r, y_i, y_r = (bn_g2(bn.G2)[i : i + 32] for i in range(0, 128, 32))
    outside = bn_g2_outside_subgroup()
    for bad_g2 in (
        outside,  # on the twist, not in the r-torsion subgroup
        x_i + x_r + y_i + fp32(int.from_bytes(y_r, "big") ^ 1),  # off the curve
        x_i + fp32(int.from_bytes(x_r, "big") + BN_P) + y_i + y_r,  # x real part >= p
        fp32(int.from_bytes(x_i, "big") + BN_P) + x_r + y_i + y_r,  # x imaginary part >= p
        fp32(BN_P) + bytes(96),
    ):
        fails(state, ECPAIRING, g1 + bad_g2)
        fails(state, ECPAIRING, bn_pairing_input([(bn.G1, bn.G2)]) + g1 + bad_g2)
    for length in (1, 64, 191, 193, 383):
        fails(state, ECPAIRING, bn_pairing_input([(bn.G1, bn.G2)] * 2)[:length])


def test_bn254_gas_is_exact_and_running_out_halts(state):
    data = bn_pairing_input([(bn.G1, bn.G2), (bn.neg(bn.G1), bn.G2)])
    assert agree(state, ECPAIRING, data, gas=113_000) == (True, TRUE, 113_000)
    fails(state, ECPAIRING, data, gas=112_999)
    fails(state, ECADD, bn_g1(bn.G1) * 2, gas=149)
    fails(state, ECMUL, bn_g1(bn.G1) + fp32(2), gas=5999)


# -- BLS12-381 -- #


def test_bls_g1_and_g2_add_agree_including_points_outside_the_subgroup(state):
    rng = random.Random(2537)
    for encode, curve_point, address, gas in (
        (bls_g1, bls.G1, G1ADD, 375),
        (bls_g2, bls.G2, G2ADD, 600),
    ):
        p = bls.multiply(curve_point, rng.randrange(1, bls.curve_order))
        q = bls.multiply(curve_point, rng.randrange(1, bls.curve_order))
        zero = encode(bls.Z1 if curve_point is bls.G1 else bls.Z2)
        assert agree(state, address, encode(p) + encode(q)) == (True, encode(bls.add(p, q)), gas)
        assert agree(state, address, encode(p) + encode(p)) == (True, encode(bls.double(p)), gas)
        assert agree(state, address, encode(p) + encode(bls.neg(p))) == (True, zero, gas)
        assert agree(state, address, zero + encode(q)) == (True, encode(q), gas)
        assert agree(state, address, zero + zero) == (True, zero, gas)
    # ADD checks only that a point is on the curve, not that it is in the subgroup
    for outside, address, size in (
        (bls_g1_outside_subgroup(), G1ADD, 128),
        (bls_g2_outside_subgroup(), G2ADD, 256),
    ):
        ok, output, _ = agree(state, address, outside + outside)
        assert ok and len(output) == size and output != bytes(size)
        assert agree(state, address, outside + bytes(size))[1] == outside


def test_bls_x_zero_point_is_a_point_not_infinity(state):
    on_curve = fp(0) + fp(2)  # (0, 2) is on y^2 = x^3 + 4
    ok, output, _ = agree(state, G1ADD, on_curve + bytes(128))
    assert ok and output == on_curve
    fails(state, G1ADD, fp(0) + fp(1) + bytes(128))


def bls_bad_fields(encoded_point: bytes) -> list[bytes]:
    """``encoded_point`` with one coordinate made non-canonical (+p, or a top byte set),
    and one moved off the curve."""
    first = int.from_bytes(encoded_point[:64], "big")
    last = int.from_bytes(encoded_point[-64:], "big")
    return [
        fp(first + BLS_P) + encoded_point[64:],
        b"\x01" + encoded_point[1:],  # a byte of the 16 zero bytes set
        encoded_point[:-64] + fp(last + BLS_P),
        encoded_point[:-64] + fp(last ^ 1),  # off the curve
        fp(BLS_P) + bytes(len(encoded_point) - 64),
    ]


def test_bls_rejects_bad_field_elements_and_points_off_the_curve(state):
    g1, g2 = bls_g1(bls.G1), bls_g2(bls.G2)
    for bad in bls_bad_fields(g1):
        fails(state, G1ADD, bad + g1)
        fails(state, G1ADD, g1 + bad)
        fails(state, G1MSM, bad + fp32(2))
        fails(state, PAIRING, bad + g2)
    for bad in bls_bad_fields(g2):
        fails(state, G2ADD, bad + g2)
        fails(state, G2MSM, bad + fp32(2))
        fails(state, PAIRING, g1 + bad)


def test_bls_msm_and_pairing_reject_points_outside_the_subgroup(state):
    g1, g2 = bls_g1(bls.G1), bls_g2(bls.G2)
    outside_g1, outside_g2 = bls_g1_outside_subgroup(), bls_g2_outside_subgroup()
    fails(state, G1MSM, outside_g1 + fp32(1))
    fails(state, G1MSM, g1 + fp32(1) + outside_g1 + fp32(0))
    fails(state, G2MSM, outside_g2 + fp32(1))
    fails(state, PAIRING, outside_g1 + g2)
    fails(state, PAIRING, g1 + outside_g2)


def test_bls_lengths(state):
    g1, g2 = bls_g1(bls.G1), bls_g2(bls.G2)
    for address, valid in (
        (G1ADD, g1 + g1),
        (G2ADD, g2 + g2),
        (G1MSM, g1 + fp32(3)),
        (G2MSM, g2 + fp32(3)),
        (PAIRING, g1 + g2),
        (MAP_G1, fp(7)),
        (MAP_G2, fp(7) + fp(8)),
    ):
        fails(state, address, b"")
        fails(state, address, valid[:-1])
        fails(state, address, valid + b"\x00")
    fails(state, G1ADD, g1)
    fails(state, G1MSM, (g1 + fp32(3)) * 2 + g1)


def test_bls_msm_agrees_on_random_inputs_and_prices_by_the_discount_table(state):
    rng = random.Random(2538)
    for encode, curve_point, zero, address, base in (
        (bls_g1, bls.G1, bls.Z1, G1MSM, 12_000),
        (bls_g2, bls.G2, bls.Z2, G2MSM, 22_500),
    ):
        points = [bls.multiply(curve_point, rng.randrange(1, bls.curve_order)) for _ in range(2)]
        scalars = [rng.getrandbits(256), bls.curve_order + 5]
        data = b"".join(encode(p) + fp32(s) for p, s in zip(points, scalars, strict=True))
        expected = bls.add(
            *(bls.multiply(p, s % bls.curve_order) for p, s in zip(points, scalars, strict=True))
        )
        ok, output, gas = agree(state, address, data)
        assert ok and output == encode(expected)
        assert agree(state, address, encode(points[0]) + fp32(0)) == (True, encode(zero), base)
        assert agree(state, address, encode(zero) + fp32(9))[1] == encode(zero)
        # past 128 pairs the discount stays at its floor; infinity points keep it cheap
        ok, output, gas = agree(state, address, (encode(zero) + fp32(1)) * 130)
        assert ok and output == encode(zero)
        floor = 519 if address == G1MSM else 524
        assert gas == 130 * base * floor // 1000


def test_bls_pairing_agrees_on_random_valid_inputs(state):
    rng = random.Random(2539)
    pairs = bls_true_pairs(rng, 2)
    assert agree(state, PAIRING, bls_pairing_input(pairs)) == (True, TRUE, 37_700 + 2 * 32_600)
    assert agree(state, PAIRING, bls_pairing_input(pairs[:1])) == (True, FALSE, 70_300)
    infinities = bytes(128) + bls_g2(bls.G2) + bls_g1(bls.G1) + bytes(256)
    assert agree(state, PAIRING, infinities) == (True, TRUE, 37_700 + 2 * 32_600)
    fails(state, PAIRING, bls_pairing_input(pairs), gas=37_700 + 2 * 32_600 - 1)


def test_bls_maps_agree_on_random_field_elements(state):
    rng = random.Random(2540)
    for value in (0, 1, BLS_P - 1, rng.randrange(BLS_P)):
        ok, output, gas = agree(state, MAP_G1, fp(value))
        assert ok and len(output) == 128 and gas == 5500
    for pair in ((0, 0), (BLS_P - 1, 1), (rng.randrange(BLS_P), rng.randrange(BLS_P))):
        ok, output, gas = agree(state, MAP_G2, fp(pair[0]) + fp(pair[1]))
        assert ok and len(output) == 256 and gas == 23_800
    fails(state, MAP_G1, fp(BLS_P))
    fails(state, MAP_G1, b"\x01" + fp(5)[1:])
    fails(state, MAP_G2, fp(1) + fp(BLS_P))
    fails(state, MAP_G2, fp(BLS_P + 1) + fp(1))


# -- the EIPs' test vectors -- #


def vector_cases() -> list:
    vectors = json.loads(VECTORS.read_text())
    return [
        pytest.param(int(v["address"], 16), v, id=f"{v['address']}-{v['name']}")
        for v in vectors["vectors"]
    ]


@pytest.mark.parametrize(("address", "vector"), vector_cases())
def test_the_eips_vectors(state, address, vector):
    """Each vector's expected output from both the native and the reference precompile."""
    ok, output, _ = agree(state, address.to_bytes(20, "big"), bytes.fromhex(vector["input"]))
    if "expected" in vector:
        assert ok and output.hex() == vector["expected"]
    else:
        assert not ok


# -- mutations of valid inputs -- #


def mutations(rng: random.Random, data: bytes, count: int) -> list[bytes]:
    """``data`` with one byte changed, cut short or lengthened, ``count`` times."""
    out = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0 and data:
            at = rng.randrange(len(data))
            out.append(data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :])
        elif kind == 1 and data:
            at = rng.randrange(len(data) // 64 + 1) * 64  # a coordinate's top bytes
            at = min(at + rng.randrange(17), len(data) - 1)
            out.append(data[:at] + bytes([rng.randrange(1, 256)]) + data[at + 1 :])
        elif kind == 2:
            out.append(data[: rng.randrange(len(data) + 1)])
        else:
            out.append(data + rng.randbytes(rng.choice((1, 31, 32, 64, 192))))
    return out


def test_mutated_inputs_get_the_same_answer_from_both(state):
    rng = random.Random(7)
    bn_p = bn.multiply(bn.G1, rng.randrange(1, bn.curve_order))
    bls_p = bls.multiply(bls.G1, rng.randrange(1, bls.curve_order))
    bls_q = bls.multiply(bls.G2, rng.randrange(1, bls.curve_order))
    bases = {
        ECADD: bn_g1(bn_p) + bn_g1(bn.G1),
        ECMUL: bn_g1(bn_p) + fp32(rng.getrandbits(256)),
        ECPAIRING: bn_pairing_input([(bn.G1, bn.G2)]),
        G1ADD: bls_g1(bls_p) + bls_g1(bls.G1),
        G1MSM: bls_g1(bls_p) + fp32(rng.getrandbits(256)),
        G2ADD: bls_g2(bls_q) + bls_g2(bls.G2),
        G2MSM: bls_g2(bls_q) + fp32(rng.getrandbits(256)),
        PAIRING: bls_g1(bls_p) + bls_g2(bls_q),
        MAP_G1: fp(rng.randrange(BLS_P)),
        MAP_G2: fp(rng.randrange(BLS_P)) + fp(rng.randrange(BLS_P)),
    }
    outcomes = set()
    for address, base in bases.items():
        for data in mutations(rng, base, 40):
            outcomes.add(agree(state, address, data)[0])
    assert outcomes == {True, False}  # both kinds of answer were compared
