"""``eth_simulateV1`` (geth's shape): ``[{blockStateCalls, validation?, traceTransfers?,
returnFullTransactions?}, block?]`` → one block object per simulated block, each with its
``calls`` results.

Parsing is strict: a field geth's types do not have is refused by name, and so are the ones
this node does not simulate (blob fields, ``movePrecompileToAddress``, beacon root and
withdrawal overrides), instead of being ignored. Errors of the request as a whole carry the
execution-apis codes (-380xx); a call that reverts or halts is answered in its result.

The method joins the ``eth`` namespace of ``rpc/eth.py``, which imports this module last.
"""

from __future__ import annotations

from typing import Any

from eth.exceptions import Revert

from node.devnet import Devnet
from node.revert import decode_revert_reason
from node.simulate_v1 import (
    MAX_SIMULATE_BLOCKS,
    MAX_SIMULATE_CALLS,
    SimBlockRequest,
    SimulatedBlock,
    SimulateError,
    SimulateFailure,
    SimulateRequest,
)
from node.simulation import CallRequest
from node.tracing.wording import geth_error
from rpc import params as parse
from rpc import shapes
from rpc.errors import InvalidParams, RpcError
from rpc.eth import eth, resolve_state
from rpc.params import REQUIRED, parse_params
from rpc.shapes import hexb, qty

# The execution-apis codes of eth_simulateV1 (geth's internal/ethapi/errors.go).
ERROR_CODES = {
    SimulateError.NONCE_TOO_LOW: -38010,
    SimulateError.NONCE_TOO_HIGH: -38011,
    SimulateError.FEE_CAP_TOO_LOW: -38012,
    SimulateError.INTRINSIC_GAS: -38013,
    SimulateError.INSUFFICIENT_FUNDS: -38014,
    SimulateError.BLOCK_GAS_LIMIT: -38015,
    SimulateError.BLOCK_NUMBER_ORDER: -38020,
    SimulateError.BLOCK_TIMESTAMP_ORDER: -38021,
    SimulateError.INIT_CODE_TOO_LARGE: -38025,
    SimulateError.CLIENT_LIMIT: -38026,
    SimulateError.INVALID_CALL: -32602,
}
CLIENT_LIMIT_EXCEEDED = ERROR_CODES[SimulateError.CLIENT_LIMIT]
REVERTED = -32000  # a call result's error when it reverted (geth's errCodeReverted)
VM_ERROR = -32015  # ... when it halted (geth's errCodeVMError)

OPTION_FIELDS = ("blockStateCalls", "validation", "traceTransfers", "returnFullTransactions")
BLOCK_FIELDS = ("blockOverrides", "stateOverrides", "calls")
CALL_FIELDS = (
    "from",
    "to",
    "gas",
    "gasPrice",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "value",
    "nonce",
    "data",
    "input",
    "accessList",
    "authorizationList",
    "chainId",
    "type",
)
BLOCK_OVERRIDE_FIELDS = (
    "number",
    "time",
    "gasLimit",
    "feeRecipient",
    "prevRandao",
    "baseFeePerGas",
)
ACCOUNT_OVERRIDE_FIELDS = ("balance", "nonce", "code", "state", "stateDiff")
# Fields geth takes that this node refuses rather than ignores, and why.
REFUSED = {
    "movePrecompileToAddress": "moving precompiles is not supported by this node",
    "blobVersionedHashes": "blob transactions are not supported by this node",
    "maxFeePerBlobGas": "blob transactions are not supported by this node",
    "blobs": "blob transactions are not supported by this node",
    "commitments": "blob transactions are not supported by this node",
    "proofs": "blob transactions are not supported by this node",
    "blobBaseFee": "blob transactions are not supported by this node",
    "beaconRoot": "beacon root overrides are not supported by this node",
    "withdrawals": "withdrawal overrides are not supported by this node",
    "difficulty": "difficulty is always 0 after the merge",
}


def _fields(value: Any, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """``value`` as an object with only ``allowed`` keys (a refused one says why)."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object")
    for key in value:
        if key in allowed:
            continue
        if key in REFUSED and isinstance(key, str):
            raise InvalidParams(f"{what}.{key}: {REFUSED[key]}")
        raise InvalidParams(f"{what}: unknown field {str(key)[:64]!r}")
    return value


def _call(value: Any, what: str, chain_id: int) -> CallRequest:
    fields = _fields(value, what, CALL_FIELDS)
    if fields.get("gasPrice") is not None and (
        fields.get("maxFeePerGas") is not None or fields.get("maxPriorityFeePerGas") is not None
    ):
        raise InvalidParams(
            f"{what}: both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified"
        )
    if fields.get("chainId") is not None:
        have = parse.quantity(fields["chainId"], f"{what}.chainId")
        if have != chain_id:
            raise InvalidParams(
                f"{what}: chainId does not match node's (have={have}, want={chain_id})"
            )
    if fields.get("type") is not None:
        parse.quantity(fields["type"], f"{what}.type", parse.UINT8_BITS)
    parsed = parse.call_object(fields, what)
    if "authorization_list" in parsed and parsed["to"] == parse.CREATE_CONTRACT_ADDRESS:
        raise InvalidParams(f'{what}.to: missing "to" in set code transaction')
    return parse.call_request(parsed)


def _state_overrides(value: Any, what: str) -> tuple:
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object keyed by address")
    for address, account in value.items():
        _fields(account, f"{what}[{str(address)[:42]}]", ACCOUNT_OVERRIDE_FIELDS)
    return parse.state_overrides(value, what)


def _block_override(value: Any, what: str):
    _fields(value, what, BLOCK_OVERRIDE_FIELDS)
    return parse.block_override(value, what)


def simulate_options(value: Any, what: str, chain_id: int) -> tuple[SimulateRequest, bool]:
    """The first parameter as a ``SimulateRequest`` and the ``returnFullTransactions`` flag."""
    options = _fields(value, what, OPTION_FIELDS)
    raw_blocks = options.get("blockStateCalls")
    if not isinstance(raw_blocks, list):
        raise InvalidParams(f"{what}.blockStateCalls: expected a list")
    if not raw_blocks:
        raise InvalidParams("empty input")  # geth's words
    if len(raw_blocks) > MAX_SIMULATE_BLOCKS:
        raise RpcError(CLIENT_LIMIT_EXCEEDED, "too many blocks")
    calls_seen = 0
    blocks = []
    for i, raw in enumerate(raw_blocks):
        where = f"{what}.blockStateCalls[{i}]"
        block = _fields(raw, where, BLOCK_FIELDS)
        raw_calls = block.get("calls") or []
        if not isinstance(raw_calls, list):
            raise InvalidParams(f"{where}.calls: expected a list")
        calls_seen += len(raw_calls)
        if calls_seen > MAX_SIMULATE_CALLS:
            raise RpcError(CLIENT_LIMIT_EXCEEDED, f"too many calls: at most {MAX_SIMULATE_CALLS}")
        blocks.append(
            SimBlockRequest(
                block_override=_block_override(block["blockOverrides"], f"{where}.blockOverrides")
                if block.get("blockOverrides") is not None
                else None,
                state_overrides=_state_overrides(block["stateOverrides"], f"{where}.stateOverrides")
                if block.get("stateOverrides") is not None
                else (),
                calls=tuple(
                    _call(c, f"{where}.calls[{j}]", chain_id) for j, c in enumerate(raw_calls)
                ),
            )
        )
    flags = {}
    for key in ("validation", "traceTransfers", "returnFullTransactions"):
        flags[key] = (
            parse.boolean(options[key], f"{what}.{key}") if options.get(key) is not None else False
        )
    request = SimulateRequest(
        blocks=tuple(blocks),
        validation=flags["validation"],
        trace_transfers=flags["traceTransfers"],
    )
    return request, flags["returnFullTransactions"]


@eth.method("eth_simulateV1")
async def simulate_v1(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    raw, block = parse_params(
        params,
        [(lambda v, w: v, REQUIRED, "simulateOptions"), (parse.block_id, "latest", "block")],
    )
    request, full = simulate_options(raw, "simulateOptions", devnet.chain_id)
    base = await resolve_state(devnet, block)
    try:
        blocks = await devnet.simulate_v1(request, base)
    except SimulateFailure as exc:
        raise RpcError(ERROR_CODES[exc.kind], exc.message) from None
    return [simulated_block_json(b, full) for b in blocks]


def simulated_block_json(simulated: SimulatedBlock, full: bool) -> dict[str, Any]:
    block = simulated.block
    header = block.header
    out = shapes.block_json(block, full, simulated.senders)
    out.pop("totalDifficulty", None)  # geth's simulated blocks have none
    calls = []
    for index, (tx, result) in enumerate(zip(block.transactions, simulated.calls, strict=True)):
        call: dict[str, Any] = {
            "returnData": hexb(result.output),
            "logs": [
                {
                    "address": hexb(log.address),
                    "topics": [shapes.word(t) for t in log.topics],
                    "data": hexb(log.data),
                    "blockNumber": qty(header.block_number),
                    "transactionHash": hexb(tx.hash),
                    "transactionIndex": qty(index),
                    "blockHash": hexb(header.hash),
                    "blockTimestamp": qty(header.timestamp),
                    "logIndex": qty(log.index),
                    "removed": False,
                }
                for log in result.logs
            ],
            "gasUsed": qty(result.gas_used),
            "maxUsedGas": qty(result.max_used_gas),
            "status": qty(result.status),
        }
        if result.error is not None:
            call["error"] = _call_error(result)
        calls.append(call)
    out["calls"] = calls
    return out


def _call_error(result) -> dict[str, Any]:
    if isinstance(result.error, Revert):
        reason = decode_revert_reason(result.output)
        message = f"execution reverted: {reason}" if reason else "execution reverted"
        return {"message": message, "code": REVERTED, "data": hexb(result.output)}
    return {"message": geth_error(result.error), "code": VM_ERROR}
