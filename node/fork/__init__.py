"""The devnet fork: py-evm's Prague, subclassed the way py-evm extends its own forks.

Fixes to py-evm 0.12.1b1 that live here (each has a test that fails on stock py-evm):
- transaction validation completed (chain id, EIP-3607, fee caps, EIP-7623 floor,
  EIP-3860 init code) — ``node.fork.validation`` via ``DevnetPragueState``;
- receipt gas when the EIP-7623 floor applies and the refund cap binds
  (``finalize_gas_used``);
- the gas limit stays pinned (``create_devnet_header_from_parent``);
- a builder mode in which one invalid transaction never aborts a block: it is left out and
  reported, while the block still goes through py-evm's full ``import_block`` pipeline.
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
    StateAPI,
    WithdrawalAPI,
)
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    WITHDRAWAL_REQUEST_COUNT_STORAGE_SLOT,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
)
from eth_utils import ValidationError

from node.errors import InvalidTransaction, TxRejection
from node.fork.headers import create_devnet_header_from_parent
from node.fork.state import DevnetPragueState

REFUND_QUOTIENT = 5  # EIP-3529
# EIP-7002 and EIP-7251 queues count the requests added in the current block in slot 1.
REQUEST_QUEUES = (WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS)
REQUEST_COUNT_SLOT = WITHDRAWAL_REQUEST_COUNT_STORAGE_SLOT


@dataclass
class SkippedTransaction:
    transaction: SignedTransactionAPI
    error: InvalidTransaction


class DevnetPragueVM(PragueVM):
    fork = "prague"
    _state_class = DevnetPragueState
    create_header_from_parent = staticmethod(create_devnet_header_from_parent)  # type: ignore

    # Builder mode: set by the block builder on its own VM instance only.
    skip_invalid_transactions: bool = False
    # A native-rollup L2 builder leaves out transactions that enqueue execution requests:
    # EXECUTE rejects any block that has them (reason 11).
    refuse_execution_requests: bool = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.included_transactions: list[SignedTransactionAPI] = []
        self.skipped_transactions: list[SkippedTransaction] = []
        self.computations: list[ComputationAPI] = []
        self.receipts: list[ReceiptAPI] = []  # of the block just applied, in order

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


class L2PragueVM(DevnetPragueVM):
    """A native-rollup L2: the devnet's Prague, building only blocks EXECUTE can settle."""

    refuse_execution_requests = True
