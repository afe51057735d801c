"""The devnet fork: py-evm's Prague, subclassed the way py-evm extends its own forks.

Fixes to py-evm 0.12.1b1 that live here (each has a test that fails on stock py-evm):
- transaction validation completed (chain id, EIP-3607, fee caps, EIP-7623 floor,
  EIP-3860 init code) — ``node.fork.validation`` via ``DevnetPragueState``;
- receipt gas when the EIP-7623 floor applies and the refund cap binds
  (``finalize_gas_used``);
- the gas limit stays pinned (``create_devnet_header_from_parent``).

Builder-only behaviour (leaving out invalid transactions, refusals) is ``node.fork.builder``,
mixed in as ``BuilderMode``; the precompiles of each fork are ``node.fork.precompiles``.
"""

from __future__ import annotations

from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    SignedTransactionAPI,
    StateAPI,
)
from eth.vm.forks.prague import PragueVM

from node.fork.builder import BuilderMode
from node.fork.headers import create_devnet_header_from_parent
from node.fork.state import DevnetPragueState
from node.fork.system_calls import KeepSystemContracts

REFUND_QUOTIENT = 5  # EIP-3529


class DevnetState(KeepSystemContracts, DevnetPragueState):
    """The devnet's Prague state without py-evm's identical system-contract rewrite."""


class DevnetPragueVM(BuilderMode, PragueVM):
    fork = "prague"
    _state_class = DevnetState
    create_header_from_parent = staticmethod(create_devnet_header_from_parent)  # type: ignore

    def finalize_block(self, block: BlockAPI):
        result = super().finalize_block(block)
        # The root of the state after this block, whatever the header carries (see the
        # delayed state root of the L1 fork).
        self.post_state_root = result.block.header.state_root
        return result

    @classmethod
    def prepare_simulation_state(cls, state: StateAPI, head: BlockHeaderAPI) -> None:
        """Ready a throw-away state (``eth_call`` and friends) to run a call in the block
        after ``head``. The devnet's Prague needs nothing more; forks extend it."""

    @classmethod
    def finalize_gas_used(
        cls, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> int:
        # gas used = max(floor, used - min(used // 5, refund)); py-evm caps the refund at a
        # fifth of (used + floor top-up) instead, under-reporting receipts and block gas.
        used = transaction.gas - computation.get_gas_remaining()
        refund = min(used // REFUND_QUOTIENT, computation.get_gas_refund())
        return used - refund + computation.data_floor_gas


class L2PragueVM(DevnetPragueVM):
    """A native-rollup L2: the devnet's Prague, building only blocks EXECUTE can settle."""

    refuse_execution_requests = True
