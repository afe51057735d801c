"""The tracers this node has, by the name a trace config gives (``"tracer"``), and the
options a trace request carries.

A new tracer is one module (a ``Tracer`` subclass, see ``node.tracing.engine``) and one
entry in ``TRACERS``; without a name the struct logger runs, as in geth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node.errors import InvalidInput
from node.tracing.call_tracer import CallTracer
from node.tracing.engine import CallFrame, TraceBudget, Tracer
from node.tracing.prestate_tracer import PrestateTrace, PrestateTracer
from node.tracing.struct_logger import StructLogger, StructTrace

CALL_TRACER = "callTracer"
PRESTATE_TRACER = "prestateTracer"

TracerFactory = Callable[["TraceOptions", TraceBudget], Tracer]

# name -> tracer; the struct logger runs when no tracer is named.
TRACERS: dict[str, TracerFactory] = {
    CALL_TRACER: CallTracer,
    PRESTATE_TRACER: PrestateTracer,
}

TraceResult = StructTrace | CallFrame | PrestateTrace  # what the tracers here return


class UnknownTracer(InvalidInput):
    """A tracer name this node does not implement."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"unknown tracer {name!r}: this node has {' and '.join(TRACERS)}; "
            "leave the tracer out for the struct logger"
        )


@dataclass(frozen=True)
class TraceOptions:
    """geth's trace config: the struct logger's flags, then each tracer's ``tracerConfig``."""

    tracer: str | None = None  # None: the struct logger
    enable_memory: bool = False
    disable_stack: bool = False
    disable_storage: bool = False  # struct logger and prestateTracer alike
    enable_return_data: bool = False
    limit: int = 0  # struct logger: at most this many steps (0: all)
    only_top_call: bool = False  # callTracer
    with_log: bool = False  # callTracer
    diff_mode: bool = False  # prestateTracer
    disable_code: bool = False  # prestateTracer
    timeout: float | None = None  # seconds; None: the node's --trace-timeout (also the most)

    def __post_init__(self) -> None:
        if self.tracer is not None and self.tracer not in TRACERS:
            raise UnknownTracer(self.tracer)


def make_tracer(options: TraceOptions, budget: TraceBudget | None = None) -> Tracer:
    """The tracer ``options`` name, for one transaction of a request sharing ``budget``."""
    budget = budget or TraceBudget()
    if options.tracer is None:
        return StructLogger(options, budget)
    return TRACERS[options.tracer](options, budget)
