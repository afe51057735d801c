"""The ``debug_trace*`` methods: geth's struct logger, ``callTracer`` and ``prestateTracer``.

Parsing of the trace config and geth's JSON shapes live here; the replay itself is
``node.tracing`` and runs on a simulator thread, never on the event loop, under the node's
trace deadline and step cap (``Devnet.trace_*``). Where anvil and
geth write a trace differently, this writes geth's (memory words and storage without ``0x``,
``refund`` only when non-zero, the top call's ``gas`` being the transaction's gas limit).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any

from node import tracing
from node.devnet import Devnet
from node.tracing import (
    AccountState,
    CallFrame,
    PrestateTrace,
    StructLog,
    StructTrace,
    TraceOptions,
    TraceResult,
)
from rpc import params as parse
from rpc.errors import InvalidParams
from rpc.eth import resolve_header, resolve_state
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb, qty, word

trace = Namespace()
METHODS = trace.methods

STRUCT_FLAGS = {
    "enableMemory": "enable_memory",
    "disableStack": "disable_stack",
    "disableStorage": "disable_storage",
    "enableReturnData": "enable_return_data",
}
CALL_TRACER_FLAGS = {"onlyTopCall": "only_top_call", "withLog": "with_log"}
GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
GO_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
PRESTATE_FLAGS = {
    "diffMode": "diff_mode",
    "disableCode": "disable_code",
    "disableStorage": "disable_storage",
}
# tracerConfig keys by tracer; a tracer without an entry takes none.
TRACER_CONFIG_FLAGS = {
    tracing.CALL_TRACER: CALL_TRACER_FLAGS,
    tracing.PRESTATE_TRACER: PRESTATE_FLAGS,
}


# -- methods ------------------------------------------------------------------------------------


@trace.method("debug_traceTransaction")
async def trace_transaction(devnet: Devnet, params: Any) -> Any:
    """Replay a mined transaction on its block's pre-state and trace it."""
    tx_hash, options = parse_params(
        params, [(parse.hash32, REQUIRED, "hash"), (trace_options, TraceOptions(), "options")]
    )
    info = devnet.find_transaction(tx_hash)
    if info is None or info.block_number > devnet.head.block_number:
        raise tracing.NotTraceable("transaction not found")
    return await _json(await devnet.trace_transaction(tx_hash, options))


@trace.method("debug_traceCall")
async def trace_call(devnet: Devnet, params: Any) -> Any:
    """Trace a call as ``eth_call`` runs it (state and block overrides in the options)."""
    fields, block, raw_options = parse_params(
        params,
        [
            (parse.call_object, REQUIRED, "transaction"),
            (parse.block_id, "latest", "block"),
            (_object, {}, "options"),
        ],
    )
    options = trace_options(raw_options, "options")
    request = parse.call_request(fields)
    if raw_options.get("stateOverrides") is not None:
        overrides = parse.state_overrides(raw_options["stateOverrides"], "options.stateOverrides")
        request = replace(request, state_overrides=overrides)
    if raw_options.get("blockOverrides") is not None:
        override = parse.block_override(raw_options["blockOverrides"], "options.blockOverrides")
        request = replace(request, block_override=override)
    header = await resolve_state(devnet, block)
    return await _json(await devnet.trace_call(request, header, options))


@trace.method("debug_traceBlockByNumber")
async def trace_block_by_number(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    """Trace every transaction of a block: ``[{txHash, result}]``."""
    block, options = parse_params(
        params, [(parse.block_id, REQUIRED, "block"), (trace_options, TraceOptions(), "options")]
    )
    return await _trace_block(devnet, block, options)


@trace.method("debug_traceBlockByHash")
async def trace_block_by_hash(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    """Trace every transaction of a block given by hash: ``[{txHash, result}]``."""
    block_hash, options = parse_params(
        params, [(parse.hash32, REQUIRED, "hash"), (trace_options, TraceOptions(), "options")]
    )
    return await _trace_block(devnet, block_hash, options)


async def _trace_block(
    devnet: Devnet, block: str | int | bytes, options: TraceOptions
) -> list[dict[str, Any]]:
    header = resolve_header(devnet, block)
    traces = await devnet.trace_block(header, options)
    return await _json(traces)


async def _json(result: TraceResult | list[tuple[bytes, TraceResult]]) -> Any:
    """geth's JSON of a trace, written off the event loop: a trace at the step cap takes
    seconds to write, and cheap requests must not wait for it."""
    return await asyncio.get_running_loop().run_in_executor(None, _to_json, result)


def _to_json(result: TraceResult | list[tuple[bytes, TraceResult]]) -> Any:
    if isinstance(result, list):
        return [{"txHash": hexb(tx_hash), "result": trace_json(trace)} for tx_hash, trace in result]
    return trace_json(result)


# -- the trace config ---------------------------------------------------------------------------


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object")
    return value


def trace_options(value: Any, what: str = "options") -> TraceOptions:
    """geth's ``TraceConfig``: the struct logger's flags, or ``tracer`` and its
    ``tracerConfig``, and ``timeout`` (a Go duration; the node's --trace-timeout is the
    most). Like geth, keys it does not know (``reexec``) are ignored."""
    value = _object(value, what)
    name = value.get("tracer") or None
    if name is not None and not isinstance(name, str):
        raise InvalidParams(f"{what}.tracer: expected a tracer name")
    if name is not None and name not in tracing.TRACERS:
        raise InvalidParams(str(tracing.UnknownTracer(name)))
    fields: dict[str, Any] = {"tracer": name}
    if value.get("timeout") is not None:
        fields["timeout"] = go_duration_seconds(value["timeout"], f"{what}.timeout")
    if name is None:
        source, flags, where = value, STRUCT_FLAGS, what
        if value.get("limit") is not None:
            fields["limit"] = parse.quantity(value["limit"], f"{what}.limit")
    else:
        source = _object(value.get("tracerConfig") or {}, f"{what}.tracerConfig")
        flags = TRACER_CONFIG_FLAGS.get(name, {})
        where = f"{what}.tracerConfig"
    for key, attribute in flags.items():
        if source.get(key) is not None:
            fields[attribute] = parse.boolean(source[key], f"{where}.{key}")
    return TraceOptions(**fields)


def go_duration_seconds(value: Any, what: str) -> float:
    """A Go ``time.Duration`` string (``"10s"``, ``"1m30s"``, ``"500ms"``) in seconds."""
    text = value if isinstance(value, str) else ""
    parts = GO_DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise InvalidParams(f'{what}: expected a duration such as "10s" or "500ms"')
    return sum(float(number) * GO_DURATION_UNITS[unit] for number, unit in parts)


# -- geth's JSON shapes ---------------------------------------------------------------------------


def trace_json(result: TraceResult) -> Any:
    """geth's JSON of a trace; a tracer whose result is none of geth's shapes here returns
    JSON-ready values (as geth's native tracers hand back raw JSON), written as they are."""
    if isinstance(result, StructTrace):
        return struct_trace_json(result)
    if isinstance(result, CallFrame):
        return call_frame_json(result)
    if isinstance(result, PrestateTrace):
        return prestate_json(result)
    return result


def struct_trace_json(result: StructTrace) -> dict[str, Any]:
    return {
        "gas": result.gas,
        "failed": result.failed,
        "returnValue": hexb(result.return_value),
        "structLogs": [struct_log_json(log) for log in result.struct_logs],
    }


def struct_log_json(log: StructLog) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pc": log.pc,
        "op": log.op,
        "gas": log.gas,
        "gasCost": log.gas_cost,
        "depth": log.depth,
    }
    if log.error:
        out["error"] = log.error
    if log.stack is not None:
        out["stack"] = [hex(value) for value in log.stack]
    if log.return_data:
        out["returnData"] = hexb(log.return_data)
    if log.memory:
        out["memory"] = [log.memory[i : i + 32].hex() for i in range(0, len(log.memory), 32)]
    if log.storage:
        out["storage"] = {
            slot.to_bytes(32, "big").hex(): value.to_bytes(32, "big").hex()
            for slot, value in log.storage.items()
        }
    if log.refund:
        out["refund"] = log.refund
    return out


def call_frame_json(frame: CallFrame) -> dict[str, Any]:
    out: dict[str, Any] = {
        "from": hexb(frame.sender),
        "gas": qty(frame.gas),
        "gasUsed": qty(frame.gas_used),
    }
    if frame.to is not None:
        out["to"] = hexb(frame.to)
    out["input"] = hexb(frame.input)
    if frame.output:
        out["output"] = hexb(frame.output)
    if frame.error:
        out["error"] = frame.error
    if frame.revert_reason:
        out["revertReason"] = frame.revert_reason
    if frame.calls:
        out["calls"] = [call_frame_json(call) for call in frame.calls]
    if frame.logs:
        out["logs"] = [
            {
                "address": hexb(log.address),
                "topics": [hexb(topic) for topic in log.topics],
                "data": hexb(log.data),
                "position": qty(log.position),
                "index": qty(log.index),
            }
            for log in frame.logs
        ]
    if frame.value is not None:
        out["value"] = qty(frame.value)
    out["type"] = frame.type
    return out


def account_json(account: AccountState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if account.balance is not None:
        out["balance"] = qty(account.balance)
    if account.code:
        out["code"] = hexb(account.code)
    if account.nonce:
        out["nonce"] = account.nonce
    if account.storage:
        out["storage"] = {
            word(slot): word(value) for slot, value in sorted(account.storage.items())
        }
    return out


def prestate_json(result: PrestateTrace) -> dict[str, Any]:
    # Sorted by address, as geth's JSON writes a map.
    pre = {hexb(a): account_json(account) for a, account in sorted(result.pre.items())}
    if result.post is None:
        return pre
    post = {hexb(a): account_json(account) for a, account in sorted(result.post.items())}
    return {"post": post, "pre": pre}
