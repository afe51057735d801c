"""Transaction validity against a state, in the order geth checks it.

py-evm 0.12.1b1 leaves gaps (see docs/DEPARTURES.md): it never compares the transaction's chain id
with the chain's, accepts a priority fee above the fee cap, senders with code (EIP-3607),
gas below the EIP-7623 calldata floor and oversized init code (EIP-3860). Every rule lives
here once, so the pool, the block builder and EXECUTE's re-execution all apply the same list.
"""

from __future__ import annotations

from eth._utils.state import code_is_delegation_designation
from eth.abc import AccountDatabaseAPI, SignedTransactionAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS, GAS_TX
from eth.vm.forks.cancun.transactions import BLOB_TX_TYPE
from eth.vm.forks.prague.constants import (
    SET_CODE_TRANSACTION_TYPE,
    STANDARD_TOKEN_COST,
    TOTAL_COST_FLOOR_PER_TOKEN,
)
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE

from node.errors import InvalidTransaction, TxRejection

MAX_NONCE = 2**64 - 1
GAS_PER_BLOB = 2**17


def calldata_floor_gas(data: bytes) -> int:
    """EIP-7623: the least gas a transaction with this calldata must pay."""
    zeros = data.count(0)
    tokens = zeros + (len(data) - zeros) * STANDARD_TOKEN_COST
    return GAS_TX + TOTAL_COST_FLOOR_PER_TOKEN * tokens


def transaction_chain_id(tx: SignedTransactionAPI) -> int | None:
    """The chain id a transaction is bound to; None for a pre-EIP-155 legacy transaction."""
    return tx.chain_id


def max_fee_per_gas(tx: SignedTransactionAPI) -> int:
    return tx.max_fee_per_gas


def max_priority_fee_per_gas(tx: SignedTransactionAPI) -> int:
    return tx.max_priority_fee_per_gas


def upfront_cost(tx: SignedTransactionAPI) -> int:
    """What the sender must hold: gas at the fee cap, blob gas at its cap, and value."""
    cost = tx.gas * tx.max_fee_per_gas + tx.value
    if tx.type_id == BLOB_TX_TYPE:
        cost += len(tx.blob_versioned_hashes) * GAS_PER_BLOB * tx.max_fee_per_blob_gas
    return cost


def validate_static(tx: SignedTransactionAPI, chain_id: int, block_gas_limit: int) -> None:
    """Checks that need no state: chain id, fee fields, intrinsic gas, floor, init code."""
    tx_chain_id = transaction_chain_id(tx)
    if tx_chain_id is not None and tx_chain_id != chain_id:
        raise InvalidTransaction(TxRejection.WRONG_CHAIN_ID, f"have {tx_chain_id} want {chain_id}")
    if tx.nonce >= MAX_NONCE:
        raise InvalidTransaction(TxRejection.NONCE_MAX, f"nonce {tx.nonce}")
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise InvalidTransaction(
            TxRejection.TIP_ABOVE_FEE_CAP,
            f"maxPriorityFeePerGas: {tx.max_priority_fee_per_gas}, "
            f"maxFeePerGas: {tx.max_fee_per_gas}",
        )
    if tx.gas > block_gas_limit:
        raise InvalidTransaction(
            TxRejection.GAS_LIMIT, f"gas {tx.gas} exceeds block gas limit {block_gas_limit}"
        )
    if tx.type_id == SET_CODE_TRANSACTION_TYPE:
        if tx.to == CREATE_CONTRACT_ADDRESS:
            raise InvalidTransaction(TxRejection.SET_CODE_WITHOUT_TO)
        if not tx.authorization_list:
            raise InvalidTransaction(TxRejection.EMPTY_AUTH_LIST)
    if tx.type_id == BLOB_TX_TYPE:
        # No blob pool and no sidecars on this devnet, and EIP-8079 forbids blob
        # transactions in a natively rolled-up block.
        raise InvalidTransaction(TxRejection.TX_TYPE_NOT_SUPPORTED, "blob transactions")
    if tx.to == CREATE_CONTRACT_ADDRESS and len(tx.data) > MAX_INITCODE_SIZE:
        raise InvalidTransaction(
            TxRejection.INITCODE_TOO_LARGE,
            f"code size {len(tx.data)} limit {MAX_INITCODE_SIZE}",
        )
    intrinsic = tx.intrinsic_gas
    if tx.gas < intrinsic:
        raise InvalidTransaction(TxRejection.INTRINSIC_GAS, f"have {tx.gas}, want {intrinsic}")
    floor = calldata_floor_gas(tx.data)
    if tx.gas < floor:
        raise InvalidTransaction(TxRejection.FLOOR_DATA_GAS, f"have {tx.gas}, want {floor}")


def validate_against_state(
    state: StateAPI | AccountDatabaseAPI,
    tx: SignedTransactionAPI,
    base_fee: int,
    allow_future_nonce: bool = False,
) -> None:
    """Checks against the state the transaction would run on, in geth's order. ``state``
    needs only balances, nonces and code, so the pool can pass a bare account database."""
    sender = tx.sender
    nonce = state.get_nonce(sender)
    if tx.nonce < nonce:
        raise InvalidTransaction(
            TxRejection.NONCE_TOO_LOW, f"next nonce {nonce}, tx nonce {tx.nonce}"
        )
    if tx.nonce > nonce and not allow_future_nonce:
        raise InvalidTransaction(
            TxRejection.NONCE_TOO_HIGH, f"next nonce {nonce}, tx nonce {tx.nonce}"
        )
    code = state.get_code(sender)
    # EIP-3607; an impersonated sender (a devnet test control) may be a contract.
    if code and not code_is_delegation_designation(code) and not getattr(tx, "impersonated", False):
        raise InvalidTransaction(
            TxRejection.SENDER_NOT_EOA, f"address 0x{sender.hex()}, codehash has code"
        )
    if tx.max_fee_per_gas < base_fee:
        raise InvalidTransaction(
            TxRejection.FEE_CAP_TOO_LOW,
            f"address 0x{sender.hex()}, maxFeePerGas: {tx.max_fee_per_gas}, baseFee: {base_fee}",
        )
    balance = state.get_balance(sender)
    cost = upfront_cost(tx)
    if balance < cost:
        raise InvalidTransaction(
            TxRejection.INSUFFICIENT_FUNDS,
            f"address 0x{sender.hex()} have {balance} want {cost}",
        )
