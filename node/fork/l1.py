"""The L1 fork: the devnet's Prague plus the EXECUTE precompile of native rollups.

The L2 blocks that EXECUTE re-executes follow the devnet's own Prague rules minus EXECUTE
(``DevnetPragueVM``): no nested EXECUTE on the L2 in v1.
"""

from __future__ import annotations

from eth.vm.forks.prague.computation import PragueComputation

from node.fork import DevnetPragueVM
from node.fork.state import DevnetPragueState
from precompiles.execute import EXECUTE_ADDRESS, make_execute_precompile

execute_precompile = make_execute_precompile(l2_vm_class=DevnetPragueVM)


class L1PragueComputation(PragueComputation):
    _precompiles = {**PragueComputation._precompiles, EXECUTE_ADDRESS: execute_precompile}


class L1PragueState(DevnetPragueState):
    computation_class = L1PragueComputation


class L1PragueVM(DevnetPragueVM):
    _state_class = L1PragueState
