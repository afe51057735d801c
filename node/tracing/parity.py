"""Parity-style traces (OpenEthereum's ``trace_*``, as Erigon, reth and anvil serve them): the
call tree of a transaction as a flat list, and its state diff.

``ParityTracer`` runs in a traced replay (``node.tracing.replay``, given as its ``make``) and
turns the engine's call tree (``CallFrame``) into ``FlatTrace`` entries in depth-first order:
each with its ``trace_address`` (the path of child indices from the top call) and its number
of ``subtraces``; CALL, CALLCODE, DELEGATECALL and STATICCALL are ``call`` entries with their
``call_type``, CREATE and CREATE2 ``create`` entries with their ``creation_method``, and a
SELFDESTRUCT a ``suicide`` entry (the destroyed address, its balance, the beneficiary) as the
last child of the frame that ran it. Calls to precompiles are left out, as reth's and geth's
``flatCallTracer`` leave them out. The top call's ``gas`` and ``gas_used`` are the frame's own:
the gas limit less the intrinsic gas, and the gas it used before refunds (anvil's numbers).

A frame that reverted keeps its result (the revert data as ``output``, or as ``code`` for a
creation) with the error ``Reverted``; any other failure has no result, as reth writes it.
Error texts are geth's ``flatCallTracer`` parity wording (``Out of gas``, ``Bad jump
destination``, ``Bad instruction``, ...).

With ``state_diff`` the ``prestateTracer`` runs alongside, in diff mode, and its pre/post
become Parity's per-account deltas: an account the transaction created is all ``+``; any
other changed account has ``*`` (``from``/``to``) or ``=`` for its balance, nonce and code,
and ``*`` for each storage slot that changed; an account created and destroyed in the same
transaction is left out (reth's rules).

``filter_traces`` is ``trace_filter``: the traces of a range of blocks matching the senders
and recipients asked, under one deadline and one trace budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from eth._utils.address import generate_contract_address, generate_safe_contract_address
from eth.abc import BlockHeaderAPI, ComputationAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH
from eth.exceptions import VMError
from eth.vm.forks.shanghai.computation import ShanghaiComputation
from eth.vm.forks.shanghai.constants import INITCODE_WORD_COST

from node.chain import Chain
from node.errors import InvalidInput
from node.interrupt import Deadline
from node.simulation import RPC_GAS_CAP, CallRequest
from node.tracing.engine import (
    CALLS,
    CREATES,
    CallFrame,
    Frame,
    Outcome,
    Session,
    Step,
    TraceBudget,
    TracedTransaction,
    Tracer,
    as_int,
)
from node.tracing.prestate_tracer import MEMORY_PAD_LIMIT, AccountState, PrestateTracer
from node.tracing.registry import PRESTATE_TRACER, TraceOptions
from node.tracing.replay import NotTraceable
from node.tracing.replay import trace_block as replay_block
from node.tracing.replay import trace_call as replay_call
from node.tracing.replay import trace_transaction as replay_transaction

if TYPE_CHECKING:
    from node.receipts import ReceiptInfo

TRACE = "trace"
STATE_DIFF = "stateDiff"
VM_TRACE = "vmTrace"
TRACE_TYPES = (TRACE, STATE_DIFF, VM_TRACE)

# trace_filter replays every block of its range: at most this many blocks a request (anvil
# allows 300); the node's trace deadline and step caps bound the whole request as well.
TRACE_FILTER_MAX_BLOCKS = 1000

# geth's flatCallTracer: its errors in OpenEthereum's words (exact texts, then prefixes).
PARITY_ERRORS = {
    "execution reverted": "Reverted",
    "out of gas": "Out of gas",
    "contract creation code storage out of gas": "Out of gas",
    "gas uint64 overflow": "Out of gas",
    "max code size exceeded": "Out of gas",
    "invalid jump destination": "Bad jump destination",
    "return data out of bounds": "Out of bounds",
    "stack overflow": "Out of stack",
    "max call depth exceeded": "Out of stack",
}
PARITY_ERROR_PREFIXES = (
    ("invalid opcode", "Bad instruction"),
    ("stack underflow", "Stack underflow"),
)
REVERTED = "Reverted"


def parity_error(geth_text: str) -> str:
    """OpenEthereum's text for a frame's error, from geth's."""
    if geth_text in PARITY_ERRORS:
        return PARITY_ERRORS[geth_text]
    for prefix, text in PARITY_ERROR_PREFIXES:
        if geth_text.startswith(prefix):
            return text
    return geth_text


# -- results --------------------------------------------------------------------------------------


@dataclass
class FlatTrace:
    """One entry of a Parity trace. ``kind`` is ``call``, ``create`` or ``suicide``.

    call: ``sender`` -> ``to`` with ``value``, ``gas``, ``input``, ``call_type``; result
    ``gas_used`` and ``output``. create: ``sender`` with ``value``, ``gas``, ``input`` (the init
    code), ``call_type`` (the creation method); result ``address``, ``output`` (the code) and
    ``gas_used``. suicide: ``sender`` is the destroyed address, ``to`` the beneficiary,
    ``value`` the balance it had; no result."""

    kind: str
    sender: bytes
    to: bytes | None
    value: int
    gas: int
    input: bytes
    call_type: str
    trace_address: list[int]
    subtraces: int = 0
    error: str | None = None
    has_result: bool = True
    gas_used: int = 0
    output: bytes = b""
    address: bytes | None = None  # the created address (create only)

    def matches(self, senders: frozenset[bytes], recipients: frozenset[bytes], both: bool) -> bool:
        """reth's filter: empty sets match all; with both sets, either (or, if ``both``,
        each) must match. A create's recipient is the created address."""
        recipient = self.address if self.kind == "create" else self.to
        from_ok = self.sender in senders
        to_ok = recipient is not None and recipient in recipients
        if not senders and not recipients:
            return True
        if not recipients:
            return from_ok
        if not senders:
            return to_ok
        return (from_ok and to_ok) if both else (from_ok or to_ok)


@dataclass(frozen=True)
class Delta:
    """A change of one field: ``=`` (none), ``+`` (added: ``after``), ``-`` (removed:
    ``before``) or ``*`` (``before`` -> ``after``)."""

    kind: str
    before: int | bytes | None = None
    after: int | bytes | None = None


UNCHANGED = Delta("=")


@dataclass
class AccountDiff:
    balance: Delta = UNCHANGED
    nonce: Delta = UNCHANGED
    code: Delta = UNCHANGED
    storage: dict[int, Delta] = field(default_factory=dict)


@dataclass(frozen=True)
class ParityTrace:
    """One transaction's answer: what it returned, its flat trace if asked (``trace``), its
    state diff if asked (``stateDiff``)."""

    output: bytes
    traces: list[FlatTrace] | None
    state_diff: dict[bytes, AccountDiff] | None


@dataclass(frozen=True)
class LocatedTrace:
    """A flat trace entry with the transaction and block it belongs to."""

    trace: FlatTrace
    transaction_hash: bytes
    transaction_position: int
    block_hash: bytes
    block_number: int


# -- the tracer -----------------------------------------------------------------------------------


class ParityTracer(Tracer):
    """The flat trace of a transaction, and with ``state_diff`` its state diff."""

    def __init__(
        self,
        options: TraceOptions,
        budget: TraceBudget | None = None,
        *,
        trace: bool = True,
        state_diff: bool = False,
    ) -> None:
        super().__init__(options, budget)
        self.trace = trace
        self.prestate = (
            PrestateTracer(TraceOptions(tracer=PRESTATE_TRACER, diff_mode=True), self.budget)
            if state_diff
            else None
        )
        self.state: StateAPI | None = None
        self.root_address: bytes | None = None
        # Per running frame (by id): the address its CREATE/CREATE2 step targets and how many
        # calls the frame had before it, to name the address of a creation that reverted.
        self.pending_creates: dict[int, tuple[bytes | None, int]] = {}
        self.created: dict[int, bytes] = {}  # id(CallFrame) -> address, for failed creations

    def start(self, state: StateAPI, tx: TracedTransaction) -> None:
        self.state = state
        if tx.to is None:
            self.root_address = generate_contract_address(tx.sender, state.get_nonce(tx.sender))
        if self.prestate is not None:
            self.prestate.start(state, tx)

    def before_op(self, session: Session, frame: Frame, computation: ComputationAPI) -> None:
        if self.prestate is not None:
            self.prestate.before_op(session, frame, computation)
        op = frame.step.op
        if op in CREATES and self.trace:
            self.pending_creates[id(frame)] = (
                self._create_address(frame, computation, op),
                len(frame.trace.calls),
            )

    def after_op(self, frame: Frame, step: Step, gas_cost: int, error: VMError | None) -> None:
        if self.prestate is not None:
            self.prestate.after_op(frame, step, gas_cost, error)
        pending = self.pending_creates.pop(id(frame), None) if step.op in CREATES else None
        if pending is not None:
            address, count = pending
            calls = frame.trace.calls
            if address is not None and len(calls) > count and calls[-1].type in CREATES:
                self.created[id(calls[-1])] = address

    def _create_address(self, frame: Frame, computation: ComputationAPI, op: str) -> bytes | None:
        if op == "CREATE":
            return generate_contract_address(frame.address, self.state.get_nonce(frame.address))
        stack = [as_int(v) for v in computation._stack.values[-4:]]
        if len(stack) < 4:
            return None
        salt, size, offset = stack[0], stack[1], stack[2]
        memory = computation._memory._bytes
        if offset + size > len(memory) + MEMORY_PAD_LIMIT:
            return None  # the op fails before it creates anything
        init_code = bytes(memory[offset : offset + size]).ljust(size, b"\x00")
        return generate_safe_contract_address(frame.address, salt, init_code)

    def finish(
        self, session: Session, state: StateAPI, tx: TracedTransaction, outcome: Outcome
    ) -> ParityTrace:
        traces = None
        if self.trace:
            root = session.root
            if root.type in CREATES:
                if root.to is None and self.root_address is not None:
                    self.created[id(root)] = self.root_address
                _count_initcode_as_intrinsic(root, state)
            precompiles = frozenset(getattr(state.computation_class, "_precompiles", None) or ())
            traces = flatten(root, precompiles, self.created)
        diff = None
        if self.prestate is not None:
            prestate = self.prestate.finish(session, state, tx, outcome)
            diff = state_diff(prestate.pre, prestate.post or {})
        return ParityTrace(outcome.output, traces, diff)


def _count_initcode_as_intrinsic(root: CallFrame, state: StateAPI) -> None:
    """py-evm charges a creating transaction's EIP-3860 init code words inside its top frame;
    the EVMs whose traces these are charge them as intrinsic gas, before the frame: move them
    out of the top frame's gas and gas used."""
    if not issubclass(state.computation_class, ShanghaiComputation):
        return
    cost = INITCODE_WORD_COST * ((len(root.input) + 31) // 32)
    cost = min(cost, root.gas_used, root.gas)
    root.gas -= cost
    root.gas_used -= cost


def parity_tracer(kinds: Iterable[str]) -> Callable[[TraceOptions, TraceBudget], ParityTracer]:
    """The tracer factory a replay takes for the trace types ``kinds`` (``trace``,
    ``stateDiff``; ``vmTrace`` is not built)."""
    kinds = set(kinds)
    if VM_TRACE in kinds:
        raise InvalidInput(
            'the trace type "vmTrace" is not supported by native-devnet; ask for "trace" '
            'and "stateDiff", or use debug_traceTransaction for the opcode-level trace'
        )
    unknown = kinds - set(TRACE_TYPES)
    if unknown:
        raise InvalidInput(
            f"unknown trace type {sorted(unknown)[0]!r}: expected trace, stateDiff or vmTrace"
        )
    return partial(ParityTracer, trace=TRACE in kinds, state_diff=STATE_DIFF in kinds)


# -- the call tree, flattened ---------------------------------------------------------------------


def flatten(
    root: CallFrame, precompiles: frozenset[bytes], created: dict[int, bytes] | None = None
) -> list[FlatTrace]:
    """The call tree under ``root`` as Parity's flat list, depth first (iteratively: a call
    tree may be 1024 frames deep)."""
    created = created or {}
    out: list[FlatTrace] = []
    stack: list[tuple[CallFrame, list[int]]] = [(root, [])]
    while stack:
        frame, address = stack.pop()
        children = [
            call
            for call in frame.calls
            if not (call.type in CALLS and call.to is not None and call.to in precompiles)
        ]
        out.append(_entry(frame, address, len(children), created))
        for index in range(len(children) - 1, -1, -1):
            stack.append((children[index], [*address, index]))
    return out


def _entry(
    frame: CallFrame, address: list[int], subtraces: int, created: dict[int, bytes]
) -> FlatTrace:
    if frame.type == "SELFDESTRUCT":
        return FlatTrace(
            kind="suicide",
            sender=frame.sender,
            to=frame.to,
            value=frame.value or 0,
            gas=0,
            input=b"",
            call_type="",
            trace_address=address,
            has_result=False,
        )
    error = parity_error(frame.error) if frame.error is not None else None
    entry = FlatTrace(
        kind="create" if frame.type in CREATES else "call",
        sender=frame.sender,
        to=None if frame.type in CREATES else frame.to,
        value=frame.value or 0,
        gas=frame.gas,
        input=frame.input,
        call_type=frame.type.lower(),
        trace_address=address,
        subtraces=subtraces,
        error=error,
        has_result=error is None or error == REVERTED,
        gas_used=frame.gas_used,
        output=frame.output,
    )
    if entry.kind == "create":
        entry.address = frame.to if frame.to is not None else created.get(id(frame))
    return entry


# -- the state diff -------------------------------------------------------------------------------


def state_diff(
    pre: dict[bytes, AccountState], post: dict[bytes, AccountState]
) -> dict[bytes, AccountDiff]:
    """Parity's state diff from the ``prestateTracer``'s diff mode: ``pre`` holds the changed
    accounts as they were (only the slots that changed, zero slots left out), ``post`` what
    changed in them (slots set to zero left out); an account only in ``post`` was created,
    one only in ``pre`` destroyed."""
    diff: dict[bytes, AccountDiff] = {}
    for address in sorted(set(pre) | set(post)):
        before, after = pre.get(address), post.get(address)
        if before is None:  # created by the transaction
            diff[address] = AccountDiff(
                balance=Delta("+", after=after.balance or 0),
                nonce=Delta("+", after=after.nonce),
                code=Delta("+", after=after.code),
                storage={slot: Delta("+", after=v) for slot, v in sorted(after.storage.items())},
            )
        elif after is None:  # destroyed
            diff[address] = AccountDiff(
                balance=Delta("-", before=before.balance or 0),
                nonce=Delta("-", before=before.nonce),
                code=Delta("-", before=before.code),
                storage={slot: Delta("-", before=v) for slot, v in sorted(before.storage.items())},
            )
        else:
            diff[address] = AccountDiff(
                balance=_changed(before.balance or 0, after.balance),
                nonce=_changed(before.nonce, after.nonce or None),
                code=_changed(before.code, after.code or None),
                storage={
                    slot: Delta("*", before.storage.get(slot, 0), after.storage.get(slot, 0))
                    for slot in sorted(set(before.storage) | set(after.storage))
                },
            )
    return diff


def _changed(before: int | bytes, after: int | bytes | None) -> Delta:
    return UNCHANGED if after is None or after == before else Delta("*", before, after)


# -- entry points (each runs on a simulator thread under the request's deadline) --------------------


def replay_transaction_traces(
    chain: Chain,
    tx_hash: bytes,
    kinds: Sequence[str],
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> ParityTrace:
    """``trace_replayTransaction`` (and ``trace_transaction`` with ``[trace]``)."""
    return replay_transaction(
        chain, tx_hash, TraceOptions(), deadline=deadline, budget=budget, make=parity_tracer(kinds)
    )


def replay_block_traces(
    chain: Chain,
    header: BlockHeaderAPI,
    kinds: Sequence[str],
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> list[tuple[bytes, ParityTrace]]:
    """``trace_replayBlockTransactions`` (and ``trace_block``): ``[(tx hash, trace)]``; a
    block without transactions (genesis too) has none."""
    if header.block_number == 0:
        return []
    return replay_block(
        chain, header, TraceOptions(), deadline=deadline, budget=budget, make=parity_tracer(kinds)
    )


def call_traces(
    chain: Chain,
    request: CallRequest,
    header: BlockHeaderAPI,
    kinds: Sequence[str],
    *,
    gas_cap: int = RPC_GAS_CAP,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> ParityTrace:
    """``trace_call``: the call ``eth_call`` would run, traced."""
    return replay_call(
        chain,
        request,
        header,
        TraceOptions(),
        gas_cap=gas_cap,
        deadline=deadline,
        budget=budget,
        make=parity_tracer(kinds),
    )


def transaction_traces(
    chain: Chain,
    tx_hash: bytes,
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> list[LocatedTrace] | None:
    """``trace_transaction``: the flat trace with its block and position; None if the
    transaction is not mined."""
    info = chain.find_transaction(tx_hash)
    if info is None:
        return None
    try:
        result = replay_transaction_traces(
            chain, tx_hash, [TRACE], deadline=deadline, budget=budget
        )
    except NotTraceable:
        return None
    return _located(result, info)


def block_traces(
    chain: Chain,
    header: BlockHeaderAPI,
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> list[LocatedTrace]:
    """``trace_block``: every transaction's flat trace, in block order."""
    out: list[LocatedTrace] = []
    results = replay_block_traces(chain, header, [TRACE], deadline=deadline, budget=budget)
    for position, (tx_hash, result) in enumerate(results):
        out.extend(
            LocatedTrace(entry, tx_hash, position, header.hash, header.block_number)
            for entry in result.traces or ()
        )
    return out


@dataclass(frozen=True)
class TraceFilter:
    """``trace_filter``'s parameters, checked: blocks ``first``..``last`` (inclusive)."""

    first: int
    last: int
    senders: frozenset[bytes] = frozenset()
    recipients: frozenset[bytes] = frozenset()
    intersection: bool = False  # reth's mode "intersection"; default "union"
    after: int = 0
    count: int | None = None

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise InvalidInput(
                f"invalid block range: fromBlock is after toBlock ({self.first} > {self.last})"
            )
        if self.last - self.first + 1 > TRACE_FILTER_MAX_BLOCKS:
            raise InvalidInput(
                f"block range too large: trace_filter covers at most {TRACE_FILTER_MAX_BLOCKS} "
                f"blocks (TRACE_FILTER_MAX_BLOCKS), asked {self.last - self.first + 1}"
            )


def filter_traces(
    chain: Chain,
    query: TraceFilter,
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
) -> list[LocatedTrace]:
    """``trace_filter``: the matching entries of the range's blocks, after ``after`` of them,
    at most ``count``. Blocks without transactions are not replayed; every replay shares the
    request's deadline and budget."""
    budget = budget or TraceBudget()
    wanted = None if query.count is None else query.after + query.count
    out: list[LocatedTrace] = []
    for number in range(query.first, query.last + 1):
        if wanted is not None and len(out) >= wanted:
            break
        if deadline is not None:
            deadline.check()
        header = chain.header_by_number(number)
        if number == 0 or header.transaction_root == BLANK_ROOT_HASH:
            continue  # no transactions: nothing to replay
        for located in block_traces(chain, header, deadline=deadline, budget=budget):
            if located.trace.matches(query.senders, query.recipients, query.intersection):
                out.append(located)
    return out[query.after : wanted]


def _located(result: ParityTrace, info: ReceiptInfo) -> list[LocatedTrace]:
    return [
        LocatedTrace(entry, info.transaction_hash, info.index, info.block_hash, info.block_number)
        for entry in result.traces or ()
    ]
