"""The tracing engine: a traced run of one transaction on py-evm, reporting to a tracer.

py-evm has no tracer API, so a trace runs the transaction with a computation class derived,
for that one run, from the state's own (``traced_computation_class``): each opcode function
is wrapped to report the step before and after it runs, message application reports each call
frame as it is entered and left, and ``add_log_entry`` reports logs. Nothing else of the fork
changes, so the traced run is the block's run.

A ``Session`` keeps the frame stack and the call tree (``CallFrame``) of one transaction and
hands each step to a ``Tracer``, whose hooks (``start``, ``before_op``, ``after_op``,
``finish``) are all a tracer writes; the tracers themselves are one module each, named in
``node.tracing.registry``.

A trace is bounded in what it may hold (``TraceBudget``: struct-log steps and an estimate of
the bytes of logs, frames and accounts kept); past it the trace stops with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth.abc import ComputationAPI, MessageAPI, SignedTransactionAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Halt, Revert, VMError
from eth.vm.logic.invalid import InvalidOpcode

from node.errors import TraceLimitExceeded
from node.interrupt import Interrupted
from node.tracing.wording import geth_error, geth_revert_reason, opcode_name

if TYPE_CHECKING:
    from node.tracing.registry import TraceOptions, TraceResult
    from node.tracing.struct_logger import StructLog

CALLS = frozenset({"CALL", "CALLCODE", "DELEGATECALL", "STATICCALL"})
CREATES = frozenset({"CREATE", "CREATE2"})
STORAGE_OPS = frozenset({"SLOAD", "SSTORE"})

# What one trace request may hold. geth has no such bound, but py-evm's struct logs cost
# about 1 kB a step (190 MB per million gas of a tight loop), so a request is capped; a
# "limit" in the trace config at most this large truncates instead, as in geth.
TRACE_MAX_STEPS = 100_000  # struct-log entries (--trace-max-steps)
TRACE_MAX_BYTES = 128 * 1024 * 1024  # estimated size of what a trace keeps (JSON: ~4x)
# Rough sizes of what a trace keeps, in bytes of Python objects (measured with tracemalloc).
STEP_BYTES = 250
STACK_ITEM_BYTES = 45
STORAGE_ENTRY_BYTES = 150
FRAME_BYTES = 400
LOG_BYTES = 250
ACCOUNT_BYTES = 300


class TraceBudget:
    """What one trace request may still hold, shared by all the transactions it traces.
    Past it the trace stops (``Interrupted`` carrying ``TraceLimitExceeded``)."""

    __slots__ = ("max_steps", "max_bytes", "steps", "bytes")

    def __init__(self, max_steps: int = TRACE_MAX_STEPS, max_bytes: int = TRACE_MAX_BYTES):
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self.steps = 0
        self.bytes = 0

    def take_step(self, size: int) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise Interrupted(
                TraceLimitExceeded(
                    f"trace exceeded the limit of {self.max_steps} steps of this node "
                    '(--trace-max-steps); set "limit" in the trace config to get the first '
                    "steps only, or use the callTracer"
                )
            )
        self.take(size)

    def take(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise Interrupted(
                TraceLimitExceeded(
                    f"trace exceeded the memory limit of {self.max_bytes // 2**20} MiB of this "
                    'node; trace with less (disableStack, no enableMemory, a "limit")'
                )
            )


# -- the call tree ------------------------------------------------------------------------------


@dataclass
class CallLog:
    """A log a frame emitted, placed among the frame's sub-calls."""

    address: bytes
    topics: list[bytes]
    data: bytes
    position: int  # how many sub-calls of the frame came before the log
    index: int = 0  # among the transaction's logs (anvil's field; set when it ends)
    counter: int = 0  # emission order within the transaction


@dataclass
class CallFrame:
    """One call frame of a transaction (the ``callTracer``'s result is the top one)."""

    type: str  # CALL CALLCODE DELEGATECALL STATICCALL CREATE CREATE2 SELFDESTRUCT
    sender: bytes
    to: bytes | None  # None for a failed creation
    value: int | None  # None for STATICCALL
    gas: int
    input: bytes
    gas_used: int = 0
    output: bytes = b""
    error: str | None = None
    revert_reason: str | None = None
    calls: list[CallFrame] = field(default_factory=list)
    logs: list[CallLog] = field(default_factory=list)


# -- what a traced run reports --------------------------------------------------------------


@dataclass(frozen=True)
class TracedTransaction:
    """The transaction being traced, whether mined or a simulated call."""

    sender: bytes
    to: bytes | None  # None: contract creation
    value: int
    data: bytes
    gas: int

    @classmethod
    def of(cls, tx: SignedTransactionAPI, sender: bytes) -> TracedTransaction:
        to = None if tx.to == CREATE_CONTRACT_ADDRESS else tx.to
        return cls(sender, to, tx.value, tx.data, tx.gas)


@dataclass(frozen=True)
class Outcome:
    gas_used: int  # as the receipt has it (refunds and the calldata floor applied)
    output: bytes
    error: Exception | None


class Frame:
    """A call frame while it runs: the message, the opcode running in it, what it called."""

    __slots__ = (
        "kind",
        "message",
        "address",
        "computation",
        "step",
        "pc_after",
        "trace",
        "committed_refund",
        "target",
    )

    def __init__(self, kind: str, message: MessageAPI, trace: CallFrame) -> None:
        self.kind = kind
        self.message = message
        self.address = message.storage_address
        self.computation: ComputationAPI | None = None
        self.step: Step | None = None  # the opcode running now
        self.pc_after = 0  # program counter after the previous opcode
        self.trace = trace
        self.committed_refund = 0  # refunds of sub-calls that succeeded
        self.target: bytes | None = None  # call target read off the stack by CALL & co


class Step:
    __slots__ = ("op", "gas", "child_gas_mark", "child_gas", "log", "selfdestruct")

    def __init__(self, op: str, gas: int) -> None:
        self.op = op
        self.gas = gas
        self.child_gas_mark: int | None = None  # gas left when the op entered a sub-call
        self.child_gas = 0  # gas the op handed to that sub-call
        self.log: StructLog | None = None
        self.selfdestruct: tuple[bytes, int] | None = None  # (beneficiary, balance)


class Tracer:
    """Hooks a traced run calls; the default ones record nothing but the call tree.

    A tracer is built per transaction from the request's options and the budget the whole
    request shares; ``finish`` returns its result (one of geth's shapes that ``rpc.trace``
    writes, or for a tracer of its own, JSON-ready values)."""

    def __init__(self, options: TraceOptions, budget: TraceBudget | None = None) -> None:
        self.options = options
        self.budget = budget or TraceBudget()

    def start(self, state: StateAPI, tx: TracedTransaction) -> None:
        """Before the transaction touches the state (nonce and gas not yet taken)."""

    def before_op(self, session: Session, frame: Frame, computation: ComputationAPI) -> None:
        """Before an opcode runs, with ``frame.step`` set."""

    def after_op(self, frame: Frame, step: Step, gas_cost: int, error: VMError | None) -> None:
        """After an opcode ran, with the gas it cost as geth counts it."""

    def finish(
        self, session: Session, state: StateAPI, tx: TracedTransaction, outcome: Outcome
    ) -> TraceResult:
        raise NotImplementedError


class Session:
    """One traced transaction: the frame stack and the call tree, fed by the traced class."""

    def __init__(self, tracer: Tracer, budget: TraceBudget | None = None) -> None:
        self.tracer = tracer
        self.budget = budget or TraceBudget()
        self.tx: TracedTransaction | None = None
        self.frames: list[Frame] = []
        self.root: CallFrame | None = None
        self.log_counter = 0
        self._untraced: tuple[type, type] | None = None

    def install(self, state: StateAPI) -> None:
        """Run ``state``'s next transaction traced (the fork's classes, subclassed)."""
        computation_class = state.computation_class
        executor_class = state.transaction_executor_class
        self._untraced = (computation_class, executor_class)
        state.computation_class = traced_computation_class(computation_class, self)
        state.transaction_executor_class = traced_executor_class(executor_class, self)

    def uninstall(self, state: StateAPI) -> None:
        """Back to the classes ``state`` had (a deadline's, if one was installed)."""
        state.computation_class, state.transaction_executor_class = self._untraced

    def start(self, state: StateAPI, transaction: SignedTransactionAPI) -> None:
        """The transaction is about to buy its gas: what it touches is still untouched."""
        self.tx = TracedTransaction.of(transaction, transaction.sender)
        self.tracer.start(state, self.tx)

    # frames

    def enter(self, message: MessageAPI) -> Frame:
        if self.frames:
            parent = self.frames[-1]
            step = parent.step
            kind = step.op if step is not None else "CALL"
            if step is not None and parent.computation is not None:
                step.child_gas_mark = parent.computation.get_gas_remaining()
                step.child_gas = message.gas
            sender = parent.address
            if kind in ("DELEGATECALL", "CALLCODE"):
                to = parent.target or message.code_address
            else:
                to = message.storage_address
        else:
            kind = "CREATE" if message.is_create else "CALL"
            sender, to = message.sender, message.storage_address
        trace = CallFrame(
            type=kind,
            sender=sender,
            to=to,
            value=None if kind == "STATICCALL" else message.value,
            gas=message.gas,
            input=bytes(message.code if message.is_create else message.data),
        )
        self.budget.take(FRAME_BYTES + len(trace.input))
        frame = Frame(kind, message, trace)
        self.frames.append(frame)
        return frame

    def exit(self, frame: Frame, computation: ComputationAPI) -> None:
        self.frames.pop()
        trace = frame.trace
        trace.gas_used = computation.get_gas_used()
        if computation.is_success:
            trace.output = bytes(computation.output)
            self.budget.take(len(trace.output))
        else:
            error = computation.error
            trace.error = geth_error(error)
            if frame.kind in CREATES:
                trace.to = None
            if isinstance(error, Revert) and computation.output:
                trace.output = bytes(computation.output)
                trace.revert_reason = geth_revert_reason(trace.output)
        if self.frames:
            parent = self.frames[-1]
            parent.trace.calls.append(trace)
            if computation.is_success:
                parent.committed_refund += computation.get_gas_refund()
        else:
            self.root = trace

    def abandon(self, frame: Frame) -> None:
        """A message that failed before it ran (py-evm raised out of message application):
        the calling opcode fails, and geth reports no frame for it."""
        self.frames.remove(frame)

    def run_frame(self, message: MessageAPI, apply: Callable[..., ComputationAPI], *args: Any):
        frame = self.enter(message)
        try:
            computation = apply(*args)
        except BaseException:
            self.abandon(frame)
            raise
        self.exit(frame, computation)
        return computation

    # opcodes

    def before_op(self, computation: ComputationAPI, name: str) -> None:
        frame = self.frames[-1]
        frame.computation = computation
        step = Step(name, computation.get_gas_remaining())
        frame.step = step
        if name in CALLS:
            frame.target = stack_address(computation, 2)
        elif name == "SELFDESTRUCT":
            beneficiary = stack_address(computation, 1)
            if beneficiary is not None:
                step.selfdestruct = (beneficiary, computation.state.get_balance(frame.address))
        self.tracer.before_op(self, frame, computation)

    def after_op(self, computation: ComputationAPI, error: VMError | None) -> None:
        frame = self.frames[-1]
        step = frame.step
        if step is None:
            return
        if step.child_gas_mark is not None:
            # geth counts the gas handed to a CALL in its cost, not the gas of a CREATE's.
            cost = step.gas - step.child_gas_mark
            if step.op in CREATES:
                cost -= step.child_gas
        else:
            cost = step.gas - computation.get_gas_remaining()
        if step.selfdestruct is not None and error is None:
            beneficiary, balance = step.selfdestruct
            frame.trace.calls.append(
                CallFrame("SELFDESTRUCT", frame.address, beneficiary, balance, 0, b"")
            )
        frame.pc_after = computation.code.program_counter
        frame.step = None
        frame.target = None
        self.tracer.after_op(frame, step, cost, error)

    def add_log(self, address: bytes, topics: Sequence[int], data: bytes) -> None:
        frame = self.frames[-1]
        self.log_counter += 1
        self.budget.take(LOG_BYTES + len(data) + 32 * len(topics))
        frame.trace.logs.append(
            CallLog(
                address=address,
                topics=[t.to_bytes(32, "big") for t in topics],
                data=bytes(data),
                position=len(frame.trace.calls),
                counter=self.log_counter,
            )
        )

    def refund(self) -> int:
        """The transaction's refund counter now, as geth's StateDB keeps it."""
        total = 0
        for frame in self.frames:
            if frame.computation is not None:
                total += frame.computation.get_gas_meter().gas_refunded
            total += frame.committed_refund + frame.message.refund
        return total

    def finish(self, state: StateAPI, outcome: Outcome) -> TraceResult:
        tx = self.tx
        if tx is None:
            raise RuntimeError("the traced state ran no transaction")
        if self.root is None:
            # No message ran (a creation onto an occupied address): one failed frame.
            self.root = CallFrame(
                type="CALL" if tx.to is not None else "CREATE",
                sender=tx.sender,
                to=tx.to,
                value=tx.value,
                gas=tx.gas,
                input=tx.data,
                error=geth_error(outcome.error) if outcome.error is not None else None,
            )
        return self.tracer.finish(self, state, tx, outcome)


class TracedOpcode:
    """An opcode function that reports to the session before and after it runs."""

    __slots__ = ("fn", "opcode", "mnemonic", "session")

    def __init__(self, opcode: int, fn: Any, session: Session) -> None:
        self.opcode = opcode
        self.mnemonic = opcode_name(opcode, fn)
        self.fn = fn if fn is not None else InvalidOpcode(opcode)
        self.session = session

    def __call__(self, computation: ComputationAPI) -> None:
        session = self.session
        session.before_op(computation, self.mnemonic)
        try:
            self.fn(computation=computation)
        except Halt:
            session.after_op(computation, None)
            raise
        except VMError as error:
            session.after_op(computation, error)
            raise
        session.after_op(computation, None)


def traced_computation_class(base: type, session: Session) -> type:
    """``base`` (a fork's computation class) reporting every frame, opcode and log."""
    opcodes = {value: TracedOpcode(value, base.opcodes.get(value), session) for value in range(256)}

    class TracedComputation(base):  # type: ignore[misc, valid-type]
        @classmethod
        def apply_message(cls, state, message, transaction_context, parent_computation=None):
            apply = super().apply_message
            if message.is_create:  # entered by apply_create_message, which calls this
                return apply(state, message, transaction_context, parent_computation)
            return session.run_frame(
                message, apply, state, message, transaction_context, parent_computation
            )

        @classmethod
        def apply_create_message(cls, state, message, transaction_context, parent_computation=None):
            apply = super().apply_create_message
            return session.run_frame(
                message, apply, state, message, transaction_context, parent_computation
            )

        def add_log_entry(self, account, topics, data) -> None:
            super().add_log_entry(account, topics, data)
            session.add_log(account, topics, data)

    TracedComputation.opcodes = opcodes
    TracedComputation.__name__ = TracedComputation.__qualname__ = f"Traced{base.__name__}"
    return TracedComputation


def traced_executor_class(base: type, session: Session) -> type:
    """``base`` (a fork's transaction executor) telling the session when a transaction
    starts: validated, about to take nonce and gas (geth's ``OnTxStart``)."""

    class TracedTransactionExecutor(base):  # type: ignore[misc, valid-type]
        def build_evm_message(self, transaction):
            session.start(self.vm_state, transaction)
            return super().build_evm_message(transaction)

    TracedTransactionExecutor.__name__ = f"Traced{base.__name__}"
    TracedTransactionExecutor.__qualname__ = TracedTransactionExecutor.__name__
    return TracedTransactionExecutor


# -- the stack ----------------------------------------------------------------------------------


def as_int(value: int | bytes) -> int:
    return value if isinstance(value, int) else int.from_bytes(value, "big")


def stack_ints(computation: ComputationAPI) -> list[int]:
    return [as_int(v) for v in computation._stack.values]


def stack_address(computation: ComputationAPI, depth: int) -> bytes | None:
    """The address in the ``depth``-th stack item from the top, or None if too shallow."""
    values = computation._stack.values
    if len(values) < depth:
        return None
    return as_int(values[-depth]).to_bytes(32, "big")[12:]
