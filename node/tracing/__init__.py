"""Transaction tracing on py-evm: geth's struct logger, ``callTracer`` and ``prestateTracer``.

- ``engine``: the traced run (frames, opcodes, logs) and the ``Tracer`` hooks;
- ``struct_logger``, ``call_tracer``, ``prestate_tracer``: one tracer each;
- ``registry``: the name -> tracer table and the trace options;
- ``replay``: tracing a mined transaction, a block or a call;
- ``parity``: OpenEthereum's flat traces and state diffs (``trace_*``);
- ``wording``: geth's names and error texts.

Results are Python values (ints, bytes, dataclasses); ``rpc/trace.py`` writes them in geth's
JSON shapes. Where a field has no exact py-evm counterpart the geth meaning is kept (see the
tracer classes).
"""

from node.tracing.call_tracer import CallTracer
from node.tracing.engine import (
    TRACE_MAX_BYTES,
    TRACE_MAX_STEPS,
    CallFrame,
    CallLog,
    TraceBudget,
    Tracer,
)
from node.tracing.prestate_tracer import AccountState, PrestateTrace, PrestateTracer
from node.tracing.registry import (
    CALL_TRACER,
    PRESTATE_TRACER,
    TRACERS,
    TraceOptions,
    TraceResult,
    UnknownTracer,
    make_tracer,
)
from node.tracing.replay import NotTraceable, trace_block, trace_call, trace_transaction
from node.tracing.struct_logger import StructLog, StructLogger, StructTrace

__all__ = [
    "CALL_TRACER",
    "PRESTATE_TRACER",
    "TRACERS",
    "TRACE_MAX_BYTES",
    "TRACE_MAX_STEPS",
    "AccountState",
    "CallFrame",
    "CallLog",
    "CallTracer",
    "NotTraceable",
    "PrestateTrace",
    "PrestateTracer",
    "StructLog",
    "StructLogger",
    "StructTrace",
    "TraceBudget",
    "TraceOptions",
    "TraceResult",
    "Tracer",
    "UnknownTracer",
    "make_tracer",
    "trace_block",
    "trace_call",
    "trace_transaction",
]
