"""The ``trace_`` namespace: OpenEthereum's Parity-style traces, in the shapes reth and anvil
write (``blockNumber`` and ``transactionPosition`` as JSON numbers, a create's
``creationMethod``, ``result: null`` for a self-destruct or a failure other than a revert).

Served: ``trace_transaction``, ``trace_get``, ``trace_block``, ``trace_filter``,
``trace_replayTransaction``, ``trace_replayBlockTransactions``, ``trace_call`` (with reth's
state and block overrides) and ``trace_rawTransaction``; the trace types are ``trace`` and ``stateDiff`` (``vmTrace`` is
refused with -32602). The replays are ``node.tracing.parity`` and run on a simulator thread
under the node's trace deadline and step cap, never on the event loop; ``trace_filter`` covers
at most ``TRACE_FILTER_MAX_BLOCKS`` blocks.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from node.devnet import Devnet
from node.errors import InvalidInput, UnknownBlock
from node.simulation import CallRequest
from node.tracing import TraceOptions, parity
from node.tracing.parity import AccountDiff, Delta, FlatTrace, LocatedTrace, ParityTrace
from rpc import params as parse
from rpc.errors import InvalidParams
from rpc.eth import resolve_header, resolve_state
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb, qty, word

trace = Namespace()
METHODS = trace.methods

FILTER_KEYS = ("fromBlock", "toBlock", "fromAddress", "toAddress", "mode", "after", "count")
FILTER_MODES = {"union": False, "intersection": True}
MAX_FILTER_ADDRESSES = 1_000  # per list, as eth_getLogs' MAX_LOG_ALTERNATIVES


# -- methods ------------------------------------------------------------------------------------


@trace.method("trace_transaction")
async def trace_transaction(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    """The flat trace of a mined transaction; ``[]`` for an unknown one (as anvil)."""
    (tx_hash,) = parse_params(params, [(parse.hash32, REQUIRED, "hash")])
    if not _mined(devnet, tx_hash):
        return []
    located = await _simulate(devnet, parity.transaction_traces, devnet.chain, tx_hash)
    return await _json(_located_list, located or [])


@trace.method("trace_get")
async def trace_get(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    """One entry of ``trace_transaction``'s list, by its index (OpenEthereum takes one)."""
    tx_hash, indices = parse_params(
        params, [(parse.hash32, REQUIRED, "hash"), (_indices, REQUIRED, "indices")]
    )
    if len(indices) != 1 or not _mined(devnet, tx_hash):
        return None
    located = await _simulate(devnet, parity.transaction_traces, devnet.chain, tx_hash)
    if not located or indices[0] >= len(located):
        return None
    return located_json(located[indices[0]])


@trace.method("trace_block")
async def trace_block(devnet: Devnet, params: Any) -> list[dict[str, Any]] | None:
    """Every transaction's flat trace in a block; ``[]`` for an unknown block (as anvil)."""
    (block,) = parse_params(params, [(parse.block_id, REQUIRED, "block")])
    header = _maybe_header(devnet, block)
    if header is None:
        return []
    located = await _simulate(devnet, parity.block_traces, devnet.chain, header)
    return await _json(_located_list, located)


@trace.method("trace_filter")
async def trace_filter(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    """The entries of a block range matching ``fromAddress``/``toAddress`` (reth's ``mode``:
    ``union``, the default, or ``intersection``), skipping ``after``, at most ``count``."""
    (query,) = parse_params(
        params, [(lambda v, what: _filter(devnet, v, what), REQUIRED, "filter")]
    )
    located = await _simulate(devnet, parity.filter_traces, devnet.chain, query)
    return await _json(_located_list, located)


@trace.method("trace_replayTransaction")
async def trace_replay_transaction(devnet: Devnet, params: Any) -> dict[str, Any]:
    """A mined transaction replayed with the trace types asked."""
    tx_hash, kinds = parse_params(
        params, [(parse.hash32, REQUIRED, "hash"), (trace_types, REQUIRED, "traceTypes")]
    )
    if not _mined(devnet, tx_hash):
        raise InvalidParams("transaction not found")
    result = await _simulate(devnet, parity.replay_transaction_traces, devnet.chain, tx_hash, kinds)
    return await _json(replay_json, result)


@trace.method("trace_replayBlockTransactions")
async def trace_replay_block(devnet: Devnet, params: Any) -> list[dict[str, Any]] | None:
    """Every transaction of a block replayed with the trace types asked, each with its hash."""
    block, kinds = parse_params(
        params, [(parse.block_id, REQUIRED, "block"), (trace_types, REQUIRED, "traceTypes")]
    )
    header = _maybe_header(devnet, block)
    if header is None:
        return []
    results = await _simulate(devnet, parity.replay_block_traces, devnet.chain, header, kinds)
    return await _json(_replays_list, results)


@trace.method("trace_call")
async def trace_call(devnet: Devnet, params: Any) -> dict[str, Any]:
    """A call traced as ``eth_call`` runs it, at ``block`` (default latest), with reth's
    optional state and block overrides (geth's shapes, as ``eth_call`` takes them)."""
    fields, kinds, block, accounts, override = parse_params(
        params,
        [
            (parse.call_object, REQUIRED, "transaction"),
            (trace_types, REQUIRED, "traceTypes"),
            (parse.block_id, "latest", "block"),
            (parse.state_overrides, (), "stateOverrides"),
            (parse.block_override, None, "blockOverrides"),
        ],
    )
    request = replace(parse.call_request(fields), state_overrides=accounts, block_override=override)
    return await _call(devnet, request, kinds, block)


@trace.method("trace_rawTransaction")
async def trace_raw_transaction(devnet: Devnet, params: Any) -> dict[str, Any]:
    """A signed transaction traced as a call on the latest block, without sending it."""
    raw, kinds = parse_params(
        params, [(parse.data, REQUIRED, "data"), (trace_types, REQUIRED, "traceTypes")]
    )
    devnet.pool.check_size(len(raw))
    tx = devnet.chain.decode_transaction(raw)
    request = CallRequest(
        sender=tx.sender,
        to=tx.to,
        gas=tx.gas,
        value=tx.value,
        data=tx.data,
        max_fee_per_gas=getattr(tx, "max_fee_per_gas", None) or getattr(tx, "gas_price", None),
        max_priority_fee_per_gas=getattr(tx, "max_priority_fee_per_gas", None)
        or getattr(tx, "gas_price", None),
        nonce=tx.nonce,
        access_list=tuple(
            (entry.account, tuple(entry.storage_keys)) for entry in _field(tx, "access_list")
        ),
        authorization_list=_field(tx, "authorization_list"),
    )
    return await _call(devnet, request, kinds, "latest")


def _field(tx: Any, name: str) -> tuple:
    """A list field of a typed transaction; empty for a type without it (py-evm raises)."""
    try:
        return tuple(getattr(tx, name))
    except (AttributeError, NotImplementedError):
        return ()


async def _call(
    devnet: Devnet, request: CallRequest, kinds: list[str], block: str | int | bytes
) -> dict[str, Any]:
    header = await resolve_state(devnet, block)  # at pending: the pool's state (eth.py)
    result = await _simulate(
        devnet,
        parity.call_traces,
        devnet.chain_at(header),
        request,
        header,
        kinds,
        gas_cap=devnet.limits.gas_cap,
    )
    return await _json(replay_json, result)


# -- running ------------------------------------------------------------------------------------


async def _simulate(devnet: Devnet, fn, *args, **kwargs):
    """``fn`` on a simulator thread, under the node's trace deadline (``--trace-timeout``) and
    one trace budget (``--trace-max-steps``) for the whole request."""
    options = TraceOptions()
    return await devnet._simulate(
        devnet._trace_deadline(options), fn, *args, budget=devnet._trace_budget(), **kwargs
    )


async def _json(write, value) -> Any:
    """The JSON of a trace, written off the event loop (a long trace takes a while)."""
    return await asyncio.get_running_loop().run_in_executor(None, write, value)


def _mined(devnet: Devnet, tx_hash: bytes) -> bool:
    info = devnet.find_transaction(tx_hash)
    return info is not None and info.block_number <= devnet.head.block_number


def _maybe_header(devnet: Devnet, block: str | int | bytes):
    try:
        header = resolve_header(devnet, block)
    except UnknownBlock:
        return None
    if header.block_number > devnet.head.block_number:
        return None
    return header


# -- parameters ---------------------------------------------------------------------------------


def trace_types(value: Any, what: str = "traceTypes") -> list[str]:
    """``["trace", "stateDiff"]``, in any order (``vmTrace`` is refused: -32602)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParams(f'{what}: expected an array of trace types ("trace", "stateDiff")')
    try:
        parity.parity_tracer(value)
    except InvalidInput as exc:
        raise InvalidParams(f"{what}: {exc}") from None
    return list(dict.fromkeys(value))


def _indices(value: Any, what: str) -> list[int]:
    if not isinstance(value, list) or len(value) > 1024:
        raise InvalidParams(f"{what}: expected an array of indices")
    return [
        parse.uint64(v, f"{what}[{i}]") if isinstance(v, str) else _int(v, what)
        for i, v in enumerate(value)
    ]


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParams(f"{what}: expected a non-negative index, got {value!r}")
    return value


def _number(value: Any, what: str) -> int:
    """An ``after``/``count``: a JSON number or a hex quantity."""
    if isinstance(value, str):
        return parse.uint64(value, what)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise InvalidParams(f"{what}: expected a non-negative number, got {value!r}")
    return value


def _addresses(value: Any, what: str) -> frozenset[bytes]:
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected an array of addresses")
    if len(value) > MAX_FILTER_ADDRESSES:
        raise InvalidParams(f"{what}: at most {MAX_FILTER_ADDRESSES} addresses")
    return frozenset(parse.address(v, f"{what}[{i}]") for i, v in enumerate(value))


def _given(value: dict[str, Any], key: str, default: Any) -> Any:
    """A filter field, ``default`` only when absent or null (``""``, ``{}``, ``false`` are
    refused by its parser, not read as "no filter")."""
    field = value.get(key)
    return default if field is None else field


def _filter(devnet: Devnet, value: Any, what: str) -> parity.TraceFilter:
    """reth's ``TraceFilter``: unknown keys are refused; blocks default to 0 and latest."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object")
    unknown = sorted(set(value) - set(FILTER_KEYS))
    if unknown:
        raise InvalidParams(
            f"{what}: unknown field {unknown[0]!r}, expected one of {', '.join(FILTER_KEYS)}"
        )
    head = devnet.head.block_number

    def block(key: str, default: int) -> int:
        raw = value.get(key)
        if raw is None:
            return default
        if isinstance(raw, int) and not isinstance(raw, bool):  # reth takes decimal numbers
            return _number(raw, f"{what}.{key}")
        tag = parse.block_id(raw, f"{what}.{key}")
        if isinstance(tag, bytes):
            raise InvalidParams(f"{what}.{key}: expected a block number or tag, not a hash")
        if tag == "earliest":
            return 0
        if isinstance(tag, str):
            return head
        return tag

    first, last = block("fromBlock", 0), block("toBlock", head)
    if last > head:
        raise InvalidParams(f"{what}.toBlock: block {last} is past the head ({head})")
    mode = value.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode not in FILTER_MODES):
        raise InvalidParams(f'{what}.mode: expected "union" or "intersection"')
    count = value.get("count")
    try:
        return parity.TraceFilter(
            first=first,
            last=last,
            senders=_addresses(_given(value, "fromAddress", []), f"{what}.fromAddress"),
            recipients=_addresses(_given(value, "toAddress", []), f"{what}.toAddress"),
            intersection=FILTER_MODES.get(mode or "union", False),
            after=_number(_given(value, "after", 0), f"{what}.after"),
            count=None if count is None else _number(count, f"{what}.count"),
        )
    except InvalidInput as exc:
        raise InvalidParams(str(exc)) from None


# -- JSON shapes --------------------------------------------------------------------------------


def action_json(entry: FlatTrace) -> dict[str, Any]:
    if entry.kind == "suicide":
        return {
            "address": hexb(entry.sender),
            "balance": qty(entry.value),
            "refundAddress": hexb(entry.to or b""),
        }
    if entry.kind == "create":
        return {
            "from": hexb(entry.sender),
            "gas": qty(entry.gas),
            "init": hexb(entry.input),
            "value": qty(entry.value),
            "creationMethod": entry.call_type,
        }
    return {
        "from": hexb(entry.sender),
        "callType": entry.call_type,
        "gas": qty(entry.gas),
        "input": hexb(entry.input),
        "to": hexb(entry.to or b""),
        "value": qty(entry.value),
    }


def result_json(entry: FlatTrace) -> dict[str, Any] | None:
    if not entry.has_result:
        return None
    if entry.kind == "create":
        return {
            "address": hexb(entry.address) if entry.address is not None else None,
            "code": hexb(entry.output),
            "gasUsed": qty(entry.gas_used),
        }
    return {"gasUsed": qty(entry.gas_used), "output": hexb(entry.output)}


def entry_json(entry: FlatTrace) -> dict[str, Any]:
    """A trace entry as a replay lists it (no block or transaction)."""
    out: dict[str, Any] = {"type": entry.kind, "action": action_json(entry)}
    if entry.error is not None:
        out["error"] = entry.error
    out["result"] = result_json(entry)
    out["subtraces"] = entry.subtraces
    out["traceAddress"] = list(entry.trace_address)
    return out


def located_json(located: LocatedTrace) -> dict[str, Any]:
    """A trace entry as ``trace_transaction``/``block``/``filter``/``get`` write it."""
    out = entry_json(located.trace)
    out["blockHash"] = hexb(located.block_hash)
    out["blockNumber"] = located.block_number
    out["transactionHash"] = hexb(located.transaction_hash)
    out["transactionPosition"] = located.transaction_position
    return out


def _located_list(located: list[LocatedTrace]) -> list[dict[str, Any]]:
    return [located_json(entry) for entry in located]


def delta_json(delta: Delta, write) -> Any:
    if delta.kind == "=":
        return "="
    if delta.kind == "+":
        return {"+": write(delta.after)}
    if delta.kind == "-":
        return {"-": write(delta.before)}
    return {"*": {"from": write(delta.before), "to": write(delta.after)}}


def account_diff_json(diff: AccountDiff) -> dict[str, Any]:
    return {
        "balance": delta_json(diff.balance, qty),
        "code": delta_json(diff.code, hexb),
        "nonce": delta_json(diff.nonce, qty),
        "storage": {word(slot): delta_json(d, word) for slot, d in diff.storage.items()},
    }


def replay_json(result: ParityTrace) -> dict[str, Any]:
    """``{output, stateDiff, trace, vmTrace}``: what was not asked is null (``trace``: [])."""
    return {
        "output": hexb(result.output),
        "stateDiff": None
        if result.state_diff is None
        else {hexb(a): account_diff_json(d) for a, d in result.state_diff.items()},
        "trace": [entry_json(entry) for entry in result.traces or ()],
        "vmTrace": None,
    }


def _replays_list(results: list[tuple[bytes, ParityTrace]]) -> list[dict[str, Any]]:
    return [{**replay_json(result), "transactionHash": hexb(h)} for h, result in results]
