"""The devnet's Prague state: py-evm's, with transaction validation completed."""

from __future__ import annotations

from eth.abc import SignedTransactionAPI
from eth.vm.forks.prague.state import PragueState

from node.fork.validation import validate_against_state, validate_static


class DevnetPragueState(PragueState):
    """Prague state whose ``validate_transaction`` applies every rule of
    ``node.fork.validation`` before py-evm's own (which then can only agree)."""

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        validate_static(
            transaction, self.execution_context.chain_id, self.execution_context.gas_limit
        )
        validate_against_state(self, transaction)
        super().validate_transaction(transaction)
