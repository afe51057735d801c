"""Interrupting simulations: a wall-clock deadline checked inside py-evm's interpreter loop.

A simulation (``eth_call``, ``eth_estimateGas``, ``eth_createAccessList``, ``debug_trace*``)
runs its state with a computation class derived, for that run only, from the state's own
(``Deadline.install``). It checks the deadline where unbounded work must pass: before each
JUMP and JUMPI (every loop jumps back) and before each message (every call, creation and
precompile, so recursion is caught too). Straight-line code between two checks is bounded
by the code size. Block building never uses the derived class and pays nothing.

Past the deadline, or once ``abort`` is called (the node is stopping), the check raises
``Interrupted``. It derives from ``BaseException`` on purpose: py-evm swallows only its own
``VMError``, but the EXECUTE precompile and other untrusted-input paths catch every
``Exception``; nothing there may turn the interruption into an ordinary failed call.
``Deadline.run`` turns it back into the user-facing error (``SimulationTimeout`` with
geth's wording, ``SimulationAborted``, or a trace limit).

A single precompile call is not interrupted midway: a pairing (native, about 2 ms a pair,
bounded by its gas) or an EXECUTE re-execution (bounded by the block's execute gas limit) may
overrun the deadline by its own running time; the check before the next opcode stops it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from cached_property import cached_property
from eth.vm.opcode_values import JUMP, JUMPI

from node.errors import SimulationAborted, SimulationTimeout

RPC_EVM_TIMEOUT = 5.0  # seconds an eth_call/estimate/access list may run (geth's rpc.evmtimeout)
# Seconds a debug_trace* request may run. geth gives a trace 5 s, but py-evm runs traced
# code about 2.5x slower than untraced, so this keeps what fits an eth_call traceable.
TRACE_TIMEOUT = 15.0
CHECKED_OPCODES = (JUMP, JUMPI)

T = TypeVar("T")


class Interrupted(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt
    """Raised inside a simulation to stop it at once; ``error`` is what the user gets."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@contextmanager
def interruptions_as_errors() -> Iterator[None]:
    """Inside: an ``Interrupted`` simulation leaves as the error it carries."""
    try:
        yield
    except Interrupted as signal:
        raise signal.error from None


class Deadline:
    """When a simulation must stop, and the way to stop it early.

    ``timeout_error`` is what the user is told when time runs out: geth says
    ``execution aborted (timeout = 5s)`` for calls and ``execution timeout`` for traces.
    The clock starts when the request arrives (the deadline is made), as geth's request
    context does: time spent waiting for a simulator thread counts, so a request queued
    behind endless calls is answered within its timeout instead of after theirs.
    """

    __slots__ = ("seconds", "_timeout_error", "expires_at", "_abort_error", "_classes")
    inline = False  # an ``InlineSlice`` also refuses precompiles

    def __init__(self, seconds: float, timeout_error: Exception | None = None) -> None:
        self.seconds = seconds
        self._timeout_error = timeout_error  # None: made when time runs out (rarely)
        self.expires_at = time.monotonic() + seconds
        self._abort_error: Exception | None = None
        self._classes: dict[type, type] = {}

    @property
    def timeout_error(self) -> Exception:
        if self._timeout_error is None:
            self._timeout_error = self._default_timeout_error()
        return self._timeout_error

    def _default_timeout_error(self) -> Exception:
        return SimulationTimeout(f"execution aborted (timeout = {go_duration(self.seconds)})")

    @classmethod
    def for_trace(cls, seconds: float) -> Deadline:
        return cls(seconds, SimulationTimeout("execution timeout"))

    def abort(self, error: Exception | None = None) -> None:
        """Stop the simulation at its next check (from any thread)."""
        self._abort_error = error or SimulationAborted(
            "execution aborted (the node is shutting down)"
        )
        self.expires_at = 0.0  # the next check fires

    def check(self) -> None:
        if time.monotonic() >= self.expires_at:
            raise Interrupted(self._abort_error or self.timeout_error)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` against this deadline; an interruption becomes its error."""
        with interruptions_as_errors():
            self.check()  # aborted, or out of time, before it began
            return fn(*args, **kwargs)

    def install(self, state: Any) -> None:
        """Make ``state`` (a throw-away simulation state) check this deadline: its computation
        class becomes the shared interruptible variant of its own (made once per class, not
        per call), which reads the deadline to check from the state."""
        state.simulation_deadline = self
        base = state.computation_class
        derived = state.computation_class = interruptible_class(base)
        self._classes[base] = derived  # what it runs under (a running simulation has one)

    def computation_class(self, base: type) -> type:
        """``base`` (a fork's computation class, maybe traced) checking this deadline."""
        derived = self._classes.get(base)
        if derived is None:
            derived = self._classes[base] = _interruptible(base, self.check)
        return derived


class _NoDeadline:
    """What a reused state checks when its current run has no deadline."""

    __slots__ = ()
    inline = False

    def check(self) -> None:
        return None


NO_DEADLINE = _NoDeadline()
MAX_SHARED_CLASSES = 64  # interruptible variants kept (forks, traced and logging variants)
_shared_classes: dict[type, type] = {}


def interruptible_class(base: type) -> type:
    """``base`` checking the deadline its state carries (``state.simulation_deadline``, set
    by ``Deadline.install``). One class per ``base``, kept in a bounded table: a derived class
    costs more to make (about a tenth of a short ``eth_call``) than the call itself runs."""
    if getattr(base, "checks_state_deadline", False):
        return base  # already checking (a state reused for another call)
    derived = _shared_classes.get(base)
    if derived is None:
        if len(_shared_classes) >= MAX_SHARED_CLASSES:
            _shared_classes.clear()  # bounded; the classes in use stay referenced by states
        derived = _shared_classes[base] = _state_interruptible(base)
    return derived


def _state_interruptible(base: type) -> type:
    opcodes = dict(base.opcodes)
    for value in CHECKED_OPCODES:
        opcodes[value] = _state_checked_opcode(base.opcodes[value])

    class InterruptibleComputation(base):  # type: ignore[misc, valid-type]
        checks_state_deadline = True

        @classmethod
        def apply_message(cls, state, message, transaction_context, parent_computation=None):
            deadline = state.simulation_deadline
            deadline.check()
            if deadline.inline and message.code_address in cls._precompiles:
                raise Interrupted(MovedToThread("a precompile"))
            return super().apply_message(state, message, transaction_context, parent_computation)

    InterruptibleComputation.opcodes = opcodes
    for name in _STACK_SHORTCUTS:
        if isinstance(getattr(base, name, None), cached_property):
            setattr(InterruptibleComputation, name, _StackShortcut(name))
    InterruptibleComputation.__name__ = f"Interruptible{base.__name__}"
    InterruptibleComputation.__qualname__ = InterruptibleComputation.__name__
    return InterruptibleComputation


# py-evm's computation binds these stack methods on first use with the ``cached_property``
# package, which asks ``asyncio.iscoroutinefunction`` every time (a few per message).
_STACK_SHORTCUTS = (
    "stack_pop_ints",
    "stack_pop_bytes",
    "stack_pop_any",
    "stack_pop1_int",
    "stack_pop1_bytes",
    "stack_pop1_any",
    "stack_push_int",
    "stack_push_bytes",
)


class _StackShortcut:
    """``computation.stack_pop_ints`` and the like: the stack's own bound method, kept on
    the computation on first use, as py-evm's ``cached_property`` keeps it."""

    __slots__ = ("name", "method")

    def __init__(self, name: str) -> None:
        self.name = name
        self.method = name.removeprefix("stack_")

    def __get__(self, computation: Any, cls: type | None = None) -> Any:
        if computation is None:
            return self
        bound = computation.__dict__[self.name] = getattr(computation._stack, self.method)
        return bound


class MovedToThread(Exception):  # noqa: N818 - a signal to the caller, never to a user
    """An ``InlineSlice`` ran out: run the simulation again, on a simulator thread."""


class InlineSlice(Deadline):
    """A first attempt at a simulation on the event loop's own thread, for at most
    ``seconds`` (and never past ``parent``): a short ``eth_call`` is answered without the two
    thread switches a simulator thread costs (on a busy machine more than the call itself).
    A precompile (a pairing or an EXECUTE re-execution runs long without a check) and running
    out of time both end it with ``MovedToThread``; the caller then runs the whole
    simulation again on a simulator thread under ``parent``. Nothing is committed by a
    simulation, so the second run sees what the first saw."""

    __slots__ = ()
    inline = True

    def __init__(self, parent: Deadline, seconds: float) -> None:
        super().__init__(seconds)
        self.expires_at = min(self.expires_at, parent.expires_at)

    def _default_timeout_error(self) -> Exception:
        return MovedToThread("the inline slice")


def _state_checked_opcode(fn: Any) -> Callable[..., None]:
    def opcode(computation: Any) -> None:
        computation.state.simulation_deadline.check()
        fn(computation=computation)

    opcode.mnemonic = getattr(fn, "mnemonic", None)  # type: ignore[attr-defined]
    return opcode


def _interruptible(base: type, check: Callable[[], None]) -> type:
    opcodes = dict(base.opcodes)
    for value in CHECKED_OPCODES:
        opcodes[value] = _checked_opcode(base.opcodes[value], check)

    class InterruptibleComputation(base):  # type: ignore[misc, valid-type]
        @classmethod
        def apply_message(cls, state, message, transaction_context, parent_computation=None):
            check()
            return super().apply_message(state, message, transaction_context, parent_computation)

    InterruptibleComputation.opcodes = opcodes
    InterruptibleComputation.__name__ = f"Interruptible{base.__name__}"
    InterruptibleComputation.__qualname__ = InterruptibleComputation.__name__
    return InterruptibleComputation


def _checked_opcode(fn: Any, check: Callable[[], None]) -> Callable[..., None]:
    def opcode(computation: Any) -> None:
        check()
        fn(computation=computation)

    opcode.mnemonic = getattr(fn, "mnemonic", None)  # type: ignore[attr-defined]
    return opcode


def go_duration(seconds: float) -> str:
    """``seconds`` as Go's ``time.Duration`` prints it (``5s``, ``1.5s``, ``500ms``, ``2m0s``),
    so the timeout error reads exactly as geth's."""
    nanoseconds = round(seconds * 1e9)
    if nanoseconds < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanoseconds >= size or unit == "ns":
                return _trim(nanoseconds / size) + unit
    hours, rest = divmod(nanoseconds, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _trim(rest / 1e9) + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")
