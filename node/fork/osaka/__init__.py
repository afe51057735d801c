"""The devnet's Osaka: its Prague classes plus Osaka's EIPs (py-evm 0.12.1b1 has no Osaka).

- EIP-7939 CLZ (``node.fork.osaka.opcodes``);
- EIP-7951 P256VERIFY at 0x100, EIP-7823 MODEXP bounds, EIP-7883 MODEXP pricing
  (``node.fork.osaka.precompiles``);
- EIP-7825 transaction gas cap, EIP-7934 block RLP size cap, EIP-7918 blob base fee
  (``node.fork.osaka.rules``).

Every Osaka class subclasses the devnet's Prague class of the same role, so a fork schedule
(``node.fork.schedule``) can run either on the same chain. The L1 variant is
``node.fork.osaka.l1``.
"""

from __future__ import annotations

from node.fork import DevnetPragueVM, DevnetState
from node.fork.osaka.opcodes import OSAKA_NEW_OPCODES
from node.fork.osaka.precompiles import OSAKA_PRECOMPILE_CHANGES
from node.fork.osaka.rules import OsakaStateRules, OsakaVMRules
from node.fork.precompiles import DevnetPragueComputation


def osaka_computation(base: type, name: str) -> type:
    """``base`` (a Prague computation class) with Osaka's opcodes and precompiles."""
    return type(
        name,
        (base,),
        {
            "opcodes": {**base.opcodes, **OSAKA_NEW_OPCODES},
            "_precompiles": {**base._precompiles, **OSAKA_PRECOMPILE_CHANGES},
        },
    )


DevnetOsakaComputation = osaka_computation(DevnetPragueComputation, "DevnetOsakaComputation")


class DevnetOsakaState(OsakaStateRules, DevnetState):
    computation_class = DevnetOsakaComputation


class DevnetOsakaVM(OsakaVMRules, DevnetPragueVM):
    fork = "osaka"
    _state_class = DevnetOsakaState


class L2OsakaVM(DevnetOsakaVM):
    """A native-rollup L2 under Osaka: only blocks EXECUTE can settle."""

    refuse_execution_requests = True
