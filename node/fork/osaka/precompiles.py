"""Osaka's precompile changes: EIP-7951 P256VERIFY at 0x100, EIP-7823 MODEXP input bounds and
EIP-7883 MODEXP pricing.

P256VERIFY verifies with the ``cryptography`` package (OpenSSL's secp256r1). The input rules
of EIP-7951 are checked here first, each one explicitly, so that the answer never depends on
what OpenSSL happens to accept: exactly 160 bytes, ``0 < r, s < n``, ``0 <= qx, qy < p``,
``(qx, qy)`` on the curve and not the point at infinity. Any failure is an empty output with
the gas charged, as the EIP says (never a halt).
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth.abc import ComputationAPI
from eth.exceptions import VMError
from eth.precompiles.modexp import extract_lengths
from eth_utils import big_endian_to_int

from node.fork.osaka.constants import (
    MODEXP_MAX_LENGTH,
    MODEXP_MIN_GAS,
    P256VERIFY_ADDRESS_INT,
    P256VERIFY_GAS,
    P256VERIFY_INPUT_LENGTH,
)

# secp256r1 (FIPS 186-4 P-256): field prime, group order, curve y^2 = x^3 + a x + b.
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_A = P256_P - 3
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B

P256VERIFY_ADDRESS = P256VERIFY_ADDRESS_INT.to_bytes(20, "big")
MODEXP_ADDRESS = (5).to_bytes(20, "big")
VALID = (1).to_bytes(32, "big")

_ECDSA_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


def p256_on_curve(x: int, y: int) -> bool:
    return (y * y - (x * x * x + P256_A * x + P256_B)) % P256_P == 0


def p256_verify(data: bytes) -> bool:
    """EIP-7951's verification of ``h || r || s || qx || qy`` (five 32-byte words)."""
    if len(data) != P256VERIFY_INPUT_LENGTH:
        return False
    h = data[:32]
    r, s, qx, qy = (big_endian_to_int(data[i : i + 32]) for i in range(32, 160, 32))
    if not (0 < r < P256_N and 0 < s < P256_N):
        return False
    if not (qx < P256_P and qy < P256_P):
        return False
    if qx == 0 and qy == 0:  # the point at infinity's encoding
        return False
    if not p256_on_curve(qx, qy):
        return False
    try:
        key = ec.EllipticCurvePublicNumbers(qx, qy, ec.SECP256R1()).public_key()
        key.verify(encode_dss_signature(r, s), h, _ECDSA_PREHASHED)
    except (InvalidSignature, ValueError):
        return False
    return True


def p256verify(computation: ComputationAPI) -> ComputationAPI:
    """The precompile: 6900 gas; 32 bytes holding 1 on success, empty output otherwise."""
    computation.consume_gas(P256VERIFY_GAS, reason="P256VERIFY Precompile")
    data = computation.msg.data_as_bytes
    computation.output = VALID if p256_verify(data) else b""
    return computation


class ModexpInputTooLarge(VMError):
    """EIP-7823: a MODEXP length field above 1024 bytes; the call fails with all gas."""


def _exponent_head(data: bytes, base_length: int, exponent_length: int) -> int:
    start = 96 + base_length
    head = data[start : start + min(exponent_length, 32)]
    return big_endian_to_int(head.ljust(min(exponent_length, 32), b"\x00"))


def modexp_gas_osaka(data: bytes) -> int:
    """EIP-7883: max(500, complexity * iterations), no divisor."""
    base_length, exponent_length, modulus_length = extract_lengths(data)
    max_length = max(base_length, modulus_length)
    words = (max_length + 7) // 8
    complexity = 16 if max_length <= 32 else 2 * words * words
    head = _exponent_head(data, base_length, exponent_length)
    bits = max(head.bit_length() - 1, 0)
    if exponent_length <= 32:
        iterations = bits
    else:
        iterations = 16 * (exponent_length - 32) + bits
    return max(MODEXP_MIN_GAS, complexity * max(iterations, 1))


def modexp_osaka(computation: ComputationAPI) -> ComputationAPI:
    data = computation.msg.data_as_bytes
    base_length, exponent_length, modulus_length = extract_lengths(data)
    if max(base_length, exponent_length, modulus_length) > MODEXP_MAX_LENGTH:
        raise ModexpInputTooLarge(
            f"MODEXP lengths {base_length}/{exponent_length}/{modulus_length} above "
            f"{MODEXP_MAX_LENGTH} bytes (EIP-7823)"
        )
    computation.consume_gas(modexp_gas_osaka(data), reason="MODEXP Precompile")
    computation.output = modexp_output(data, base_length, exponent_length, modulus_length)
    return computation


def _read(data: bytes, start: int, length: int) -> int:
    """The big-endian number at ``data[start:start+length]``, zero-padded on the right."""
    chunk = data[start : start + length]
    return big_endian_to_int(chunk + bytes(length - len(chunk)))


def modexp_output(
    data: bytes, base_length: int, exponent_length: int, modulus_length: int
) -> bytes:
    """``base ** exponent % modulus`` in ``modulus_length`` bytes, as the execution specs
    and geth compute it: a zero-length base is 0, and 0 ** 0 is 1 (py-evm's ``_modexp``
    answers 0 for any zero-length base, so this does not reuse it)."""
    if base_length == 0 and modulus_length == 0:
        return b""
    base = _read(data, 96, base_length)
    exponent = _read(data, 96 + base_length, exponent_length)
    modulus = _read(data, 96 + base_length + exponent_length, modulus_length)
    if modulus == 0:
        return bytes(modulus_length)
    return pow(base, exponent, modulus).to_bytes(modulus_length, "big")


OSAKA_PRECOMPILE_CHANGES: Mapping[bytes, object] = {
    MODEXP_ADDRESS: modexp_osaka,
    P256VERIFY_ADDRESS: p256verify,
}
