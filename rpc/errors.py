"""The one place where exceptions become JSON-RPC errors, with geth/anvil codes."""

from __future__ import annotations

import logging
from typing import Any

from node.errors import (
    ExecutionHalted,
    ExecutionReverted,
    InvalidInput,
    InvalidTimestamp,
    InvalidTransaction,
    LimitExceeded,
    SimulationAborted,
    SimulationTimeout,
    TraceLimitExceeded,
    TxRejection,
    UnknownBlock,
)

log = logging.getLogger("native_devnet.rpc")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # geth's generic code
TRANSACTION_REJECTED = -32003  # anvil's code for pool rejections
LIMIT_EXCEEDED = -32005  # EIP-1474's "request exceeds defined limit"
EXECUTION_REVERTED = 3


# anvil answers these with its generic code; every other rejection is -32003.
GAS_ERRORS = frozenset({TxRejection.INTRINSIC_GAS, TxRejection.FLOOR_DATA_GAS})


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class InvalidParams(RpcError):
    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMS, message)


class MethodNotFound(RpcError):
    def __init__(self, method: str) -> None:
        super().__init__(METHOD_NOT_FOUND, "Method not found", None)
        self.method = method


def to_rpc_error(exc: BaseException, method: str | None = None) -> RpcError:
    """Map any exception raised while serving a request (of ``method``, when known) to the
    error a client expects. An unexpected one (-32603) is logged as one line, with its
    traceback only at DEBUG (``-vv``)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, ExecutionReverted):
        return RpcError(EXECUTION_REVERTED, str(exc), "0x" + exc.output.hex())
    if isinstance(exc, InvalidTransaction):
        if exc.kind is TxRejection.MALFORMED:
            return RpcError(INVALID_PARAMS, f"failed to decode transaction: {exc.detail}")
        code = SERVER_ERROR if exc.kind in GAS_ERRORS else TRANSACTION_REJECTED
        return RpcError(code, str(exc))
    if isinstance(
        exc, ExecutionHalted | SimulationTimeout | SimulationAborted | TraceLimitExceeded
    ):
        return RpcError(SERVER_ERROR, str(exc))  # geth's timeout errors are plain errors
    if isinstance(exc, LimitExceeded):
        return RpcError(LIMIT_EXCEEDED, str(exc))
    if isinstance(exc, UnknownBlock):
        return RpcError(SERVER_ERROR, "header not found")
    if isinstance(exc, InvalidTimestamp):  # anvil answers these as invalid params
        return RpcError(INVALID_PARAMS, str(exc))
    if isinstance(exc, InvalidInput):
        return RpcError(SERVER_ERROR, str(exc))
    log.error(
        "internal error serving %.200s: %s: %s",
        method or "a request",
        type(exc).__name__,
        " ".join(str(exc).split()),
        exc_info=exc if log.isEnabledFor(logging.DEBUG) else None,
    )
    return RpcError(INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
