"""The lean ``eth_call`` path against py-evm's own: same answers, same errors, same gas.

``node.simulation`` runs a call with its own copy of py-evm's message building
(``_build_message``), a spoofed transaction whose fields are read once
(``_SimulatedTransaction``), a costless call's finalization cut to what outlives the state
(``_settle_costless``), warm states that decode each account record once
(``node.warm_state.memoize_account_decoding``) and an interruptible computation class that
binds its stack shortcuts without py-evm's ``cached_property`` (``node.interrupt``).
``generic`` turns all of that off. Every
request below, and a seeded random mix of them, is run both ways, on fresh and warm states;
the results (return or revert data, gas used, the error, or the refusal) must be equal.
"""

from __future__ import annotations

import json
import random

import pytest

from node import interrupt, simulation, warm_state
from node.chain import Chain
from node.genesis import GenesisAccount
from node.interrupt import Deadline
from node.simulation import AccessRecorder, AccountOverride, BlockOverride, CallRequest
from tests.unit.conftest import with_alloc

RETURNER = b"\x81" * 20  # returns storage slot 0
REVERTER = b"\x82" * 20  # reverts with 4 bytes
WRITER = b"\x83" * 20  # slot 0 += 1, transient slot 0 += 1, returns both
IDENTITY = b"\x84" * 20  # calls the identity precompile, returns its output
LOOP = b"\x85" * 20  # loops forever (out of gas)
CALLER_BALANCE = b"\x86" * 20  # returns the caller's balance (sees the gas fee drawn)
CLEARER = b"\x87" * 20  # clears slot 1 (a refund)
DESTRUCT = b"\x88" * 20  # self-destructs to the caller
CONTEXT = b"\x89" * 20  # returns number, timestamp, basefee, gasprice, coinbase, callvalue
SENDER = b"\x99" * 20
POOR = b"\x98" * 20  # 1000 wei
NOBODY = b"\x97" * 20  # no account

CODES = {
    RETURNER: "600054" + "60005260206000f3",
    REVERTER: "63deadbeef6000526004601cfd",
    WRITER: "600054600101806000556000526000" + "5c600101806000" + "5d60205260406000f3",
    IDENTITY: "602a600052" + "602060006020600060006004617530f1" + "5060206000f3",
    LOOP: "5b600056",
    CALLER_BALANCE: "3331" + "60005260206000f3",
    CLEARER: "6000600155" + "00",
    DESTRUCT: "33ff",
    CONTEXT: "43600052"
    + "42602052"
    + "48604052"
    + "3a606052"
    + "41608052"
    + "3460a052"
    + "60c06000f3",
}
# init code that deploys the RETURNER's runtime and stores 5 in slot 0
CREATE_RETURNER = bytes.fromhex("6005600055" + "600b6011600039" + "600b6000f3" + CODES[RETURNER])


@pytest.fixture
def genesis(genesis):
    alloc = {
        address: GenesisAccount(code=bytes.fromhex(code), storage={0: 11, 1: 7})
        for address, code in CODES.items()
    }
    alloc[SENDER] = GenesisAccount(balance=10**21)
    alloc[POOR] = GenesisAccount(balance=1000)
    return with_alloc(genesis, alloc)


@pytest.fixture
def chain(genesis, dev_accounts, txs) -> Chain:
    chain = Chain(genesis)
    chain.build_block([])
    tx = txs.dynamic(dev_accounts[0].private_key, 0, to=CALLER_BALANCE, value=3, gas=100_000)
    chain.build_block([tx])
    chain.build_block([])
    return chain


@pytest.fixture
def generic(monkeypatch):
    """Switch the lean path off (and drop the warm states it made) inside ``with``."""

    class Switch:
        def __enter__(self):
            monkeypatch.setattr(simulation, "LEAN_CALLS", False)
            monkeypatch.setattr(simulation, "memoize_account_decoding", lambda state: None)
            monkeypatch.setattr(interrupt, "_STACK_SHORTCUTS", ())  # py-evm's cached_property
            warm_state._by_chain.clear()
            interrupt._shared_classes.clear()

        def __exit__(self, *exc):
            monkeypatch.undo()
            warm_state._by_chain.clear()
            interrupt._shared_classes.clear()

    return Switch()


def outcome(fn, *args, **kwargs):
    """What a simulation gave: its result's fields, or the refusal it raised."""
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the refusal is the outcome compared
        return ("raised", type(exc).__name__, str(exc))
    if isinstance(result, tuple):  # an access list and its run
        access_list, result = result
        return (access_list, outcome(lambda: result))
    if isinstance(result, simulation.CallResult):
        error = result.error
        return (result.output, result.gas_used, type(error).__name__, str(error or ""))
    return result


def kind(result) -> str:
    """An outcome's error class name (``NoneType`` for a success)."""
    return result[1] if result[0] == "raised" else result[2]


def call_outcomes(chain, request, header, runs=3):
    """A cold run (a fresh state: an access recorder) and ``runs`` warm ones."""
    cold = outcome(chain.call, request, header, AccessRecorder(), deadline=Deadline(5))
    warm = [outcome(chain.call, request, header, deadline=Deadline(5)) for _ in range(runs)]
    return [cold, *warm]


def fixed_requests() -> list[CallRequest]:
    fee = {"max_fee_per_gas": 10**10, "max_priority_fee_per_gas": 10**9}
    return [
        CallRequest(to=RETURNER),
        CallRequest(sender=SENDER, to=RETURNER, data=b"\x00" * 500),  # calldata floor
        CallRequest(sender=SENDER, to=REVERTER),
        CallRequest(sender=SENDER, to=WRITER),
        CallRequest(sender=SENDER, to=IDENTITY),
        CallRequest(sender=SENDER, to=LOOP, gas=60_000),  # out of gas
        CallRequest(sender=SENDER, to=CALLER_BALANCE, **fee),  # the fee drawn first
        CallRequest(sender=SENDER, to=CALLER_BALANCE, value=7),
        CallRequest(sender=SENDER, to=CLEARER),  # a refund
        CallRequest(sender=SENDER, to=CLEARER, **fee),
        CallRequest(sender=SENDER, to=DESTRUCT),
        CallRequest(sender=SENDER, to=DESTRUCT, **fee),
        CallRequest(sender=SENDER, to=CONTEXT, value=1, **fee),
        CallRequest(sender=SENDER, to=NOBODY, value=10**18),  # a plain transfer
        CallRequest(sender=NOBODY, to=RETURNER),  # a sender without an account
        CallRequest(sender=SENDER, data=CREATE_RETURNER),  # a creation
        CallRequest(sender=SENDER, data=CREATE_RETURNER, **fee),
        CallRequest(sender=SENDER, data=b"\xfe"),  # a failing creation
        CallRequest(sender=POOR, to=RETURNER, value=1001),  # cannot pay the value
        CallRequest(sender=POOR, to=RETURNER, **fee),  # cannot pay the gas
        CallRequest(sender=SENDER, to=RETURNER, gas=20_000),  # below the intrinsic gas
        CallRequest(sender=SENDER, to=RETURNER, max_fee_per_gas=1),  # under the base fee
        CallRequest(sender=SENDER, to=RETURNER, max_fee_per_gas=5, max_priority_fee_per_gas=9),
        CallRequest(sender=SENDER, to=RETURNER, nonce=2**64 - 1),
        CallRequest(sender=SENDER, to=RETURNER, nonce=5),
        CallRequest(
            sender=SENDER,
            to=RETURNER,
            access_list=((RETURNER, (0, 1)), (WRITER, ())),
        ),
        CallRequest(
            sender=SENDER,
            to=RETURNER,
            state_overrides=((RETURNER, AccountOverride(state_diff=((0, 99),))),),
        ),
        CallRequest(
            sender=SENDER,
            to=CALLER_BALANCE,
            state_overrides=((SENDER, AccountOverride(balance=5, nonce=3)),),
        ),
        CallRequest(
            sender=SENDER,
            to=NOBODY,
            state_overrides=((NOBODY, AccountOverride(code=bytes.fromhex(CODES[WRITER]))),),
        ),
        CallRequest(
            sender=SENDER,
            to=CONTEXT,
            block_override=BlockOverride(number=77, timestamp=10**10, coinbase=b"\x12" * 20),
            **fee,
        ),
        CallRequest(
            sender=SENDER, to=CONTEXT, block_override=BlockOverride(base_fee_per_gas=3), **fee
        ),
    ]


def test_fixed_calls_give_the_same_results_both_ways(chain, generic):
    headers = [chain.head, chain.header_by_number(1)]
    cases = [(request, header) for header in headers for request in fixed_requests()]
    lean = [call_outcomes(chain, request, header) for request, header in cases]
    with generic:
        slow = [call_outcomes(chain, request, header) for request, header in cases]
    for (request, header), mine, theirs in zip(cases, lean, slow, strict=True):
        assert mine == theirs, (request, header.block_number)
    # the set covers what it claims: successes, reverts, halts and refusals
    by_request = dict(zip([r for r, _ in cases[: len(cases) // 2]], lean, strict=False))
    word = (42).to_bytes(32, "big")
    identity = by_request[CallRequest(sender=SENDER, to=IDENTITY)][0]
    assert (identity[0], identity[2]) == (word, "NoneType")
    assert by_request[CallRequest(to=RETURNER)][1][0] == (11).to_bytes(32, "big")
    creation = by_request[CallRequest(sender=SENDER, data=CREATE_RETURNER)][1]
    assert creation[0] == bytes.fromhex(CODES[RETURNER])
    kinds = {kind(result) for results in lean for result in results}
    assert {"NoneType", "Revert", "OutOfGas", "InvalidTransaction"} <= kinds


def random_requests(seed: int, count: int) -> list[CallRequest]:
    rng = random.Random(seed)
    targets = [*CODES, NOBODY, simulation.CREATE_CONTRACT_ADDRESS]
    senders = [SENDER, POOR, NOBODY, simulation.ZERO_ADDRESS]
    requests = []
    for _ in range(count):
        to = rng.choice(targets)
        fee = rng.choice([None, None, 10**9, 10**10])
        tip = rng.choice([None, 0, 10**9]) if fee is not None else None
        requests.append(
            CallRequest(
                sender=rng.choice(senders),
                to=to,
                gas=rng.choice([None, None, 21_500, 30_000, 80_000, 10**6]),
                value=rng.choice([0, 0, 1, 999, 10**18]),
                data=CREATE_RETURNER
                if to == simulation.CREATE_CONTRACT_ADDRESS
                else rng.randbytes(rng.choice([0, 4, 36, 300])),
                max_fee_per_gas=fee,
                max_priority_fee_per_gas=tip,
                nonce=rng.choice([None, None, 0, 9]),
                block_override=rng.choice(
                    [None, None, None, BlockOverride(number=9, timestamp=10**9)]
                ),
            )
        )
    return requests


def test_random_calls_give_the_same_results_both_ways(chain, generic):
    headers = [chain.head, chain.header_by_number(0), chain.header_by_number(2)]
    cases = [(r, headers[i % 3]) for i, r in enumerate(random_requests(seed=12, count=120))]
    lean = [call_outcomes(chain, request, header, runs=1) for request, header in cases]
    with generic:
        slow = [call_outcomes(chain, request, header, runs=1) for request, header in cases]
    for (request, header), mine, theirs in zip(cases, lean, slow, strict=True):
        assert mine == theirs, (request, header.block_number)
    assert len({kind(result) for results in lean for result in results}) >= 3


def test_estimates_and_access_lists_are_the_same_both_ways(chain, generic):
    requests = [
        CallRequest(sender=SENDER, to=WRITER),
        CallRequest(sender=SENDER, to=CLEARER),
        CallRequest(sender=SENDER, to=IDENTITY),
        CallRequest(sender=SENDER, to=RETURNER, data=b"\x00" * 800),
        CallRequest(sender=SENDER, to=REVERTER),
        CallRequest(sender=SENDER, data=CREATE_RETURNER),
        CallRequest(sender=SENDER, to=NOBODY, value=5),
    ]

    def run_all():
        out = []
        for request in requests:
            out.append(outcome(chain.estimate_gas, request, chain.head, deadline=Deadline(5)))
            out.append(outcome(chain.create_access_list, request, chain.head, deadline=Deadline(5)))
        return out

    lean = run_all()
    with generic:
        slow = run_all()
    assert lean == slow
    assert any(isinstance(value, int) and value > 21_000 for value in lean)


async def test_rpc_answers_are_the_same_both_ways_at_latest_pending_and_old_blocks(
    server, devnet, dev_accounts, txs, generic
):
    """Through the RPC dispatch: the inline slice, the simulator thread (a precompile), the
    pending block's view (a pooled transaction), and an old block."""
    await server.handle_one({"jsonrpc": "2.0", "id": 0, "method": "evm_mine"})
    tx = txs.dynamic(dev_accounts[1].private_key, 0, to=CALLER_BALANCE, value=4, gas=100_000)
    sent = await server.handle_one(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + tx.encode().hex()],
        }
    )
    assert "result" in sent, sent

    def hexa(address: bytes) -> str:
        return "0x" + address.hex()

    objects = [
        {"to": hexa(RETURNER)},
        {"to": hexa(RETURNER), "data": "0x"},
        {"from": hexa(SENDER), "to": hexa(REVERTER)},
        {"from": hexa(SENDER), "to": hexa(IDENTITY)},
        {"from": hexa(SENDER), "to": hexa(LOOP), "gas": "0xea60"},
        {"from": hexa(SENDER), "to": hexa(CALLER_BALANCE), "maxFeePerGas": "0x2540be400"},
        {"from": hexa(dev_accounts[1].address), "to": hexa(CALLER_BALANCE)},
        {"from": hexa(POOR), "to": hexa(RETURNER), "value": "0x3e9"},
        {"from": hexa(SENDER), "data": "0x" + CREATE_RETURNER.hex()},
    ]
    blocks = ["latest", "pending", "0x0"]
    calls = [
        (method, [obj, block])
        for method in ("eth_call", "eth_estimateGas")
        for obj in objects
        for block in blocks
    ]
    calls.append(("eth_call", [objects[0], "latest", {hexa(RETURNER): {"stateDiff": {}}}]))

    async def answers():
        out = []
        for method, params in calls:
            request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            for _ in range(2):
                out.append(json.dumps(await server.handle_one(request), sort_keys=True))
        return out

    lean = await answers()
    with generic:
        slow = await answers()
    assert lean == slow
    assert any('"error"' in answer for answer in lean)
    assert any('"result"' in answer for answer in lean)
