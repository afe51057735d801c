"""Transaction tracing: geth's struct logger, ``callTracer`` and ``prestateTracer`` on py-evm.

py-evm has no tracer API, so a trace runs the transaction with a computation class derived,
for that one run, from the state's own (``traced_computation_class``): each opcode function
is wrapped to report the step before and after it runs, message application reports each call
frame as it is entered and left, and ``add_log_entry`` reports logs. Nothing else of the fork
changes, so the traced run is the block's run.

A mined transaction is replayed the way its block was built: a VM of the chain's fork on the
block's header with the *parent's post-state* (``Chain.state_root_after(parent)``; with the
delayed state root the header carries that root, otherwise its own), the block's
pre-processing (EIP-4788 beacon root, EIP-2935 history, the L1's execute market), the
transactions before it, then the traced one. ``trace_call`` traces ``Chain.call`` itself.

A trace is bounded like any simulation (``node.interrupt``: a deadline checked inside the
interpreter) and in what it may hold (``TraceBudget``: struct-log steps and an estimate of
the bytes of logs, frames and accounts kept); past either it stops with a clear error.

Results are Python values (ints, bytes, dataclasses); ``rpc/trace.py`` writes them in geth's
JSON shapes. Where a field has no exact py-evm counterpart the geth meaning is kept (see the
tracer classes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth._utils.address import generate_contract_address, generate_safe_contract_address
from eth.abc import BlockHeaderAPI, ComputationAPI, MessageAPI, SignedTransactionAPI, StateAPI
from eth.consensus.context import ConsensusContext
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import (
    ContractCreationCollision,
    FullStack,
    Halt,
    InsufficientFunds,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfBoundsRead,
    OutOfGas,
    ReservedBytesInCode,
    Revert,
    StackDepthLimit,
    VMError,
    WriteProtection,
)
from eth.vm.chain_context import ChainContext
from eth.vm.logic.invalid import InvalidOpcode
from eth_abi import decode

from node.chain import RPC_GAS_CAP, CallRequest, Chain
from node.errors import InvalidInput, TraceLimitExceeded
from node.interrupt import Deadline, Interrupted, interruptions_as_errors
from node.revert import ERROR_SELECTOR, PANIC_REASONS, PANIC_SELECTOR

CALL_TRACER = "callTracer"
PRESTATE_TRACER = "prestateTracer"
TRACERS = (CALL_TRACER, PRESTATE_TRACER)  # and the struct logger when none is named

# Opcodes by number as geth names them (py-evm says SHA3 and leaves 0xfe/0xff unnamed).
RENAMED_OPCODES = {0x20: "KECCAK256", 0xFE: "INVALID", 0xFF: "SELFDESTRUCT"}
CALLS = frozenset({"CALL", "CALLCODE", "DELEGATECALL", "STATICCALL"})
CREATES = frozenset({"CREATE", "CREATE2"})
STORAGE_OPS = frozenset({"SLOAD", "SSTORE"})
ACCOUNT_OPS = frozenset({"BALANCE", "EXTCODESIZE", "EXTCODECOPY", "EXTCODEHASH", "SELFDESTRUCT"})
MEMORY_PAD_LIMIT = 1024 * 1024  # geth's bound on reading CREATE2 init code past memory

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


class UnknownTracer(InvalidInput):
    """A tracer name this node does not implement."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"unknown tracer {name!r}: this node has {' and '.join(TRACERS)}; "
            "leave the tracer out for the struct logger"
        )


class NotTraceable(InvalidInput):
    """A transaction or block that cannot be traced (unknown, or the genesis block)."""


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


# -- results ------------------------------------------------------------------------------


@dataclass(slots=True)
class StructLog:
    """One opcode as the struct logger saw it *before* it ran (``gas_cost`` after)."""

    pc: int
    op: str
    gas: int
    gas_cost: int
    depth: int
    stack: list[int] | None
    memory: bytes | None
    return_data: bytes | None
    storage: dict[int, int] | None
    refund: int
    error: str | None = None


@dataclass(frozen=True)
class StructTrace:
    gas: int  # the receipt's gas used
    failed: bool
    return_value: bytes  # output, or revert data; empty after any other failure
    struct_logs: list[StructLog]


@dataclass
class CallLog:
    address: bytes
    topics: list[bytes]
    data: bytes
    position: int  # how many sub-calls of the frame came before the log
    index: int = 0  # among the transaction's logs (anvil's field; set when it ends)
    counter: int = 0  # emission order within the transaction


@dataclass
class CallFrame:
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


@dataclass
class AccountState:
    """An account in a prestate trace; in a diff's ``post`` only what changed is set."""

    balance: int | None = None
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PrestateTrace:
    pre: dict[bytes, AccountState]
    post: dict[bytes, AccountState] | None  # only in diff mode


TraceResult = StructTrace | CallFrame | PrestateTrace


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
    """Hooks a traced run calls; the default ones record nothing but the call tree."""

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
            frame.target = _stack_address(computation, 2)
        elif name == "SELFDESTRUCT":
            beneficiary = _stack_address(computation, 1)
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


# -- the struct logger ------------------------------------------------------------------------


class StructLogger(Tracer):
    """geth's default tracer: one entry per opcode with the machine state before it.

    As geth: ``depth`` starts at 1; ``gasCost`` of CALL & co includes the gas handed to the
    callee, CREATE's does not; ``storage`` appears on SLOAD/SSTORE only and holds the slots
    of that contract seen so far in the transaction; ``refund`` is the transaction's refund
    counter; a frame that runs off the end of its code logs the implicit STOP; a frame without
    code logs nothing."""

    def __init__(self, options: TraceOptions) -> None:
        self.options = options
        self.logs: list[StructLog] = []
        self.storage: dict[bytes, dict[int, int]] = {}

    def before_op(self, session: Session, frame: Frame, computation: ComputationAPI) -> None:
        options = self.options
        if options.limit and len(self.logs) >= options.limit:
            return
        if not computation.msg.code:
            return
        step = frame.step
        code = computation.code
        if step.op == "STOP" and code.program_counter == frame.pc_after:
            pc = code.program_counter  # ran off the end of the code
        else:
            pc = code.program_counter - 1
        stack = _stack_ints(computation)
        storage = None
        if not options.disable_storage and step.op in STORAGE_OPS and stack:
            seen = self.storage.setdefault(frame.address, {})
            slot = stack[-1]
            if step.op == "SLOAD":
                seen[slot] = computation.state.get_storage(frame.address, slot)
            elif len(stack) >= 2:
                seen[slot] = stack[-2]
            storage = dict(seen)
        memory = bytes(computation._memory._bytes) if options.enable_memory else None
        return_data = bytes(computation.return_data) if options.enable_return_data else None
        session.budget.take_step(
            STEP_BYTES
            + (0 if options.disable_stack else STACK_ITEM_BYTES * len(stack))
            + (len(memory) if memory else 0)
            + (len(return_data) if return_data else 0)
            + (STORAGE_ENTRY_BYTES * len(storage) if storage else 0)
        )
        step.log = StructLog(
            pc=pc,
            op=step.op,
            gas=step.gas,
            gas_cost=0,
            depth=computation.msg.depth + 1,
            stack=None if options.disable_stack else stack,
            memory=memory,
            return_data=return_data,
            storage=storage,
            refund=session.refund(),
        )
        self.logs.append(step.log)

    def after_op(self, frame: Frame, step: Step, gas_cost: int, error: VMError | None) -> None:
        if step.log is None:
            return
        step.log.gas_cost = gas_cost
        # geth marks the step that failed before running (out of gas, stack, static call);
        # REVERT and undefined opcodes run and fail afterwards, unmarked.
        if error is not None and not isinstance(error, Revert | InvalidInstruction):
            step.log.error = geth_error(error)

    def finish(
        self, session: Session, state: StateAPI, tx: TracedTransaction, outcome: Outcome
    ) -> StructTrace:
        error = outcome.error
        returned = outcome.output if error is None or isinstance(error, Revert) else b""
        return StructTrace(
            gas=outcome.gas_used,
            failed=error is not None,
            return_value=bytes(returned),
            struct_logs=self.logs,
        )


# -- callTracer ---------------------------------------------------------------------------------


class CallTracer(Tracer):
    """geth's ``callTracer``: the tree of call frames.

    As geth: the top frame's ``gas`` is the transaction's gas limit and its ``gasUsed`` the
    receipt's; a sub-frame's ``gas`` is what the callee was given (63/64 rule and stipend
    applied); DELEGATECALL carries the caller's value, STATICCALL none; a failed creation
    has no ``to``; with ``withLog`` each frame lists its logs with their ``position`` among
    the frame's sub-calls, and frames that failed (or whose caller failed) list none."""

    def __init__(self, options: TraceOptions) -> None:
        self.options = options

    def finish(
        self, session: Session, state: StateAPI, tx: TracedTransaction, outcome: Outcome
    ) -> CallFrame:
        root = session.root
        root.gas = tx.gas
        root.gas_used = outcome.gas_used
        if self.options.only_top_call:
            root.calls = []
            # Sub-calls are gone, so every log sits before the first of them.
            for log in root.logs:
                log.position = 0
        if self.options.with_log:
            _drop_failed_logs(root, parent_failed=False)
            surviving = sorted(_all_logs(root), key=lambda log: log.counter)
            for index, log in enumerate(surviving):
                log.index = index
        else:
            _clear_logs(root)
        return root


def _drop_failed_logs(frame: CallFrame, parent_failed: bool) -> None:
    failed = parent_failed or frame.error is not None
    if failed:
        frame.logs = []
    for call in frame.calls:
        _drop_failed_logs(call, failed)


def _clear_logs(frame: CallFrame) -> None:
    frame.logs = []
    for call in frame.calls:
        _clear_logs(call)


def _all_logs(frame: CallFrame) -> list[CallLog]:
    logs = list(frame.logs)
    for call in frame.calls:
        logs.extend(_all_logs(call))
    return logs


# -- prestateTracer -------------------------------------------------------------------------------


class PrestateTracer(Tracer):
    """geth's ``prestateTracer``: every account the transaction touched, as it was before.

    Touched, as geth counts it: sender, recipient (or the created address) and coinbase; the
    target of BALANCE, EXTCODE*, SELFDESTRUCT and every CALL-type opcode; addresses CREATE and
    CREATE2 make; and the slots SLOAD/SSTORE name. Accounts first read when first touched,
    before the opcode runs, which is their value before the transaction. Accounts the
    transaction created (and which did not exist before) are left out.

    ``diffMode``: ``pre`` keeps only accounts that changed, ``post`` has just what changed
    (zeroed slots and accounts SELFDESTRUCT removed are absent from ``post``)."""

    def __init__(self, options: TraceOptions, budget: TraceBudget | None = None) -> None:
        self.options = options
        self.budget = budget or TraceBudget()
        self.pre: dict[bytes, AccountState] = {}
        self.empty: set[bytes] = set()
        self.created: set[bytes] = set()
        self.deleted: set[bytes] = set()
        self.state: StateAPI | None = None

    def start(self, state: StateAPI, tx: TracedTransaction) -> None:
        self.state = state
        if tx.to is None:
            to = generate_contract_address(tx.sender, state.get_nonce(tx.sender))
            self.created.add(to)
        else:
            to = tx.to
        for address in (tx.sender, to, state.coinbase):
            self.look_up(address)

    def look_up(self, address: bytes) -> AccountState:
        account = self.pre.get(address)
        if account is None:
            state = self.state
            account = AccountState(
                balance=state.get_balance(address),
                nonce=state.get_nonce(address),
                code=state.get_code(address),
            )
            if not (account.balance or account.nonce or account.code):
                self.empty.add(address)
            if self.options.disable_code:
                account.code = b""
            self.budget.take(ACCOUNT_BYTES + len(account.code))
            self.pre[address] = account
        return account

    def before_op(self, session: Session, frame: Frame, computation: ComputationAPI) -> None:
        op = frame.step.op
        if op in STORAGE_OPS:
            stack = computation._stack.values
            if stack and not self.options.disable_storage:
                slot = _as_int(stack[-1])
                account = self.look_up(frame.address)
                if slot not in account.storage:
                    self.budget.take(STORAGE_ENTRY_BYTES)
                    account.storage[slot] = self.state.get_storage(frame.address, slot)
        elif op in ACCOUNT_OPS:
            address = _stack_address(computation, 1)
            if address is not None:
                self.look_up(address)
                if op == "SELFDESTRUCT":
                    self.deleted.add(frame.address)
        elif op in CALLS:
            if frame.target is not None:
                self.look_up(frame.target)
        elif op == "CREATE":
            address = generate_contract_address(frame.address, self.state.get_nonce(frame.address))
            self.look_up(address)
            self.created.add(address)
        elif op == "CREATE2":
            stack = [_as_int(v) for v in computation._stack.values[-4:]]
            memory = computation._memory._bytes
            # As geth: no address when the init code lies far past memory (the op will fail).
            if len(stack) == 4 and stack[2] + stack[1] <= len(memory) + MEMORY_PAD_LIMIT:
                salt, size, offset = stack[0], stack[1], stack[2]
                init_code = bytes(memory[offset : offset + size]).ljust(size, b"\x00")
                address = generate_safe_contract_address(frame.address, salt, init_code)
                self.look_up(address)
                self.created.add(address)

    def finish(
        self, session: Session, state: StateAPI, tx: TracedTransaction, outcome: Outcome
    ) -> PrestateTrace:
        post = self._diff(state) if self.options.diff_mode else None
        for address in self.created & self.empty:
            self.pre.pop(address, None)
        return PrestateTrace(pre=self.pre, post=post)

    def _diff(self, state: StateAPI) -> dict[bytes, AccountState]:
        post: dict[bytes, AccountState] = {}
        for address, before in list(self.pre.items()):
            if address in self.deleted and not state.account_exists(address):
                continue  # destroyed (EIP-6780: created by this transaction): pre only
            after = AccountState()
            modified = False
            balance = state.get_balance(address)
            if balance != before.balance:
                after.balance, modified = balance, True
            nonce = state.get_nonce(address)
            if nonce != before.nonce:
                after.nonce, modified = nonce, True
            if not self.options.disable_code:
                code = state.get_code(address)
                if code != before.code:
                    after.code, modified = code, True
            for slot, value in list(before.storage.items()):
                if value == 0:
                    del before.storage[slot]
                now = state.get_storage(address, slot)
                if now == value:
                    before.storage.pop(slot, None)
                else:
                    modified = True
                    if now:
                        after.storage[slot] = now
            if modified:
                post[address] = after
            else:
                del self.pre[address]
        return post


def make_tracer(options: TraceOptions, budget: TraceBudget | None = None) -> Tracer:
    if options.tracer == CALL_TRACER:
        return CallTracer(options)
    if options.tracer == PRESTATE_TRACER:
        return PrestateTracer(options, budget)
    return StructLogger(options)


# -- running traces ---------------------------------------------------------------------------


def trace_transaction(
    chain: Chain,
    tx_hash: bytes,
    options: TraceOptions,
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> TraceResult:
    """Replay a mined transaction on its block's pre-state and trace it."""
    info = chain.find_transaction(tx_hash)
    if info is None:
        raise NotTraceable("transaction not found")
    header = chain.header_by_hash(info.block_hash)
    with interruptions_as_errors():
        ((_, result),) = _replay_block(
            chain, header, options, info.index, deadline, budget or TraceBudget()
        )
    return result


def trace_block(
    chain: Chain,
    header: BlockHeaderAPI,
    options: TraceOptions,
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> list[tuple[bytes, TraceResult]]:
    """Trace every transaction of a block, in one replay: ``[(tx hash, result)]``. The
    deadline and the budget are the whole block's."""
    with interruptions_as_errors():
        return _replay_block(chain, header, options, None, deadline, budget or TraceBudget())


def trace_call(
    chain: Chain,
    request: CallRequest,
    header: BlockHeaderAPI,
    options: TraceOptions,
    *,
    gas_cap: int = RPC_GAS_CAP,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> TraceResult:
    """Trace ``Chain.call(request, header)``: the same simulation (overrides, gas cap and
    all), run on a traced state."""
    budget = budget or TraceBudget()
    session = Session(make_tracer(options, budget), budget)
    states: list[StateAPI] = []

    def prepare(state: StateAPI) -> None:
        states.append(state)
        session.install(state)

    simulation = _TracedSimulation(chain, prepare)
    with interruptions_as_errors():
        result = Chain.call(simulation, request, header, gas_cap=gas_cap, deadline=deadline)  # type: ignore[arg-type]
    outcome = Outcome(result.gas_used, result.output, result.error)
    return session.finish(states[-1], outcome)


class _TracedSimulation:
    """The chain as ``Chain.call`` sees it, except that the simulation state it is handed
    runs traced: so a traced call is exactly an ``eth_call``."""

    def __init__(self, chain: Chain, prepare: Callable[[StateAPI], None]) -> None:
        self._chain = chain
        self._prepare = prepare

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def simulation_state(self, *args: Any, **kwargs: Any):
        state = self._chain.simulation_state(*args, **kwargs)
        self._prepare(state)
        return state


def _replay_block(
    chain: Chain,
    header: BlockHeaderAPI,
    options: TraceOptions,
    only: int | None,
    deadline: Deadline | None,
    budget: TraceBudget,
) -> list[tuple[bytes, TraceResult]]:
    if header.block_number == 0:
        raise NotTraceable("genesis is not traceable")
    parent = chain.header_by_hash(header.parent_hash)
    block = chain.block_by_header(header)
    receipts = chain.receipts_of(header)
    vm = chain.vm_class(
        header=header.copy(state_root=chain.state_root_after(parent)),
        chaindb=chain.chaindb,
        chain_context=ChainContext(chain.chain_id),
        consensus_context=ConsensusContext(chain.db),
    )
    vm.block_preprocessing(block)
    state = vm.state
    if deadline is not None:
        deadline.install(state)  # the transactions before the traced one count too
    results = []
    for index, info in enumerate(receipts):
        if only is not None and index > only:
            break
        tx = info.transaction
        state.lock_changes()
        if only is not None and index != only:
            state.apply_transaction(tx)
            continue
        session = Session(make_tracer(options, budget), budget)
        session.install(state)
        try:
            computation = state.apply_transaction(tx)
        finally:
            session.uninstall(state)
        error = computation.error if computation.is_error else None
        outcome = Outcome(info.gas_used, bytes(computation.output), error)
        results.append((info.transaction_hash, session.finish(state, outcome)))
    return results


# -- geth's words for things ------------------------------------------------------------------


def opcode_name(opcode: int, fn: Any = None) -> str:
    """geth's name for ``opcode``, whose py-evm function (if the fork defines one) is ``fn``."""
    if opcode in RENAMED_OPCODES:
        return RENAMED_OPCODES[opcode]
    mnemonic = getattr(fn, "mnemonic", None)
    return mnemonic if mnemonic else f"opcode {opcode:#x} not defined"


def geth_error(error: BaseException) -> str:
    """The error text geth's tracers give for a failed frame or step."""
    if isinstance(error, Revert):
        return "execution reverted"
    if isinstance(error, OutOfGas):
        text = str(error)
        if "EIP170" in text:
            return "max code size exceeded"
        if "EIP-3860" in text:
            return "max initcode size exceeded"
        if "Write contract code" in text:
            return "contract creation code storage out of gas"
        return "out of gas"
    if isinstance(error, InvalidInstruction):
        words = str(error).split()
        try:
            return f"invalid opcode: {opcode_name(int(words[2], 16))}"
        except (IndexError, ValueError):
            return "invalid opcode"
    for kind, text in (
        (InvalidJumpDestination, "invalid jump destination"),
        (InsufficientStack, "stack underflow"),
        (FullStack, "stack overflow"),
        (WriteProtection, "write protection"),
        (OutOfBoundsRead, "return data out of bounds"),
        (InsufficientFunds, "insufficient balance for transfer"),
        (StackDepthLimit, "max call depth exceeded"),
        (ContractCreationCollision, "contract address collision"),
        (ReservedBytesInCode, "invalid code: must not begin with 0xef"),
    ):
        if isinstance(error, kind):
            return text
    return str(error) or type(error).__name__


def geth_revert_reason(output: bytes) -> str | None:
    """geth's ``abi.UnpackRevert``: the Error(string) text or the Panic(uint256) reason."""
    try:
        if output[:4] == ERROR_SELECTOR:
            return decode(["string"], output[4:])[0]
        if output[:4] == PANIC_SELECTOR:
            code = decode(["uint256"], output[4:])[0]
            return PANIC_REASONS.get(code, f"unknown panic code: {code:#x}")
    except Exception:  # malformed revert data has no reason
        return None
    return None


def _as_int(value: int | bytes) -> int:
    return value if isinstance(value, int) else int.from_bytes(value, "big")


def _stack_ints(computation: ComputationAPI) -> list[int]:
    return [_as_int(v) for v in computation._stack.values]


def _stack_address(computation: ComputationAPI, depth: int) -> bytes | None:
    """The address in the ``depth``-th stack item from the top, or None if too shallow."""
    values = computation._stack.values
    if len(values) < depth:
        return None
    return _as_int(values[-depth]).to_bytes(32, "big")[12:]
