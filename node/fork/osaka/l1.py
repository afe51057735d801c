"""The L1 under Osaka: the devnet's L1 (EXECUTE at 0x0101, the execute-gas market, the
delayed state root) with Osaka's opcodes, precompiles and rules, as ``node.fork.l1`` builds
the L1 Prague from the devnet's Prague. P256VERIFY sits at 0x0100, next to EXECUTE.
"""

from __future__ import annotations

from node.fork.l1 import L1PragueComputation, L1PragueState, L1PragueVM
from node.fork.osaka import osaka_computation
from node.fork.osaka.rules import OsakaStateRules, OsakaVMRules

L1OsakaComputation = osaka_computation(L1PragueComputation, "L1OsakaComputation")


class L1OsakaState(OsakaStateRules, L1PragueState):
    computation_class = L1OsakaComputation


class L1OsakaVM(OsakaVMRules, L1PragueVM):
    fork = "osaka"
    _state_class = L1OsakaState
