"""Inputs for the curve precompiles, built with py_ecc (the pure-Python reference): points
in the precompiles' encodings, and crafted invalid ones (off the curve, outside the
subgroup, coordinates >= p). Shared by the precompile tests and scripts/bench_pairings.py.
"""

from __future__ import annotations

import random

from py_ecc import optimized_bn128 as bn
from py_ecc.optimized_bls12_381 import optimized_curve as bls

BN_P = bn.field_modulus
BLS_P = bls.field_modulus


# -- BN254: 32-byte coordinates; a G2 coordinate is (imaginary, real) -- #


def bn_g1(point) -> bytes:
    if bn.is_inf(point):
        return bytes(64)
    x, y = bn.normalize(point)
    return int(x).to_bytes(32, "big") + int(y).to_bytes(32, "big")


def bn_g2(point) -> bytes:
    if bn.is_inf(point):
        return bytes(128)
    x, y = bn.normalize(point)
    return b"".join(
        int(c).to_bytes(32, "big") for c in (x.coeffs[1], x.coeffs[0], y.coeffs[1], y.coeffs[0])
    )


def bn_pairing_input(pairs: list[tuple]) -> bytes:
    return b"".join(bn_g1(p) + bn_g2(q) for p, q in pairs)


def bn_true_pairs(rng: random.Random, count: int) -> list[tuple]:
    """``count`` (G1, G2) pairs (count even) whose pairing product is one:
    e(aP, bQ) * e(-abP, Q) for random a, b."""
    pairs = []
    for _ in range(count // 2):
        a, b = rng.randrange(1, bn.curve_order), rng.randrange(1, bn.curve_order)
        pairs.append((bn.multiply(bn.G1, a), bn.multiply(bn.G2, b)))
        pairs.append((bn.neg(bn.multiply(bn.G1, a * b % bn.curve_order)), bn.G2))
    return pairs


# -- BLS12-381: 64-byte coordinates; an Fp2 element is c0 then c1 -- #


def fp(value: int) -> bytes:
    return value.to_bytes(64, "big")


def bls_g1(point) -> bytes:
    if bls.is_inf(point):
        return bytes(128)
    x, y = bls.normalize(point)
    return fp(int(x)) + fp(int(y))


def bls_g2(point) -> bytes:
    if bls.is_inf(point):
        return bytes(256)
    x, y = bls.normalize(point)
    return b"".join(fp(int(c)) for c in (*x.coeffs, *y.coeffs))


def bls_true_pairs(rng: random.Random, count: int) -> list[tuple]:
    pairs = []
    for _ in range(count // 2):
        a, b = rng.randrange(1, bls.curve_order), rng.randrange(1, bls.curve_order)
        pairs.append((bls.multiply(bls.G1, a), bls.multiply(bls.G2, b)))
        pairs.append((bls.neg(bls.multiply(bls.G1, a * b % bls.curve_order)), bls.G2))
    return pairs


def bls_pairing_input(pairs: list[tuple]) -> bytes:
    return b"".join(bls_g1(p) + bls_g2(q) for p, q in pairs)


# -- square roots, for points on a curve but outside its prime-order subgroup -- #


def sqrt_fp(value: int, p: int) -> int | None:
    """A square root mod p (p = 3 mod 4, as for both curves), or None."""
    root = pow(value, (p + 1) // 4, p)
    return root if root * root % p == value % p else None


def sqrt_fp2(a0: int, a1: int, p: int) -> tuple[int, int] | None:
    """A square root of a0 + a1*i in Fp2 = Fp[i]/(i^2 + 1), or None."""
    norm = sqrt_fp((a0 * a0 + a1 * a1) % p, p)
    if norm is None:
        return None
    half = pow(2, -1, p)
    for candidate in ((a0 + norm) * half % p, (a0 - norm) * half % p):
        x0 = sqrt_fp(candidate, p)
        if x0:
            x1 = a1 * pow(2 * x0, -1, p) % p
            if ((x0 * x0 - x1 * x1) % p, 2 * x0 * x1 % p) == (a0 % p, a1 % p):
                return x0, x1
    return None


def fp2_cube_plus(x: tuple[int, int], b: tuple[int, int], p: int) -> tuple[int, int]:
    """x^3 + b in Fp2."""
    x0, x1 = x
    s0, s1 = (x0 * x0 - x1 * x1) % p, 2 * x0 * x1 % p
    c0, c1 = (s0 * x0 - s1 * x1) % p, (s0 * x1 + s1 * x0) % p
    return (c0 + b[0]) % p, (c1 + b[1]) % p


def g1_outside_subgroup(x_start: int, p: int, b: int) -> tuple[int, int]:
    """The first (x, y) on y^2 = x^3 + b from ``x_start`` (BN254's G1 has no cofactor:
    used for BLS12-381, where almost no curve point is in the subgroup)."""
    x = x_start
    while (y := sqrt_fp((x**3 + b) % p, p)) is None:
        x += 1
    return x, y


def g2_on_twist(x_start: int, p: int, b2: tuple[int, int]) -> tuple[tuple, tuple]:
    """The first point ((x0, x1), (y0, y1)) of the twist y^2 = x^3 + b2 with x = (x_start+k, 1)."""
    x = (x_start, 1)
    while (y := sqrt_fp2(*fp2_cube_plus(x, b2, p), p)) is None:
        x = (x[0] + 1, 1)
    return x, y


BN_B2 = tuple(int(c) for c in bn.b2.coeffs)
BLS_B2 = tuple(int(c) for c in bls.b2.coeffs)


def bn_g2_outside_subgroup() -> bytes:
    """A point of BN254's twist that is not in G2 (checked with py_ecc), encoded."""
    (x0, x1), (y0, y1) = g2_on_twist(5, BN_P, BN_B2)
    point = (bn.FQ2([x0, x1]), bn.FQ2([y0, y1]), bn.FQ2.one())
    assert bn.is_on_curve(point, bn.b2)
    assert not bn.is_inf(bn.multiply(point, bn.curve_order))
    return b"".join(c.to_bytes(32, "big") for c in (x1, x0, y1, y0))


def bls_g1_outside_subgroup() -> bytes:
    x, y = g1_outside_subgroup(5, BLS_P, 4)
    point = (bls.FQ(x), bls.FQ(y), bls.FQ.one())
    assert bls.is_on_curve(point, bls.b)
    assert not bls.is_inf(bls.multiply(point, bls.curve_order))
    return fp(x) + fp(y)


def bls_g2_outside_subgroup() -> bytes:
    (x0, x1), (y0, y1) = g2_on_twist(5, BLS_P, BLS_B2)
    point = (bls.FQ2([x0, x1]), bls.FQ2([y0, y1]), bls.FQ2.one())
    assert bls.is_on_curve(point, bls.b2)
    assert not bls.is_inf(bls.multiply(point, bls.curve_order))
    return b"".join(fp(c) for c in (x0, x1, y0, y1))
