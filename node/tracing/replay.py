"""Running traces: a mined transaction or a whole block replayed, or a call simulated.

A mined transaction is replayed the way its block was built: a VM of the chain's fork on the
block's header with the *parent's post-state* (``Chain.state_root_after(parent)``; with the
delayed state root the header carries that root, otherwise its own), the block's
pre-processing (EIP-4788 beacon root, EIP-2935 history, the L1's execute market), the
transactions before it, then the traced one. ``trace_call`` traces ``node.simulation.call``
itself, through its ``prepare`` hook.

A trace is bounded like any simulation (``node.interrupt``: a deadline checked inside the
interpreter) and by its ``TraceBudget``.
"""

from __future__ import annotations

from eth.abc import BlockHeaderAPI, StateAPI

from node import simulation
from node.chain import Chain
from node.errors import InvalidInput
from node.interrupt import Deadline, interruptions_as_errors
from node.simulation import RPC_GAS_CAP, CallRequest
from node.tracing.engine import Outcome, Session, TraceBudget
from node.tracing.registry import TraceOptions, TraceResult, TracerFactory, make_tracer


class NotTraceable(InvalidInput):
    """A transaction or block that cannot be traced (unknown, or the genesis block)."""


def trace_transaction(
    chain: Chain,
    tx_hash: bytes,
    options: TraceOptions,
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
    make: TracerFactory = make_tracer,
) -> TraceResult:
    """Replay a mined transaction on its block's pre-state and trace it (with the tracer
    ``options`` name, or the one ``make`` builds)."""
    info = chain.find_transaction(tx_hash)
    if info is None:
        raise NotTraceable("transaction not found")
    header = chain.header_by_hash(info.block_hash)
    with interruptions_as_errors():
        ((_, result),) = _replay_block(
            chain, header, options, info.index, deadline, budget or TraceBudget(), make
        )
    return result


def trace_block(
    chain: Chain,
    header: BlockHeaderAPI,
    options: TraceOptions,
    *,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
    make: TracerFactory = make_tracer,
) -> list[tuple[bytes, TraceResult]]:
    """Trace every transaction of a block, in one replay: ``[(tx hash, result)]``. The
    deadline and the budget are the whole block's."""
    with interruptions_as_errors():
        return _replay_block(chain, header, options, None, deadline, budget or TraceBudget(), make)


def trace_call(
    chain: Chain,
    request: CallRequest,
    header: BlockHeaderAPI,
    options: TraceOptions,
    *,
    gas_cap: int = RPC_GAS_CAP,
    deadline: Deadline | None = None,
    budget: TraceBudget | None = None,
    make: TracerFactory = make_tracer,
) -> TraceResult:
    """Trace ``node.simulation.call(chain, request, header)``: the same simulation
    (overrides, gas cap and all), on a state the tracer is installed in first."""
    budget = budget or TraceBudget()
    session = Session(make(options, budget), budget)
    states: list[StateAPI] = []

    def prepare(state: StateAPI) -> None:
        states.append(state)
        session.install(state)

    with interruptions_as_errors():
        result = simulation.call(
            chain, request, header, gas_cap=gas_cap, deadline=deadline, prepare=prepare
        )
    outcome = Outcome(result.gas_used, result.output, result.error)
    return session.finish(states[-1], outcome)


def _replay_block(
    chain: Chain,
    header: BlockHeaderAPI,
    options: TraceOptions,
    only: int | None,
    deadline: Deadline | None,
    budget: TraceBudget,
    make: TracerFactory,
) -> list[tuple[bytes, TraceResult]]:
    if header.block_number == 0:
        raise NotTraceable("genesis is not traceable")
    parent = chain.header_by_hash(header.parent_hash)
    block = chain.block_by_header(header)
    receipts = chain.receipts_of(header)
    vm = chain.vm_factory.vm(header.copy(state_root=chain.state_root_after(parent)))
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
        session = Session(make(options, budget), budget)
        session.install(state)
        try:
            computation = state.apply_transaction(tx)
        finally:
            session.uninstall(state)
        error = computation.error if computation.is_error else None
        outcome = Outcome(info.gas_used, bytes(computation.output), error)
        results.append((info.transaction_hash, session.finish(state, outcome)))
    return results
