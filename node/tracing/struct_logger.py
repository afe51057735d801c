"""geth's struct logger, the tracer used when none is named: one entry per opcode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth.abc import ComputationAPI, StateAPI
from eth.exceptions import InvalidInstruction, Revert, VMError

from node.tracing.engine import (
    STACK_ITEM_BYTES,
    STEP_BYTES,
    STORAGE_ENTRY_BYTES,
    STORAGE_OPS,
    Frame,
    Outcome,
    Session,
    Step,
    TraceBudget,
    TracedTransaction,
    Tracer,
    stack_ints,
)
from node.tracing.wording import geth_error

if TYPE_CHECKING:
    from node.tracing.registry import TraceOptions


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
    """The struct logger's result: the transaction's outcome and its steps."""

    gas: int  # the receipt's gas used
    failed: bool
    return_value: bytes  # output, or revert data; empty after any other failure
    struct_logs: list[StructLog]


class StructLogger(Tracer):
    """geth's default tracer: one entry per opcode with the machine state before it.

    As geth: ``depth`` starts at 1; ``gasCost`` of CALL & co includes the gas handed to the
    callee, CREATE's does not; ``storage`` appears on SLOAD/SSTORE only and holds the slots
    of that contract seen so far in the transaction; ``refund`` is the transaction's refund
    counter; a frame that runs off the end of its code logs the implicit STOP; a frame without
    code logs nothing."""

    def __init__(self, options: TraceOptions, budget: TraceBudget | None = None) -> None:
        super().__init__(options, budget)
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
        stack = stack_ints(computation)
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
