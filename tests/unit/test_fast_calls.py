"""Fast simulations: ``eth_call`` on a warm per-block state (checkpoint, run, discard), one
shared interruptible computation class per fork class, and the inline first attempt that
moves to a simulator thread on a precompile or when its slice runs out."""

from __future__ import annotations

import pytest

from node import warm_state
from node.chain import Chain
from node.errors import SimulationTimeout
from node.genesis import GenesisAccount
from node.interrupt import Deadline, InlineSlice, MovedToThread, interruptible_class
from node.simulation import AccessRecorder, CallRequest
from tests.unit.conftest import with_alloc

WRITER = b"\x71" * 20
BALANCE_OF_WRITER = b"\x72" * 20
LOOP = b"\x73" * 20
CALLS_IDENTITY = b"\x74" * 20
# slot 0 += 1 and transient slot 0 += 1, returns both (each run must see 0 before it).
WRITER_CODE = bytes.fromhex(
    "600054600101806000556000526000" + "5c600101806000" + "5d60205260406000f3"
)
BALANCE_CODE = bytes.fromhex("73" + WRITER.hex() + "3160005260206000f3")
LOOP_CODE = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP
IDENTITY_CALL_CODE = bytes.fromhex("6000" * 5 + "60045af100")  # CALL(gas, 0x04, 0, ...)
SENDER = b"\x99" * 20


@pytest.fixture
def chain(genesis) -> Chain:
    chain = Chain(
        with_alloc(
            genesis,
            {
                WRITER: GenesisAccount(code=WRITER_CODE, storage={1: 7}),
                BALANCE_OF_WRITER: GenesisAccount(code=BALANCE_CODE),
                LOOP: GenesisAccount(code=LOOP_CODE),
                CALLS_IDENTITY: GenesisAccount(code=IDENTITY_CALL_CODE),
                SENDER: GenesisAccount(balance=10**18),
            },
        )
    )
    chain.build_block([])
    return chain


def both(first: int, second: int) -> bytes:
    return first.to_bytes(32, "big") + second.to_bytes(32, "big")


def test_each_warm_call_sees_the_blocks_state_as_a_fresh_one_would(chain):
    request = CallRequest(sender=SENDER, to=WRITER)
    cold = chain.call(request, chain.head, AccessRecorder())  # a recorder: a fresh state
    assert cold.output == both(1, 1)
    for _ in range(4):
        warm = chain.call(request, chain.head, deadline=Deadline(5))
        # storage and transient storage rolled back, the slot cold again (same gas)
        assert (warm.output, warm.gas_used, warm.error) == (cold.output, cold.gas_used, None)
    assert warm_state.warm_states(chain).idle_count() == 1  # one state, reused


def test_a_state_used_with_a_deadline_serves_a_call_without_one(chain):
    request = CallRequest(sender=SENDER, to=WRITER)
    deadline = Deadline(5)
    assert deadline.run(chain.call, request, chain.head, deadline=deadline).output == both(1, 1)
    assert warm_state.warm_states(chain).idle_count() == 1
    assert chain.call(request, chain.head).output == both(1, 1)
    assert warm_state.warm_states(chain).idle_count() == 1


def test_a_value_transfer_is_rolled_back_before_the_next_call(chain):
    paid = chain.call(CallRequest(sender=SENDER, to=WRITER, value=5), chain.head)
    assert paid.error is None
    balance = chain.call(CallRequest(sender=SENDER, to=BALANCE_OF_WRITER), chain.head)
    assert balance.output == (0).to_bytes(32, "big")


def test_a_new_block_gets_its_own_warm_state(chain, dev_accounts, txs):
    request = CallRequest(sender=SENDER, to=BALANCE_OF_WRITER)
    assert chain.call(request, chain.head).output == (0).to_bytes(32, "big")
    tx = txs.dynamic(dev_accounts[0].private_key, 0, to=WRITER, value=9, gas=100_000)
    chain.build_block([tx])
    assert chain.call(request, chain.head).output == (9).to_bytes(32, "big")


def test_a_state_whose_run_failed_is_not_reused(chain):
    calls = warm_state.warm_states(chain)
    with pytest.raises(SimulationTimeout):
        deadline = Deadline(0.2)
        deadline.run(chain.call, CallRequest(to=LOOP), chain.head, deadline=deadline)
    assert calls.idle_count() == 0
    assert chain.call(CallRequest(sender=SENDER, to=WRITER), chain.head).output == both(1, 1)


def test_warm_states_are_bounded(chain, monkeypatch):
    monkeypatch.setattr(warm_state, "MAX_USES", 3)
    calls = warm_state.warm_states(chain)
    for _ in range(3):
        chain.call(CallRequest(sender=SENDER, to=WRITER), chain.head)
    assert calls.idle_count() == 0  # dropped after its third run
    for costless in range(warm_state.MAX_KEYS + 2):
        fee = None if costless % 2 else 10**10
        block = chain.build_block([]).block.header
        chain.call(CallRequest(sender=SENDER, to=WRITER, max_fee_per_gas=fee), block)
    assert calls.idle_count() <= warm_state.MAX_KEYS * warm_state.MAX_IDLE_PER_KEY


def test_a_state_that_read_too_many_accounts_is_dropped(chain, monkeypatch):
    calls = warm_state.warm_states(chain)
    request = CallRequest(sender=SENDER, to=BALANCE_OF_WRITER)
    chain.call(request, chain.head)
    assert calls.idle_count() == 1
    monkeypatch.setattr(warm_state, "MAX_CACHED_ACCOUNTS", 1)  # sender, target, writer...
    chain.call(request, chain.head)
    assert calls.idle_count() == 0


def test_one_interruptible_class_per_fork_class_and_it_still_stops_loops(chain):
    first, second = Deadline(5), Deadline(5)
    request = CallRequest(sender=SENDER, to=WRITER)
    first.run(chain.call, request, chain.head, deadline=first)
    second.run(chain.call, request, chain.head, deadline=second)
    assert len(first._classes) == len(second._classes) == 1
    assert list(first._classes.values()) == list(second._classes.values())
    base = chain.vm_class.get_state_class().computation_class
    assert interruptible_class(base) is interruptible_class(base)
    assert interruptible_class(interruptible_class(base)) is interruptible_class(base)
    # the shared class checks each run's own deadline
    late = Deadline(0.2)
    with pytest.raises(SimulationTimeout, match=r"^execution aborted \(timeout = 200ms\)$"):
        late.run(chain.call, CallRequest(to=LOOP), chain.head, deadline=late)
    # and a run without a deadline on a reused state is not stopped by an old one
    expired = Deadline(0.0)
    assert chain.call(request, chain.head).output == both(1, 1)
    with pytest.raises(SimulationTimeout):
        expired.run(chain.call, request, chain.head, deadline=expired)
    assert chain.call(request, chain.head).output == both(1, 1)


def test_the_inline_slice_moves_precompiles_and_long_runs_to_a_thread(chain):
    parent = Deadline(5)
    slice_ = InlineSlice(parent, 5)
    request = CallRequest(sender=SENDER, to=CALLS_IDENTITY)
    with pytest.raises(MovedToThread):
        slice_.run(chain.call, request, chain.head, deadline=slice_)
    assert parent.run(chain.call, request, chain.head, deadline=parent).error is None
    short = InlineSlice(parent, 0.05)
    with pytest.raises(MovedToThread):
        short.run(chain.call, CallRequest(to=LOOP), chain.head, deadline=short)
    # a short call finishes inline
    inline = InlineSlice(parent, 5)
    done = inline.run(chain.call, CallRequest(to=WRITER), chain.head, deadline=inline)
    assert done.output == both(1, 1)
    # never past the parent's deadline
    assert InlineSlice(Deadline(0.01), 5).expires_at <= Deadline(0.01).expires_at


REVERTER = b"\x75" * 20
REVERT_CODE = bytes.fromhex("600160005260206000fd")  # revert with 32 bytes of 1
# init code returning one byte of runtime (STOP): a creation that succeeds
CREATE_INIT = bytes.fromhex("600160006000f3")


def test_warm_calls_equal_fresh_ones_on_a_random_stream(genesis, dev_accounts):
    import random

    from eth.constants import CREATE_CONTRACT_ADDRESS

    chain = Chain(
        with_alloc(
            genesis,
            {
                WRITER: GenesisAccount(code=WRITER_CODE, storage={0: 5}),
                BALANCE_OF_WRITER: GenesisAccount(code=BALANCE_CODE),
                CALLS_IDENTITY: GenesisAccount(code=IDENTITY_CALL_CODE),
                REVERTER: GenesisAccount(code=REVERT_CODE),
                SENDER: GenesisAccount(balance=10**18),
            },
        )
    )
    chain.build_block([])
    funded = dev_accounts[0].address
    requests = [
        CallRequest(sender=SENDER, to=WRITER),
        CallRequest(sender=SENDER, to=WRITER, value=3),
        CallRequest(sender=funded, to=WRITER, max_fee_per_gas=10**10, gas=100_000),
        CallRequest(to=BALANCE_OF_WRITER),
        CallRequest(sender=SENDER, to=CALLS_IDENTITY),
        CallRequest(sender=SENDER, to=REVERTER),
        CallRequest(sender=SENDER, to=CREATE_CONTRACT_ADDRESS, data=CREATE_INIT),
        CallRequest(sender=SENDER, to=b"\x33" * 20, value=10**17),
        CallRequest(sender=SENDER, to=WRITER, nonce=7),
    ]
    rng = random.Random(12)
    for _ in range(60):
        request = rng.choice(requests)
        deadline = Deadline(5) if rng.random() < 0.5 else None
        warm = chain.call(request, chain.head, deadline=deadline)
        fresh = chain.call(request, chain.head, AccessRecorder())
        assert (warm.output, warm.gas_used, repr(warm.error)) == (
            fresh.output,
            fresh.gas_used,
            repr(fresh.error),
        ), request
    assert warm_state.warm_states(chain).idle_count() >= 1
