"""Errors the chain core raises, as values a user can act on.

The RPC layer turns these into JSON-RPC errors in one place (``rpc/errors.py``); the
chain core never knows about codes or hex.
"""

from __future__ import annotations

from enum import Enum

from eth.vm.interrupt import EVMMissingData
from eth_utils import ValidationError


class TxRejection(Enum):
    """Why a transaction cannot be included (now, or ever)."""

    NONCE_TOO_LOW = "nonce too low"
    NONCE_TOO_HIGH = "nonce too high"
    NONCE_MAX = "nonce has max value"
    SENDER_NOT_EOA = "sender not an eoa"
    TIP_ABOVE_FEE_CAP = "max priority fee per gas higher than max fee per gas"
    FEE_CAP_TOO_LOW = "max fee per gas less than block base fee"
    INSUFFICIENT_FUNDS = "insufficient funds for gas * price + value"
    INTRINSIC_GAS = "intrinsic gas too low"
    FLOOR_DATA_GAS = "insufficient gas for floor data gas cost"
    INITCODE_TOO_LARGE = "max initcode size exceeded"
    WRONG_CHAIN_ID = "invalid chain id for signer"
    GAS_LIMIT = "exceeds block gas limit"
    TX_GAS_LIMIT_CAP = "transaction gas limit too high"  # Osaka's EIP-7825 (geth's words)
    BLOCK_FULL = "block gas limit reached"
    TX_TYPE_NOT_SUPPORTED = "transaction type not supported"
    INVALID_SIGNATURE = "invalid sender"
    MALFORMED = "rlp: malformed transaction"
    ALREADY_KNOWN = "already known"
    UNDERPRICED_REPLACEMENT = "replacement transaction underpriced"
    POOL_FULL = "txpool is full"
    ACCOUNT_LIMIT = "account limit exceeded"
    OVERSIZED = "oversized data"
    SET_CODE_WITHOUT_TO = "set code transaction must have a destination"
    EMPTY_AUTH_LIST = "EIP-7702 transaction with empty auth list"
    BLOB_INVALID = "invalid blob transaction"
    BALANCE_OVERFLOW = "balance overflow"  # a credit past 2**256 - 1 (the controls' doing)
    EXECUTE_LIMIT = "EXECUTE call would overflow the block's cumulative execute gas limit; deferred to a later block"
    EXECUTE_RESERVATION_TOO_LARGE = "EXECUTE call reserves more execute gas than any block allows"
    EXECUTION_REQUEST = (
        "transaction would enqueue an execution request, which a native rollup L2 cannot settle"
    )


# Rejections that may clear up on their own in a later block; the pool keeps such txs.
RETRYABLE = frozenset(
    {
        TxRejection.NONCE_TOO_HIGH,
        TxRejection.FEE_CAP_TOO_LOW,
        TxRejection.BLOCK_FULL,
        TxRejection.EXECUTE_LIMIT,
    }
)


class InvalidTransaction(ValidationError):
    """A transaction that fails validation. Subclasses py-evm's ``ValidationError`` so that
    py-evm's own import pipeline treats it exactly like its built-in checks."""

    def __init__(self, kind: TxRejection, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class MissingAncestorHash(EVMMissingData):
    """BLOCKHASH asked for an ancestor inside the 256-block window whose hash is unknown."""

    def __init__(self, block_number: int) -> None:
        self.block_number = block_number
        super().__init__(f"hash of ancestor block {block_number} is not available")


class UnknownBlock(LookupError):
    """A block tag, number or hash the chain does not have."""


class ExecutionReverted(Exception):
    """A call reverted; ``output`` holds the revert bytes (maybe empty)."""

    def __init__(self, output: bytes, reason: str | None = None) -> None:
        self.output = output
        self.reason = reason
        super().__init__(f"execution reverted: {reason}" if reason else "execution reverted")


class ExecutionHalted(Exception):
    """A call ended in an exceptional halt (out of gas, invalid opcode, ...)."""


class InvalidInput(ValueError):
    """A request the chain cannot act on (bad parameters, unknown account to sign for, ...)."""


class InvalidTimestamp(InvalidInput):
    """A block timestamp that is not after its parent's or does not fit a uint64."""


class SimulationTimeout(Exception):
    """A simulation ran past its wall-clock limit (geth's words: ``execution aborted
    (timeout = 5s)`` for calls, ``execution timeout`` for traces)."""


class SimulationAborted(Exception):
    """A simulation stopped because the node is shutting down."""


class LimitExceeded(Exception):
    """A request would pass one of the node's named bounds (EIP-1474's "limit exceeded")."""


class SimulatorBusy(LimitExceeded):
    """Too many simulations are already running or waiting; try again later."""


class TooManySnapshots(LimitExceeded):
    """``evm_snapshot`` beyond the node's bound on live snapshots."""


class TraceLimitExceeded(Exception):
    """A trace grew past the node's bound on what one trace may hold."""
