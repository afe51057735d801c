"""Builder mode: what only the node that builds a block does, kept apart from the fork's
rules (which every importer of the block applies).

In builder mode one invalid transaction never aborts a block: it is left out and reported
(``SkippedTransaction``). A transaction the block must not hold (``refusal``, e.g. one that enqueues an
execution request on a native-rollup L2) is rolled back after it ran. The block builder
turns the mode on for its own VM instance only (``skip_invalid_transactions``); forks
extend the hooks (``observe_before``, ``refusal``, ``checkpoint_outside_journal``,
``restore_outside_journal``).

``BuilderMode.build_block`` is the owned build path: it runs the block on py-evm's VM and state
(the fork's pre-processing, its transaction executor, receipts) but assembles the block
itself: the running gas and bloom live in one mutable record instead of a header copied per
transaction, the block's requests and roots are computed once, the header is made once, and
the block it just built is not validated again (py-evm's generic ``import_block`` stays for
blocks built elsewhere, and the differential tests check both agree). The EIP-7002/7251
system calls run natively when the contract is the canonical one and its queue is empty
(``node.fork.system_calls``), as bytecode otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    WithdrawalAPI,
)
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA256, EMPTY_UNCLE_HASH, POST_MERGE_NONCE
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    WITHDRAWAL_REQUEST_COUNT_STORAGE_SLOT,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
)
from eth.vm.forks.prague.headers import calc_excess_blob_gas_prague
from eth_bloom import BloomFilter
from eth_utils import ValidationError

from node.errors import InvalidTransaction, TxRejection
from node.fork.system_calls import block_requests, requests_hash
from node.trie_batch import BLANK_ROOT_HASH as BLANK_TRIE_ROOT
from node.trie_batch import NodeStore, update

# EIP-7002 and EIP-7251 queues count the requests added in the current block in slot 1.
REQUEST_QUEUES = (WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS)
REQUEST_COUNT_SLOT = WITHDRAWAL_REQUEST_COUNT_STORAGE_SLOT


def list_trie_root_and_nodes(items: Sequence) -> tuple[bytes, dict[bytes, bytes]]:
    """The root and nodes of the trie of ``items`` by index (a block's transactions or
    receipts), built in one batch (``node.trie_batch``): the same root and nodes as py-evm's
    ``make_trie_root_and_nodes``, which inserts the items one by one."""
    nodes: dict[bytes, bytes] = {}
    changes = {rlp.encode(index): item.encode() for index, item in enumerate(items)}
    return update(NodeStore(nodes), BLANK_TRIE_ROOT, changes), nodes


class RunningHeader:
    """What applying transactions changes in a header (gas used, bloom, blob gas), kept in
    one mutable record; every other field is the block's template header's. py-evm's
    per-transaction hooks read a header only for these fields and the gas limit."""

    __slots__ = ("template", "gas_used", "bloom", "blob_gas_used")

    def __init__(self, template: BlockHeaderAPI) -> None:
        self.template = template
        self.gas_used = 0
        self.bloom = 0
        self.blob_gas_used = 0

    @property
    def gas_limit(self) -> int:
        return self.template.gas_limit

    def __getattr__(self, name: str):
        return getattr(self.template, name)


@dataclass
class SkippedTransaction:
    """A transaction builder mode left out of the block, and why."""

    transaction: SignedTransactionAPI
    error: InvalidTransaction


class BuilderMode:
    """A VM mixin (before the fork class in the bases): builder mode and its hooks, and the
    record of the block just applied (transactions, computations, receipts)."""

    # Blocks without transactions may skip the EVM (``node.fork.empty_block``): only the
    # Prague system contracts write. A fork whose empty blocks do more turns it off.
    native_empty_blocks: bool = True

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
        running = RunningHeader(base_header)
        running.gas_used = base_header.gas_used
        self.apply_skipping_invalid(transactions, running)
        header = base_header.copy(
            gas_used=running.gas_used,
            bloom=int(BloomFilter(base_header.bloom) | running.bloom),
            blob_gas_used=base_header.blob_gas_used + running.blob_gas_used,
        )
        return header, tuple(self.receipts), tuple(self.computations)

    def apply_skipping_invalid(
        self, transactions: Sequence[SignedTransactionAPI], header: RunningHeader
    ) -> None:
        """Apply ``transactions`` in order, leaving out (and recording in
        ``skipped_transactions``) each one invalid at its position; ``header`` accumulates
        gas, bloom and blob gas."""
        receipts: list[ReceiptAPI] = []
        computations: list[ComputationAPI] = []
        included: list[SignedTransactionAPI] = []
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
            header.gas_used = receipt.gas_used
            header.bloom |= int(receipt.bloom)
            header.blob_gas_used += get_total_blob_gas(transaction)
            receipts.append(receipt)
            computations.append(computation)
            included.append(transaction)
        self.included_transactions = included
        self.computations = computations
        self.receipts = receipts

    # -- the owned build path -------------------------------------------------------------

    @classmethod
    def template_header(
        cls,
        parent: BlockHeaderAPI,
        *,
        timestamp: int,
        coinbase: bytes,
        mix_hash: bytes,
        parent_beacon_block_root: bytes,
        state_root: bytes,
        gas_limit: int | None = None,
        base_fee_per_gas: int | None = None,
    ) -> BlockHeaderAPI:
        """The next block's header before its transactions ran, made in one construction
        (py-evm's ``create_header_from_parent`` builds one header per fork back to London):
        the same fields, the gas limit pinned to the parent's unless chosen, the base fee
        and excess blob gas by their formulas unless chosen."""
        header_class = dict(cls.get_block_class()._meta.fields)["header"]
        return header_class(
            parent_hash=parent.hash,
            uncles_hash=EMPTY_UNCLE_HASH,
            transaction_root=BLANK_ROOT_HASH,
            receipt_root=BLANK_ROOT_HASH,
            bloom=0,
            gas_used=0,
            extra_data=b"",
            coinbase=coinbase,
            state_root=state_root,
            difficulty=0,
            block_number=parent.block_number + 1,
            gas_limit=parent.gas_limit if gas_limit is None else gas_limit,
            timestamp=timestamp,
            mix_hash=mix_hash,
            nonce=POST_MERGE_NONCE,
            base_fee_per_gas=(
                calculate_expected_base_fee_per_gas(parent)
                if base_fee_per_gas is None
                else base_fee_per_gas
            ),
            withdrawals_root=BLANK_ROOT_HASH,
            blob_gas_used=0,
            excess_blob_gas=cls.next_excess_blob_gas(parent),
            parent_beacon_block_root=parent_beacon_block_root,
            requests_hash=EMPTY_SHA256,
            **cls.template_fork_fields(parent),
        )

    @classmethod
    def next_excess_blob_gas(cls, parent: BlockHeaderAPI) -> int:
        """The next block's excess blob gas (Prague's rule; a fork with another overrides
        it, as it overrides ``create_header_from_parent``)."""
        return calc_excess_blob_gas_prague(parent)

    @classmethod
    def template_fork_fields(cls, parent: BlockHeaderAPI) -> dict:
        """Header fields a fork adds to the next block's template (the L1: its market's)."""
        return {}

    def build_block(self, transactions: Sequence[SignedTransactionAPI]) -> BlockAPI:
        """Build this VM's block (its header is the template: parent fields, timestamp,
        coinbase, the state root it starts from) from ``transactions`` in builder mode, and
        persist its state and trie nodes; returns the block. The VM's ``receipts``,
        ``computations``, ``skipped_transactions`` and ``post_state_root`` describe it."""
        self.skip_invalid_transactions = True
        template_header = self.get_header()
        template = self.get_block_class()(
            template_header, transactions=[], uncles=[], withdrawals=[]
        )
        self._block = template
        self.block_preprocessing(template)
        running = RunningHeader(template_header)
        self.apply_skipping_invalid(transactions, running)
        included = self.included_transactions
        receipts = self.receipts
        tx_root, tx_nodes = list_trie_root_and_nodes(included)
        self.chaindb.persist_trie_data_dict(tx_nodes)
        receipt_root, receipt_nodes = list_trie_root_and_nodes(receipts)
        self.chaindb.persist_trie_data_dict(receipt_nodes)
        requests = block_requests(self, receipts)
        fields = self.builder_header_fields()
        self._assign_block_rewards(template)  # the fork's: nothing after the merge
        self.state.persist()
        self.post_state_root = self.state.state_root
        # The header made once from the template's fields (a copy deep-copies every field).
        header = type(template_header)(
            **{
                **template_header.as_dict(),
                "gas_used": running.gas_used,
                "bloom": running.bloom,
                "blob_gas_used": running.blob_gas_used,
                "transaction_root": tx_root,
                "receipt_root": receipt_root,
                "requests_hash": requests_hash(requests),
                "state_root": self.header_state_root(
                    template_header.state_root, self.post_state_root
                ),
                **fields,
            }
        )
        block = self.get_block_class()(
            header, transactions=list(included), uncles=[], withdrawals=[]
        )
        self._block = block
        return block

    def builder_header_fields(self) -> dict:
        """Header fields a fork adds once its block's transactions ran (the L1: its
        execute gas used)."""
        return {}

    def header_state_root(self, pre_state_root: bytes, post_state_root: bytes) -> bytes:
        """The state root the header carries (the delayed state root carries the pre-state's)."""
        return post_state_root

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
        try:
            computation = self.state.apply_transaction(transaction)
        except InvalidTransaction:
            raise
        except ValidationError as exc:
            # py-evm refuses a balance past 2**256 - 1 (a transfer, a call's value or the
            # coinbase's tip to an account the test-node controls filled) by raising out of
            # the transaction: roll it back and leave it out rather than fail the block.
            self.state.revert(snapshot)
            self.restore_outside_journal(outside)
            raise InvalidTransaction(TxRejection.BALANCE_OVERFLOW, str(exc)) from None
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
