"""Osaka's transaction and block rules, as mixins over the devnet's Prague classes.

- EIP-7825: a transaction with more than 2^24 gas is invalid (``check_tx_gas_cap``: the
  pool, the builder, import and EXECUTE's re-execution all reach it through the state's
  ``validate_transaction``);
- EIP-7934: a block whose RLP exceeds 8 MiB (10 MiB less a 2 MiB margin) is invalid on
  import, and the builder leaves out a transaction that would make its block too big;
- EIP-7918: the excess blob gas of a header follows the reserve-price rule.
"""

from __future__ import annotations

from typing import Any

import rlp
from eth._utils.calculations import fake_exponential
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth_utils import ValidationError

from node.errors import InvalidTransaction, TxRejection
from node.fork.osaka.constants import (
    BLOB_BASE_COST,
    BLOB_BASE_FEE_UPDATE_FRACTION,
    BLOB_MAX,
    BLOB_TARGET,
    GAS_PER_BLOB,
    MAX_RLP_BLOCK_SIZE,
    MAX_TX_GAS,
    MIN_BLOB_BASE_FEE,
)

# Room the builder keeps for the header, withdrawals and list prefixes of its block.
BLOCK_OVERHEAD_ALLOWANCE = 4096


class TransactionGasCapExceeded(InvalidTransaction):
    """EIP-7825: ``tx.gas`` above 2^24 (geth: "transaction gas limit too high")."""

    def __init__(self, gas: int) -> None:
        super().__init__(
            TxRejection.TX_GAS_LIMIT_CAP,
            f"cap: {MAX_TX_GAS}, tx: {gas} (Osaka, EIP-7825, caps a transaction's gas at 2^24)",
        )


def check_tx_gas_cap(transaction: SignedTransactionAPI) -> None:
    if transaction.gas > MAX_TX_GAS:
        raise TransactionGasCapExceeded(transaction.gas)


def blob_base_fee(excess_blob_gas: int) -> int:
    return fake_exponential(MIN_BLOB_BASE_FEE, excess_blob_gas, BLOB_BASE_FEE_UPDATE_FRACTION)


def calc_excess_blob_gas_osaka(parent: BlockHeaderAPI) -> int:
    """EIP-7918: while the blob base fee is below the execution cost of a blob, the excess
    only rises (blob gas used scaled by (max - target) / max) and the fee climbs back."""
    excess = getattr(parent, "excess_blob_gas", 0) or 0
    used = getattr(parent, "blob_gas_used", 0) or 0
    target = BLOB_TARGET * GAS_PER_BLOB
    if excess + used < target:
        return 0
    if BLOB_BASE_COST * parent.base_fee_per_gas > GAS_PER_BLOB * blob_base_fee(excess):
        return excess + used * (BLOB_MAX - BLOB_TARGET) // BLOB_MAX
    return excess + used - target


def _rlp_list_size(payload: int) -> int:
    """Bytes of an RLP list whose items take ``payload`` bytes."""
    if payload < 56:
        return 1 + payload
    return 1 + (payload.bit_length() + 7) // 8 + payload


def block_rlp_size(block: BlockAPI) -> int:
    """The size of the block's RLP (header, transactions, ommers, withdrawals): legacy
    transactions embed as lists, typed ones as byte strings."""
    transactions = 0
    for transaction in block.transactions:
        raw = transaction.encode()
        transactions += len(raw) if raw[0] >= 0xC0 else len(rlp.encode(raw))
    withdrawals = sum(len(rlp.encode(w)) for w in block.withdrawals)
    payload = (
        len(rlp.encode(block.header))
        + _rlp_list_size(transactions)
        + _rlp_list_size(0)
        + _rlp_list_size(withdrawals)
    )
    return _rlp_list_size(payload)


class OsakaStateRules:
    """State mixin: EIP-7825 before every other transaction rule."""

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        check_tx_gas_cap(transaction)
        super().validate_transaction(transaction)  # type: ignore[misc]


class OsakaVMRules:
    """VM mixin (before the Prague fork class in the bases): Osaka's block rules."""

    fork = "osaka"
    max_rlp_block_size = MAX_RLP_BLOCK_SIZE
    max_tx_gas = MAX_TX_GAS
    block_rlp_size = staticmethod(block_rlp_size)
    _block_bytes = 0  # the builder's running size of the transactions it kept

    @classmethod
    def create_header_from_parent(  # type: ignore[override]
        cls, parent_header: BlockHeaderAPI | None, **header_params: Any
    ) -> BlockHeaderAPI:
        header = super().create_header_from_parent(parent_header, **header_params)  # type: ignore[misc]
        if parent_header is None:
            return header
        excess = calc_excess_blob_gas_osaka(parent_header)
        # Equal to Prague's whenever no blob was ever used (this devnet refuses blobs).
        return header if header.excess_blob_gas == excess else header.copy(excess_blob_gas=excess)

    @classmethod
    def validate_fork_transaction(cls, transaction: SignedTransactionAPI) -> None:
        """The fork's own static rules (the pool asks before accepting a transaction)."""
        check_tx_gas_cap(transaction)

    def validate_block(self, block: BlockAPI) -> None:
        size = block_rlp_size(block)
        if size > self.max_rlp_block_size:
            raise ValidationError(
                f"block RLP is {size} bytes, above the {self.max_rlp_block_size}-byte cap "
                "(EIP-7934)"
            )
        super().validate_block(block)  # type: ignore[misc]

    def refusal(self, transaction: SignedTransactionAPI, before: object):
        refused = super().refusal(transaction, before)  # type: ignore[misc]
        if refused is not None:
            return refused
        size = len(transaction.encode()) + 4  # with its RLP string prefix
        if self._block_bytes + size + BLOCK_OVERHEAD_ALLOWANCE > self.max_rlp_block_size:
            return InvalidTransaction(
                TxRejection.BLOCK_FULL,
                f"block RLP size cap of {self.max_rlp_block_size} bytes reached (EIP-7934)",
            )
        self._block_bytes += size
        return None
