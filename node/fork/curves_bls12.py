"""The BLS12-381 precompiles of EIP-2537 (0x0b..0x11), computed natively.

The curve arithmetic, subgroup checks, maps to the curve and pairings are arkworks' (the
maintained Rust library, through ``py-arkworks-bls12381``); the input rules and gas are
written here, the same as py-evm's Prague precompiles:

- a field element is 64 bytes, big-endian, and must be below the modulus p (so its top 16
  bytes are zero); an Fp2 element is c0 then c1;
- a G1 point is x then y (128 bytes), a G2 point x then y in Fp2 (256 bytes); all zeros is
  the point at infinity; any other point must be on the curve;
- ADD takes any points on the curve; MSM and the pairing check also need each point in the
  prime-order subgroup; an MSM scalar is any 32-byte big-endian number;
- a wrong input length, a bad field element or point is an exceptional halt (``VMError``):
  the call consumes all the gas it was given.

py-evm's pure-Python precompiles stay the reference (``node.fork.precompiles``
``PRAGUE_PRECOMPILES``); tests compare both on random and crafted inputs.
"""

from __future__ import annotations

from collections.abc import Callable

from eth.abc import ComputationAPI
from eth.exceptions import VMError
from eth.precompiles.bls12_381.constants import (
    BLS12_G1_ADD_GAS,
    BLS12_G1_MSM_GAS,
    BLS12_G2_ADD_GAS,
    BLS12_G2_MSM_GAS,
    BLS12_MAP_FP2_G2_GAS,
    BLS12_MAP_FP_G1_GAS,
    G1_MSM_DISCOUNTS,
    G1_MSM_MAX_DISCOUNT,
    G2_MSM_DISCOUNTS,
    G2_MSM_MAX_DISCOUNT,
    MSM_MULTIPLIER,
)
from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar
from py_ecc.optimized_bls12_381.optimized_curve import field_modulus as FIELD_MODULUS

G1ADD_ADDRESS = (0x0B).to_bytes(20, "big")
G1MSM_ADDRESS = (0x0C).to_bytes(20, "big")
G2ADD_ADDRESS = (0x0D).to_bytes(20, "big")
G2MSM_ADDRESS = (0x0E).to_bytes(20, "big")
PAIRING_CHECK_ADDRESS = (0x0F).to_bytes(20, "big")
MAP_FP_TO_G1_ADDRESS = (0x10).to_bytes(20, "big")
MAP_FP2_TO_G2_ADDRESS = (0x11).to_bytes(20, "big")

FP_SIZE = 64  # an Fp element in EIP-2537's encoding (48 significant bytes)
FP_BYTES = 48  # its significant bytes, arkworks' encoding
FP2_SIZE = 2 * FP_SIZE
G1_SIZE = 2 * FP_SIZE
G2_SIZE = 2 * FP2_SIZE
SCALAR_SIZE = 32
PAIRING_PAIR_SIZE = G1_SIZE + G2_SIZE
PAIRING_BASE_GAS = 37_700
PAIRING_PER_PAIR_GAS = 32_600
TRUE_WORD = (1).to_bytes(32, "big")
FALSE_WORD = bytes(32)


# -- encoding -- #


def fp_bytes(encoded: bytes, what: str) -> bytes:
    """The 48 significant bytes of a 64-byte field element; ``VMError`` unless it is < p."""
    value = int.from_bytes(encoded, "big")
    if value >= FIELD_MODULUS:
        raise VMError(f"{what} >= field modulus")
    return value.to_bytes(FP_BYTES, "big")


def coordinates(encoded: bytes, what: str) -> bytes:
    """arkworks' encoding (48 bytes each) of consecutive 64-byte field elements."""
    return b"".join(
        fp_bytes(encoded[i : i + FP_SIZE], what) for i in range(0, len(encoded), FP_SIZE)
    )


def encode(point: G1Point | G2Point) -> bytes:
    """EIP-2537's encoding of a point (infinity is all zeros, as arkworks writes it)."""
    raw = point.to_xy_bytes_be()
    return b"".join(
        bytes(FP_SIZE - FP_BYTES) + raw[i : i + FP_BYTES] for i in range(0, len(raw), FP_BYTES)
    )


def decode(kind: type, encoded: bytes, subgroup: bool) -> G1Point | G2Point:
    """A point of ``kind`` (G1Point or G2Point): on the curve, and in the subgroup when
    ``subgroup``; ``VMError`` otherwise."""
    name = kind.__name__[:2]
    raw = coordinates(encoded, f"{name} coordinate")
    try:
        if subgroup:
            return kind.from_xy_bytes_be(raw)
        return kind.from_xy_bytes_unchecked_be(raw)
    except Exception:  # arkworks' refusal of these bytes (a ValueError): the input's fault
        raise VMError(
            f"{name} point is not on the curve" + (" or not in the subgroup" if subgroup else "")
        ) from None


def require_length(data: bytes, size: int, name: str) -> None:
    if len(data) != size:
        raise VMError(f"Length of data must be {size} bytes for {name}")


def require_multiple(data: bytes, size: int, name: str) -> int:
    """The number of ``size``-byte items in ``data``: at least one, no remainder."""
    if len(data) == 0 or len(data) % size:
        raise VMError(f"Length of data must be a non-zero multiple of {size} bytes for {name}")
    return len(data) // size


def msm_gas(pairs: int, per_pair: int, discounts: list[int], max_discount: int) -> int:
    """EIP-2537's MSM price: ``k * per_pair * discount(k) // 1000``."""
    discount = discounts[pairs - 1] if pairs <= len(discounts) else max_discount
    return pairs * per_pair * discount // MSM_MULTIPLIER


# -- the precompiles -- #


def add(kind: type, size: int, gas: int, name: str) -> Callable[[ComputationAPI], None]:
    """G1ADD or G2ADD: the sum of two points on the curve (no subgroup check)."""

    def precompile(computation: ComputationAPI) -> None:
        data = bytes(computation.msg.data)
        require_length(data, 2 * size, name)
        computation.consume_gas(gas, reason=f"{name} gas")
        first = decode(kind, data[:size], subgroup=False)
        second = decode(kind, data[size:], subgroup=False)
        computation.output = encode(first + second)

    precompile.__name__ = name.lower()
    return precompile


def msm(
    kind: type, size: int, per_pair: int, discounts: list[int], max_discount: int, name: str
) -> Callable[[ComputationAPI], None]:
    """G1MSM or G2MSM: the sum of scalar * point over (point, scalar) pairs, each point in
    the subgroup, priced with EIP-2537's discount table."""
    pair_size = size + SCALAR_SIZE

    def precompile(computation: ComputationAPI) -> None:
        data = bytes(computation.msg.data)
        pairs = require_multiple(data, pair_size, name)
        computation.consume_gas(
            msm_gas(pairs, per_pair, discounts, max_discount), reason=f"{name} gas"
        )
        points, scalars = [], []
        for start in range(0, len(data), pair_size):
            points.append(decode(kind, data[start : start + size], subgroup=True))
            # A subgroup point has order r, so the scalar counts modulo r.
            scalars.append(Scalar.from_be_bytes_mod_order(data[start + size : start + pair_size]))
        computation.output = encode(kind.multiexp_unchecked(points, scalars))

    precompile.__name__ = name.lower()
    return precompile


def pairing_check(computation: ComputationAPI) -> None:
    """0x0f: 1 if the product of the pairings of the (G1, G2) pairs is one, else 0."""
    data = bytes(computation.msg.data)
    pairs = require_multiple(data, PAIRING_PAIR_SIZE, "BLS12_PAIRING_CHECK")
    computation.consume_gas(
        PAIRING_BASE_GAS + pairs * PAIRING_PER_PAIR_GAS, reason="BLS12_PAIRING_CHECK gas"
    )
    g1s, g2s = [], []
    for start in range(0, len(data), PAIRING_PAIR_SIZE):
        g1s.append(decode(G1Point, data[start : start + G1_SIZE], subgroup=True))
        g2s.append(
            decode(G2Point, data[start + G1_SIZE : start + PAIRING_PAIR_SIZE], subgroup=True)
        )
    computation.output = TRUE_WORD if GT.pairing_check(g1s, g2s) else FALSE_WORD


def map_fp_to_g1(computation: ComputationAPI) -> None:
    """0x10: an Fp element mapped to G1 (simplified SWU, isogeny, cofactor cleared)."""
    data = bytes(computation.msg.data)
    require_length(data, FP_SIZE, "BLS12_MAP_FP_TO_G1")
    computation.consume_gas(BLS12_MAP_FP_G1_GAS, reason="BLS12_MAP_FP_TO_G1 gas")
    computation.output = encode(G1Point.map_from_fp_be(fp_bytes(data, "coordinate")))


def map_fp2_to_g2(computation: ComputationAPI) -> None:
    """0x11: an Fp2 element mapped to G2 (simplified SWU, isogeny, cofactor cleared)."""
    data = bytes(computation.msg.data)
    require_length(data, FP2_SIZE, "BLS12_MAP_FP2_TO_G2")
    computation.consume_gas(BLS12_MAP_FP2_G2_GAS, reason="BLS12_MAP_FP2_TO_G2 gas")
    computation.output = encode(G2Point.map_from_fp2_be(coordinates(data, "coordinate")))


g1_add = add(G1Point, G1_SIZE, BLS12_G1_ADD_GAS, "BLS12_G1ADD")
g2_add = add(G2Point, G2_SIZE, BLS12_G2_ADD_GAS, "BLS12_G2ADD")
g1_msm = msm(
    G1Point, G1_SIZE, BLS12_G1_MSM_GAS, G1_MSM_DISCOUNTS, G1_MSM_MAX_DISCOUNT, "BLS12_G1MSM"
)
g2_msm = msm(
    G2Point, G2_SIZE, BLS12_G2_MSM_GAS, G2_MSM_DISCOUNTS, G2_MSM_MAX_DISCOUNT, "BLS12_G2MSM"
)

BLS12_PRECOMPILES = {
    G1ADD_ADDRESS: g1_add,
    G1MSM_ADDRESS: g1_msm,
    G2ADD_ADDRESS: g2_add,
    G2MSM_ADDRESS: g2_msm,
    PAIRING_CHECK_ADDRESS: pairing_check,
    MAP_FP_TO_G1_ADDRESS: map_fp_to_g1,
    MAP_FP2_TO_G2_ADDRESS: map_fp2_to_g2,
}
