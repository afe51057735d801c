"""The devnet's Prague state: py-evm's, with transaction validation completed."""

from __future__ import annotations

from eth.abc import SignedTransactionAPI
from eth.vm.forks.prague.state import PragueState
from eth_typing import Hash32
from eth_utils.toolz import nth

from node.errors import MissingAncestorHash
from node.fork.account_db import BatchAccountDB
from node.fork.precompiles import DevnetPragueComputation
from node.fork.validation import validate_against_state, validate_static

BLOCKHASH_WINDOW = 256


class DevnetPragueState(PragueState):
    """Prague state whose ``validate_transaction`` applies every rule of
    ``node.fork.validation`` before py-evm's own (which then can only agree), and whose
    computations run the devnet's precompile table (``node.fork.precompiles``)."""

    computation_class = DevnetPragueComputation
    # State and storage roots made by batches (node.fork.account_db).
    account_db_class = BatchAccountDB

    # The oldest block number BLOCKHASH asked for (execution witnesses need its header).
    oldest_ancestor_read: int | None = None

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        validate_static(
            transaction, self.execution_context.chain_id, self.execution_context.gas_limit
        )
        validate_against_state(self, transaction, self.execution_context.base_fee_per_gas)
        super().validate_transaction(transaction)

    def get_ancestor_hash(self, block_number: int) -> Hash32:
        """BLOCKHASH: zero outside the 256-block window, an error when a hash inside the
        window is unknown (py-evm answers zero, silently giving a wrong result)."""
        depth = self.block_number - block_number - 1
        if depth < 0 or depth >= BLOCKHASH_WINDOW or block_number < 0:
            return Hash32(b"")
        try:
            ancestor = nth(depth, self.execution_context.prev_hashes)
        except StopIteration:
            raise MissingAncestorHash(block_number) from None
        if self.oldest_ancestor_read is None or block_number < self.oldest_ancestor_read:
            self.oldest_ancestor_read = block_number
        return ancestor
