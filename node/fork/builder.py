"""Builder mode: what only the node that builds a block does, kept apart from the fork's
rules (which every importer of the block applies).

In builder mode one invalid transaction never aborts a block: it is left out and reported
(``SkippedTransaction``), while the block still goes through py-evm's full ``import_block``
pipeline. A transaction the block must not hold (``refusal``, e.g. one that enqueues an
execution request on a native-rollup L2) is rolled back after it ran. The block builder
turns the mode on for its own VM instance only (``skip_invalid_transactions``); forks
extend the hooks (``observe_before``, ``refusal``, ``checkpoint_outside_journal``,
``restore_outside_journal``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    WithdrawalAPI,
)
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    WITHDRAWAL_REQUEST_COUNT_STORAGE_SLOT,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
)
from eth_utils import ValidationError

from node.errors import InvalidTransaction, TxRejection

# EIP-7002 and EIP-7251 queues count the requests added in the current block in slot 1.
REQUEST_QUEUES = (WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS)
REQUEST_COUNT_SLOT = WITHDRAWAL_REQUEST_COUNT_STORAGE_SLOT


@dataclass
class SkippedTransaction:
    """A transaction builder mode left out of the block, and why."""

    transaction: SignedTransactionAPI
    error: InvalidTransaction


class BuilderMode:
    """A VM mixin (before the fork class in the bases): builder mode and its hooks, and the
    record of the block just applied (transactions, computations, receipts)."""

    # Builder mode: set by the block builder on its own VM instance only.
    skip_invalid_transactions: bool = False
    # A native-rollup L2 builder leaves out transactions that enqueue execution requests:
    # EXECUTE rejects any block that has them (reason 11).
    refuse_execution_requests: bool = False
    # Header fields the builder chose itself instead of deriving them from the parent
    # (test-node controls: ``base_fee_per_gas``, ``gas_limit``). As anvil, the node builds
    # such a block; the fork's parent rules are checked with the derived values instead.
    chosen_header_fields: frozenset[str] = frozenset()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.included_transactions: list[SignedTransactionAPI] = []
        self.skipped_transactions: list[SkippedTransaction] = []
        self.computations: list[ComputationAPI] = []
        self.receipts: list[ReceiptAPI] = []  # of the block just applied, in order

    def apply_all_transactions(
        self, transactions: Sequence[SignedTransactionAPI], base_header: BlockHeaderAPI
    ) -> tuple[BlockHeaderAPI, tuple[ReceiptAPI, ...], tuple[ComputationAPI, ...]]:
        if not self.skip_invalid_transactions:
            header, receipts, computations = super().apply_all_transactions(
                transactions, base_header
            )
            self.included_transactions = list(transactions)
            self.computations = list(computations)
            self.receipts = list(receipts)
            return header, receipts, computations

        receipts: list[ReceiptAPI] = []
        computations: list[ComputationAPI] = []
        included: list[SignedTransactionAPI] = []
        header = base_header
        for transaction in transactions:
            # Validate before applying: py-evm locks the journal as a transaction starts,
            # so a failed transaction cannot be rolled back afterwards. Validation reads
            # state but writes nothing.
            try:
                if transaction.gas > header.gas_limit:
                    raise InvalidTransaction(
                        TxRejection.GAS_LIMIT,
                        f"gas {transaction.gas} exceeds block gas limit {header.gas_limit}",
                    )
                if header.gas_used + transaction.gas > header.gas_limit:
                    raise InvalidTransaction(
                        TxRejection.BLOCK_FULL,
                        f"{header.gas_limit - header.gas_used} gas left, tx wants {transaction.gas}",
                    )
                transaction.validate()
                self.state.validate_transaction(transaction)
            except InvalidTransaction as exc:
                self.skipped_transactions.append(SkippedTransaction(transaction, exc))
                continue
            except ValidationError as exc:
                wrapped = InvalidTransaction(TxRejection.INVALID_SIGNATURE, str(exc))
                self.skipped_transactions.append(SkippedTransaction(transaction, wrapped))
                continue
            try:
                receipt, computation = self.apply_transaction(header, transaction)
            except InvalidTransaction as exc:
                self.skipped_transactions.append(SkippedTransaction(transaction, exc))
                continue
            header = self.add_receipt_to_header(header, receipt)
            header = self.increment_blob_gas_used(header, transaction)
            receipts.append(receipt)
            computations.append(computation)
            included.append(transaction)
        self.included_transactions = included
        self.computations = computations
        self.receipts = receipts
        return header, tuple(receipts), tuple(computations)

    def apply_transaction(
        self, header: BlockHeaderAPI, transaction: SignedTransactionAPI
    ) -> tuple[ReceiptAPI, ComputationAPI]:
        if not self.skip_invalid_transactions:
            return super().apply_transaction(header, transaction)
        # Builder mode: a transaction the block must not hold (see ``refusal``) is rolled
        # back after it ran. A snapshot taken after py-evm's lock can still be reverted;
        # what lives outside the journal is saved and restored by the checkpoint hooks.
        self.validate_transaction_against_header(header, transaction)
        self.state.lock_changes()
        snapshot = self.state.snapshot()
        outside = self.checkpoint_outside_journal()
        before = self.observe_before(transaction)
        computation = self.state.apply_transaction(transaction)
        refused = self.refusal(transaction, before)
        if refused is not None:
            self.state.revert(snapshot)
            self.restore_outside_journal(outside)
            raise refused
        self.state.commit(snapshot)
        receipt = self.make_receipt(header, transaction, computation, self.state)
        self.validate_receipt(receipt)
        return receipt, computation

    # Hooks of builder mode; forks extend them.

    def observe_before(self, transaction: SignedTransactionAPI) -> object:
        return self._request_counts() if self.refuse_execution_requests else None

    def refusal(
        self, transaction: SignedTransactionAPI, before: object
    ) -> InvalidTransaction | None:
        """Why the block must leave out a transaction that just ran, or None."""
        if self.refuse_execution_requests and self._request_counts() != before:
            return InvalidTransaction(TxRejection.EXECUTION_REQUEST)
        return None

    def checkpoint_outside_journal(self) -> object:
        return None

    def restore_outside_journal(self, checkpoint: object) -> None:
        pass

    def _request_counts(self) -> tuple[int, ...]:
        return tuple(self.state.get_storage(q, REQUEST_COUNT_SLOT) for q in REQUEST_QUEUES)

    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        # In builder mode the block holds what was applied, not what was proposed.
        if self.skip_invalid_transactions:
            transactions = self.included_transactions
        return super().set_block_transactions_and_withdrawals(
            base_block, new_header, transactions, receipts, withdrawals
        )

    def validate_block(self, block: BlockAPI) -> None:
        if self.chosen_header_fields:
            parent = self.chaindb.get_block_header_by_hash(block.header.parent_hash)
            derived = {
                "base_fee_per_gas": calculate_expected_base_fee_per_gas(parent),
                "gas_limit": parent.gas_limit,
            }
            fields = {name: derived[name] for name in self.chosen_header_fields}
            block = block.copy(header=block.header.copy(**fields))
        super().validate_block(block)
