"""Simulation bounds in-process: the deadline that interrupts py-evm's interpreter (loops and
call recursion), aborting from another thread, the gas cap, and what a trace may hold."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from node import tracing
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import Chain
from node.errors import ExecutionHalted, SimulationAborted, SimulationTimeout, TraceLimitExceeded
from node.genesis import load_genesis
from node.interrupt import Deadline, go_duration
from node.simulation import AccountOverride, CallRequest
from tests.procs import wait_until

TARGET = b"\x55" * 20
FOREVER = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP
# Calls itself twice with all its gas, without a single jump: a tree of frames that no
# loop check would see (CALL(gas, address, 0, 0, 0, 0, 0) twice, then STOP).
SELF_CALL = bytes.fromhex("6000" * 5 + "305af150")
CALL_TREE = SELF_CALL * 2 + b"\x00"
RETURN_GAS = bytes.fromhex("5a60005260206000f3")
MEMORY_LOOP = bytes.fromhex("6000620fffff525b600756")  # grow memory to 1 MiB, then loop


def counter_loop(rounds: int) -> bytes:
    return bytes.fromhex("62" + rounds.to_bytes(3, "big").hex() + "5b600190038060045700")


@pytest.fixture(scope="module")
def chain() -> Chain:
    account = derive_dev_accounts(DEFAULT_MNEMONIC, 1)[0]
    chain = Chain(load_genesis("genesis/l1.json").with_accounts([account.address], 10**21))
    chain.build_block([])
    return chain


def request(code: bytes, gas: int | None = 2**64 - 1) -> CallRequest:
    return CallRequest(to=TARGET, gas=gas, state_overrides=((TARGET, AccountOverride(code=code)),))


def test_an_endless_loop_stops_at_the_deadline_with_geths_words(chain):
    deadline = Deadline(0.3)
    started = time.monotonic()
    with pytest.raises(SimulationTimeout, match=r"^execution aborted \(timeout = 300ms\)$"):
        deadline.run(chain.call, request(FOREVER), chain.head, deadline=deadline)
    assert time.monotonic() - started < 5


def test_a_call_tree_without_jumps_stops_at_the_deadline(chain):
    deadline = Deadline(0.3)
    with pytest.raises(SimulationTimeout):
        deadline.run(chain.call, request(CALL_TREE), chain.head, deadline=deadline)


def test_abort_from_another_thread_stops_a_running_simulation(chain):
    deadline = Deadline(600)
    outcome: list[BaseException] = []

    def simulate() -> None:
        try:
            deadline.run(chain.call, request(FOREVER), chain.head, deadline=deadline)
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=simulate)
    worker.start()
    # the simulation is running once it has installed the deadline
    wait_until(lambda: deadline._classes, "the simulation to start", interval=0.001)
    deadline.abort()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert isinstance(outcome[0], SimulationAborted)


def test_estimate_shares_one_deadline_across_its_runs(chain):
    deadline = Deadline(0.5)
    started = time.monotonic()
    with pytest.raises(SimulationTimeout):
        deadline.run(chain.estimate_gas, request(FOREVER, gas=None), chain.head, deadline=deadline)
    assert time.monotonic() - started < 5


def test_block_building_keeps_the_forks_own_classes(chain):
    deadline = Deadline(10)
    deadline.run(chain.call, request(counter_loop(10)), chain.head, deadline=deadline)
    state_class = chain.vm_class.get_state_class()
    assert "Interruptible" not in state_class.computation_class.__name__
    built = chain.build_block([])
    assert built.block.header.block_number == chain.head.block_number


def test_gas_is_capped_silently_and_estimates_stop_at_the_cap(chain):
    left = int.from_bytes(chain.call(request(RETURN_GAS), chain.head, gas_cap=100_000).output)
    assert 78_000 < left < 100_000 - 21_000
    with pytest.raises(ExecutionHalted, match=r"^gas required exceeds allowance \(100000\)$"):
        chain.estimate_gas(request(FOREVER, gas=None), chain.head, gas_cap=100_000)


def test_struct_logs_past_the_step_cap_are_an_error_naming_it(chain):
    options = tracing.TraceOptions()
    budget = tracing.TraceBudget(max_steps=500)
    with pytest.raises(TraceLimitExceeded, match="500 steps"):
        tracing.trace_call(chain, request(FOREVER), chain.head, options, budget=budget)
    # A "limit" within the cap truncates, as geth does, and the call runs to its end.
    options = tracing.TraceOptions(limit=50)
    trace = tracing.trace_call(
        chain, request(counter_loop(200)), chain.head, options, budget=tracing.TraceBudget(500)
    )
    assert len(trace.struct_logs) == 50 and not trace.failed


def test_memory_snapshots_are_bounded_by_bytes(chain):
    options = tracing.TraceOptions(enable_memory=True)
    budget = tracing.TraceBudget(max_steps=10**6, max_bytes=32 * 2**20)
    with pytest.raises(TraceLimitExceeded, match="memory limit of 32 MiB"):
        tracing.trace_call(chain, request(MEMORY_LOOP), chain.head, options, budget=budget)
    assert budget.steps < 40  # each step held a 1 MiB copy


def test_call_tracer_frames_are_bounded_by_bytes(chain):
    options = tracing.TraceOptions(tracer=tracing.CALL_TRACER)
    budget = tracing.TraceBudget(max_bytes=2**20)
    with pytest.raises(TraceLimitExceeded):
        tracing.trace_call(chain, request(CALL_TREE), chain.head, options, budget=budget)


def test_traces_stop_at_their_deadline_with_geths_tracer_error(chain):
    deadline = Deadline.for_trace(0.3)
    options = tracing.TraceOptions(tracer=tracing.CALL_TRACER)
    with pytest.raises(SimulationTimeout, match="^execution timeout$"):
        deadline.run(
            tracing.trace_call, chain, request(FOREVER), chain.head, options, deadline=deadline
        )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (1.5, "1.5s"), (0.5, "500ms"), (120, "2m0s"), (3725, "1h2m5s"), (0.00025, "250µs")],
)
def test_durations_read_as_gos(seconds, text):
    assert go_duration(seconds) == text


async def test_waiting_simulations_are_bounded_and_stop_ends_them_all(monkeypatch):
    from node.devnet import SIMULATOR_THREADS, Devnet, SimulationLimits
    from node.errors import SimulatorBusy

    monkeypatch.setattr("node.simulator.MAX_WAITING_SIMULATIONS", 1)
    account = derive_dev_accounts(DEFAULT_MNEMONIC, 1)[0]
    genesis = load_genesis("genesis/l1.json").with_accounts([account.address], 10**21)
    devnet = Devnet(genesis, limits=SimulationLimits(timeout=600))
    await devnet.start()
    endless = [
        asyncio.ensure_future(devnet.call(request(FOREVER), devnet.head))
        for _ in range(SIMULATOR_THREADS + 1)  # every thread busy, one waiting
    ]
    # each endless call first runs its inline slice on the loop, then takes a thread or waits
    for _ in range(1000):
        if len(devnet._simulations) == SIMULATOR_THREADS + 1:
            break
        await asyncio.sleep(0.01)
    # a call that needs a thread (an endless one: the inline slice cannot finish it) is refused
    with pytest.raises(SimulatorBusy, match="1 already wait for the 2 simulator threads"):
        await devnet.call(request(FOREVER), devnet.head)
    started = time.monotonic()
    await devnet.stop()
    results = await asyncio.gather(*endless, return_exceptions=True)
    assert time.monotonic() - started < 5
    assert all(isinstance(r, SimulationAborted | asyncio.CancelledError) for r in results), results


async def test_a_call_queued_behind_endless_ones_is_answered_within_its_own_timeout():
    from node.devnet import SIMULATOR_THREADS, Devnet, SimulationLimits

    account = derive_dev_accounts(DEFAULT_MNEMONIC, 1)[0]
    genesis = load_genesis("genesis/l1.json").with_accounts([account.address], 10**21)
    devnet = Devnet(genesis, limits=SimulationLimits(timeout=1.0))
    await devnet.start()
    try:
        endless = [
            asyncio.ensure_future(devnet.call(request(FOREVER), devnet.head))
            for _ in range(3 * SIMULATOR_THREADS)  # three rounds of busy threads
        ]
        await asyncio.sleep(0)
        started = time.monotonic()
        with pytest.raises(SimulationTimeout):
            await devnet.call(request(FOREVER), devnet.head)
        # The waiting counts against the 1 s: three rounds of endless calls ahead of it
        # would have made it wait about 3 s before its own second began.
        assert time.monotonic() - started < 2.5
        await asyncio.gather(*endless, return_exceptions=True)
    finally:
        await devnet.stop()
