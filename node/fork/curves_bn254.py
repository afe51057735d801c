"""The BN254 (alt_bn128) precompiles of EIP-196 and EIP-197, computed natively.

``ecadd`` (0x06), ``ecmul`` (0x07) and ``ecpairing`` (0x08) charge py-evm's Istanbul gas
(EIP-1108) exactly as py-evm's own precompiles do, then hand the input to revm's
precompiles (the Rust EVM of reth, through its maintained Python binding ``pyrevm``),
which implement the EIPs' input rules: a short input is right-padded with zeros and a long
one truncated (add, mul), a pairing input must be a multiple of 192 bytes, a coordinate must
be below the field modulus, a point must be on the curve and, for G2, in the subgroup, and
(0, 0) is the point at infinity. A rejected input is an exceptional halt (``VMError``): the
call consumes all the gas it was given, as on Ethereum.

py-evm's pure-Python precompiles stay the reference (``node.fork.precompiles``
``PRAGUE_PRECOMPILES``); tests compare both on random and crafted inputs.
"""

from __future__ import annotations

import pyrevm
from eth.abc import ComputationAPI
from eth.exceptions import VMError
from eth.vm.forks.istanbul.constants import (
    GAS_ECADD,
    GAS_ECMUL,
    GAS_ECPAIRING_BASE,
    GAS_ECPAIRING_PER_POINT,
)

ECADD_ADDRESS = (0x06).to_bytes(20, "big")
ECMUL_ADDRESS = (0x07).to_bytes(20, "big")
ECPAIRING_ADDRESS = (0x08).to_bytes(20, "big")
PAIR_SIZE = 192  # a G1 point (64 bytes) and a G2 point (128 bytes)

ECADD_INPUT = 128  # two points; longer inputs are truncated, shorter ones zero-padded
ECMUL_INPUT = 96  # a point and a scalar

# revm runs a plain message call to the precompile; the gas it is given only has to cover
# its own accounting (the devnet has charged the caller already), so it is never the bound.
# pyrevm names accounts by hex strings: the one place the chain core writes hex, at this
# library's boundary.
REVM_GAS = 2**62
REVM_CALLER = "0x" + (0xC0DE).to_bytes(20, "big").hex()
REVM_SPEC = "PRAGUE"


class NativeCurveFailure(RuntimeError):
    """The native library failed for a reason other than a rejected input (a defect, not
    an exceptional halt: it must not be charged to the caller as one)."""


def run_revm_precompile(address: bytes, data: bytes) -> bytes:
    """The output of revm's precompile at ``address`` on ``data``; ``VMError`` if revm
    rejects the input. A fresh in-memory EVM per call (about 2 µs): nothing accumulates in
    a shared journal and no EVM object crosses threads or forked worker processes."""
    evm = pyrevm.EVM(spec_id=REVM_SPEC)
    try:
        return bytes(
            evm.message_call(
                caller=REVM_CALLER, to="0x" + address.hex(), calldata=bytes(data), gas=REVM_GAS
            )
        )
    except RuntimeError as error:
        if "PrecompileError" in str(error):
            raise VMError(f"invalid input for BN254 precompile 0x{address[-1]:02x}") from None
        raise NativeCurveFailure(
            f"revm failed on precompile 0x{address[-1]:02x}: {error}"
        ) from error


def ecadd(computation: ComputationAPI) -> ComputationAPI:
    """0x06: the sum of two G1 points."""
    computation.consume_gas(GAS_ECADD, reason="ECADD Precompile")
    data = computation.msg.data[:ECADD_INPUT]  # what revm would read of a longer input
    computation.output = run_revm_precompile(ECADD_ADDRESS, data)
    return computation


def ecmul(computation: ComputationAPI) -> ComputationAPI:
    """0x07: a G1 point times a 256-bit scalar."""
    computation.consume_gas(GAS_ECMUL, reason="ECMUL Precompile")
    data = computation.msg.data[:ECMUL_INPUT]
    computation.output = run_revm_precompile(ECMUL_ADDRESS, data)
    return computation


def ecpairing(computation: ComputationAPI) -> ComputationAPI:
    """0x08: 1 if the product of the pairings of the (G1, G2) pairs is one, else 0."""
    data = computation.msg.data
    if len(data) % PAIR_SIZE:
        raise VMError("Invalid ECPAIRING parameters: length is not a multiple of 192")
    pairs = len(data) // PAIR_SIZE
    computation.consume_gas(
        GAS_ECPAIRING_BASE + pairs * GAS_ECPAIRING_PER_POINT, reason="ECPAIRING Precompile"
    )
    computation.output = run_revm_precompile(ECPAIRING_ADDRESS, data)
    return computation


BN254_PRECOMPILES = {
    ECADD_ADDRESS: ecadd,
    ECMUL_ADDRESS: ecmul,
    ECPAIRING_ADDRESS: ecpairing,
}
