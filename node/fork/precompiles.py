"""The precompiles of each fork: one address -> implementation table per fork.

A precompile is a function of a py-evm computation (it reads ``computation.msg.data``,
charges gas and sets ``computation.output``), and a fork's computation class runs the
table in its ``_precompiles`` attribute, as py-evm's own forks do. The tables:

- ``PRAGUE_PRECOMPILES``: py-evm's Prague, untouched (pure Python; the reference the
  native curve precompiles are tested against);
- ``DEVNET_PRECOMPILES``: Prague with MODEXP's output fixed (``modexp_prague``), the BN254
  (0x06-0x08, ``node.fork.curves_bn254``) and BLS12-381 (0x0b-0x11,
  ``node.fork.curves_bls12``) precompiles computed natively, with the same input rules and
  gas; the devnet's Prague and the L2 run it, and so does
  EXECUTE's re-execution;
- the L1 adds EXECUTE at 0x0101 to it (``node.fork.l1.L1_PRECOMPILES``).

Adding a precompile is one table entry: ``with_precompiles(vm_class, {address: impl})``
gives a fork whose calls to ``address`` run ``impl``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from eth._utils.address import force_bytes_to_address
from eth.abc import ComputationAPI
from eth.precompiles.modexp import extract_lengths
from eth.vm.forks.berlin.computation import _compute_modexp_gas_fee_eip_2565
from eth.vm.forks.prague.computation import PragueComputation

from node.fork.curves_bls12 import BLS12_PRECOMPILES
from node.fork.curves_bn254 import BN254_PRECOMPILES

Precompile = Callable[[ComputationAPI], ComputationAPI]

PRAGUE_PRECOMPILES: Mapping[bytes, Precompile] = dict(PragueComputation._precompiles)

NATIVE_CURVE_PRECOMPILES: Mapping[bytes, Precompile] = {
    **BN254_PRECOMPILES,
    **BLS12_PRECOMPILES,
}

MODEXP_ADDRESS = force_bytes_to_address(b"\x05")


def modexp_prague(computation: ComputationAPI) -> ComputationAPI:
    """MODEXP with Prague's gas (EIP-2565) and its output as the execution specs and geth
    compute it: py-evm's answers 0 for an empty base with exponent 0, where 0 ** 0 is 1.
    Consensus-relevant twice: in the devnet's Prague blocks and in EXECUTE's re-execution
    of Prague L2 blocks."""
    from node.fork.osaka.precompiles import modexp_output  # the rule both forks share

    data = computation.msg.data_as_bytes
    computation.consume_gas(_compute_modexp_gas_fee_eip_2565(data), reason="MODEXP Precompile")
    computation.output = modexp_output(data, *extract_lengths(data))
    return computation


DEVNET_PRECOMPILES: Mapping[bytes, Precompile] = {
    **PRAGUE_PRECOMPILES,
    **NATIVE_CURVE_PRECOMPILES,
    MODEXP_ADDRESS: modexp_prague,
}


class DevnetPragueComputation(PragueComputation):
    """Prague's computation running the devnet's precompile table."""

    _precompiles = DEVNET_PRECOMPILES


def with_precompiles(vm_class: type, precompiles: Mapping[bytes, Precompile]) -> type:
    """``vm_class`` whose computations also run ``precompiles`` (an entry for an existing
    address replaces it). The fork's other rules are ``vm_class``'s."""
    state_class = vm_class.get_state_class()
    base = state_class.computation_class
    computation_class = type(
        base.__name__, (base,), {"_precompiles": {**base._precompiles, **precompiles}}
    )
    state = type(state_class.__name__, (state_class,), {"computation_class": computation_class})
    return type(vm_class.__name__, (vm_class,), {"_state_class": state})
