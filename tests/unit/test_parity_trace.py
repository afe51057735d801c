"""Parity-style traces (``node.tracing.parity``, ``rpc.parity``) in process.

The workloads are ``contracts/src/test/Nested.sol`` (nested CALL with value, a caught revert,
DELEGATECALL, STATICCALL, a revert bubbling up) and ``contracts/src/test/Factory.sol``
(CREATE and CREATE2 from a contract, SELFDESTRUCT of an old contract and of one made in the
same transaction, a value transfer to an account without code, CALLCODE, a creation that
reverts, a storage refund), on an in-memory chain; hand-assembled code covers precompile
calls. The RPC tests go through ``RpcServer.handle_one`` on a manual-mining devnet. The e2e
tests (tests/e2e/test_parity_trace.py) compare the same traces with anvil's.
"""

from __future__ import annotations

import threading

import pytest
import rlp
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth_abi import encode
from eth_hash.auto import keccak

from devtools.contracts import calldata, load
from node.chain import Chain
from node.devnet import Devnet, MiningConfig, MiningMode
from node.errors import InvalidInput
from node.simulation import CallRequest
from node.simulator import SimulationLimits
from node.tracing import CallFrame, parity
from node.tracing.parity import (
    TRACE_FILTER_MAX_BLOCKS,
    Delta,
    FlatTrace,
    TraceFilter,
    call_traces,
    filter_traces,
    flatten,
    parity_error,
    replay_block_traces,
    replay_transaction_traces,
    transaction_traces,
)
from rpc import parity as rpc_parity
from rpc.server import RpcServer

RUN_GAS = 300_000
BOB = b"\xb0" * 20
INVALID_PARAMS = -32602


def created_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


def data(signature: str, types: list[str] | None = None, args: list | None = None) -> bytes:
    return bytes.fromhex(calldata(signature, types, args)[2:])


def code(name: str, deployed: bool = False) -> bytes:
    artifact = load(name)
    return bytes.fromhex((artifact.deployed_bytecode if deployed else artifact.bytecode)[2:])


def intrinsic_gas(payload: bytes, create: bool = False) -> int:
    """Prague's intrinsic gas of a transaction without access list (EIP-2028, EIP-3860)."""
    zeros = payload.count(0)
    gas = 21_000 + 4 * zeros + 16 * (len(payload) - zeros)
    if create:
        gas += 32_000 + 2 * ((len(payload) + 31) // 32)
    return gas


def error_data(reason: str) -> bytes:
    return bytes.fromhex("08c379a0") + encode(["string"], [reason])


class World:
    """A chain with Factory and Nested deployed by dev account 0."""

    def __init__(self, chain: Chain, key, txs) -> None:
        self.chain = chain
        self.key = key
        self.sender = key.public_key.to_canonical_address()
        self.txs = txs
        self.nonce = 0
        self.deploy_factory, self.deploy_nested = self.mine(
            self.create(code("Factory"), gas=2_000_000), self.create(code("Nested"), gas=2_000_000)
        )
        self.factory = self.deploy_factory.contract_address
        self.nested = self.deploy_nested.contract_address
        self.callee = created_address(self.nested, 1)
        self.adder = created_address(self.nested, 2)

    def tx(self, to: bytes, payload: bytes, value: int = 0, gas: int = RUN_GAS):
        tx = self.txs.dynamic(self.key, self.nonce, to=to, value=value, data=payload, gas=gas)
        self.nonce += 1
        return tx

    def create(self, init: bytes, gas: int = 1_000_000):
        return self.tx(CREATE_CONTRACT_ADDRESS, init, gas=gas)

    def mine(self, *transactions):
        built = self.chain.build_block(list(transactions), timestamp=self.chain.head.timestamp + 12)
        assert not built.skipped
        return built.receipts

    def factory_tx(self, signature: str, types=None, args=None, value: int = 0, gas=RUN_GAS):
        return self.tx(self.factory, data(signature, types, args), value=value, gas=gas)

    def traces(self, receipt) -> list[FlatTrace]:
        return replay_transaction_traces(self.chain, receipt.transaction_hash, ["trace"]).traces


@pytest.fixture
def world(chain, dev_accounts, txs) -> World:
    return World(chain, dev_accounts[0].private_key, txs)


def shape(entries: list[FlatTrace]) -> list[tuple]:
    return [(e.kind, e.call_type, e.trace_address, e.subtraces, e.error) for e in entries]


# -- the flat trace -------------------------------------------------------------------------------


def test_nested_calls_flattened_depth_first(world):
    payload = data("run(uint256)", ["uint256"], [21])
    (receipt,) = world.mine(world.tx(world.nested, payload, value=5))
    entries = world.traces(receipt)
    assert shape(entries) == [
        ("call", "call", [], 4, None),
        ("call", "call", [0], 0, None),
        ("call", "call", [1], 0, "Reverted"),
        ("call", "delegatecall", [2], 0, None),
        ("call", "staticcall", [3], 0, None),
    ]
    root, store, fail, delegate, static = entries
    # The top call's gas is what the frame got (the limit less intrinsic gas), its gasUsed what
    # the frame used before refunds: the receipt is intrinsic + used - refund.
    assert (root.sender, root.to, root.value, root.input) == (
        world.sender,
        world.nested,
        5,
        payload,
    )
    assert root.gas == RUN_GAS - intrinsic_gas(payload)
    assert receipt.gas_used == intrinsic_gas(payload) + root.gas_used  # no refund here
    assert (store.sender, store.to, store.value) == (world.nested, world.callee, 5)
    # A revert keeps its result: the revert data as output.
    assert fail.has_result and fail.output == error_data("callee says no")
    assert (delegate.to, delegate.value) == (world.adder, 5)  # the caller's value
    assert (static.to, static.value) == (world.callee, 0)
    assert root.output == (42).to_bytes(32, "big")

    (failed,) = world.mine(world.tx(world.nested, data("failDeep()")))
    assert failed.status == 0
    assert shape(world.traces(failed)) == [
        ("call", "call", [], 1, "Reverted"),
        ("call", "staticcall", [0], 0, "Reverted"),  # Callee.fail is pure
    ]


def test_creations_and_selfdestructs(world):
    made, poked, killed, made_and_killed, made2, failed_make, paid, sent = world.mine(
        world.factory_tx("make()", value=7),
        world.factory_tx("poke(uint256)", ["uint256"], [3], value=2),
        world.factory_tx("kill(address)", ["address"], [BOB]),
        world.factory_tx("makeAndKill(address)", ["address"], [BOB], value=9),
        world.factory_tx("make2(bytes32)", ["bytes32"], [b"\x01" * 32], value=1),
        world.factory_tx("failedMake()"),
        world.factory_tx("pay(address)", ["address"], [BOB], value=11),
        world.tx(BOB, b"", value=123, gas=21_000),
    )
    assert all(r.status == 1 for r in (made, poked, killed, made_and_killed, made2, failed_make))
    child = created_address(world.factory, 1)

    root, create = world.traces(made)
    assert (root.subtraces, create.kind, create.call_type, create.trace_address) == (
        1,
        "create",
        "create",
        [0],
    )
    assert (create.sender, create.value, create.input) == (world.factory, 7, code("Child"))
    assert (create.address, create.output, create.to) == (child, code("Child", True), None)

    assert shape(world.traces(poked)) == [
        ("call", "call", [], 4, None),
        ("call", "call", [0], 0, None),
        ("call", "call", [1], 0, "Reverted"),
        ("call", "staticcall", [2], 0, None),
        ("call", "callcode", [3], 0, None),
    ]

    # SELFDESTRUCT: a last child of the frame that ran it, with no result.
    entries = world.traces(killed)
    assert shape(entries) == [
        ("call", "call", [], 1, None),
        ("call", "call", [0], 1, None),
        ("suicide", "", [0, 0], 0, None),
    ]
    gone = entries[2]
    assert (gone.sender, gone.to, gone.value, gone.has_result) == (child, BOB, 9, False)

    assert shape(world.traces(made_and_killed)) == [
        ("call", "call", [], 2, None),
        ("create", "create", [0], 0, None),
        ("call", "call", [1], 1, None),
        ("suicide", "", [1, 0], 0, None),
    ]

    salted = keccak(b"\xff" + world.factory + b"\x01" * 32 + keccak(code("Child")))[12:]
    _, create2 = world.traces(made2)
    assert (create2.call_type, create2.address, create2.value) == ("create2", salted, 1)

    # A creation that reverted keeps its result: the address it would have had, the revert
    # data as its code.
    _, reverted = world.traces(failed_make)
    assert (reverted.kind, reverted.error, reverted.has_result) == ("create", "Reverted", True)
    assert reverted.address == created_address(world.factory, 4)
    assert reverted.output == error_data("no")

    _, transfer = world.traces(paid)
    assert (transfer.to, transfer.value, transfer.input, transfer.gas_used) == (BOB, 11, b"", 0)
    (plain,) = world.traces(sent)
    assert (plain.to, plain.value, plain.gas, plain.gas_used) == (BOB, 123, 0, 0)


def test_a_failure_other_than_a_revert_has_no_result(world):
    # make() with too little gas: the inner creation runs out of gas, then make() reverts.
    (receipt,) = world.mine(world.factory_tx("make()", gas=60_000))
    assert receipt.status == 0
    root, create = world.traces(receipt)
    assert (root.error, root.has_result) == ("Reverted", True)
    assert (create.kind, create.error, create.has_result) == ("create", "Out of gas", False)
    assert create.address == created_address(world.factory, 1)


def test_a_creating_transaction_counts_init_code_words_as_intrinsic(world):
    (root,) = world.traces(world.deploy_factory)
    init = code("Factory")
    assert root.kind == "create" and root.trace_address == []
    assert root.gas == 2_000_000 - intrinsic_gas(init, create=True)
    assert world.deploy_factory.gas_used == intrinsic_gas(init, create=True) + root.gas_used
    assert (root.address, root.output) == (world.factory, code("Factory", True))


def test_precompile_calls_are_left_out(world):
    def call(address: bytes) -> bytes:  # CALL(gas, address, 0, 0, 0, 0, 0); POP
        return b"\x5f" * 5 + b"\x73" + address + b"\x5a\xf1\x50"

    runtime = call((4).to_bytes(20, "big")) + call(BOB) + call((1).to_bytes(20, "big")) + b"\x00"
    size = len(runtime)  # init code: CODECOPY the runtime from after its 12 bytes, RETURN it
    init = bytes([0x60, size, 0x60, 12, 0x60, 0, 0x39, 0x60, size, 0x60, 0, 0xF3]) + runtime
    (deployed,) = world.mine(world.create(init))
    assert world.chain.code(deployed.contract_address, world.chain.head) == runtime
    (receipt,) = world.mine(world.tx(deployed.contract_address, b""))
    assert shape(world.traces(receipt)) == [
        ("call", "call", [], 1, None),
        ("call", "call", [0], 0, None),
    ]
    assert world.traces(receipt)[1].to == BOB


def test_a_deep_call_tree_is_flattened_without_recursion():
    depth = 3_000  # past Python's recursion limit
    root = CallFrame("CALL", b"\x01" * 20, b"\x02" * 20, 0, 100, b"")
    frame = root
    for _ in range(depth):
        child = CallFrame("CALL", b"\x02" * 20, b"\x02" * 20, 0, 100, b"")
        frame.calls.append(child)
        frame = child
    entries = flatten(root, frozenset())
    assert len(entries) == depth + 1
    assert entries[-1].trace_address == [0] * depth
    assert [e.subtraces for e in entries[:2]] == [1, 1] and entries[-1].subtraces == 0


def test_parity_error_words():
    assert parity_error("execution reverted") == "Reverted"
    assert parity_error("out of gas") == "Out of gas"
    assert parity_error("contract creation code storage out of gas") == "Out of gas"
    assert parity_error("invalid jump destination") == "Bad jump destination"
    assert parity_error("invalid opcode: INVALID") == "Bad instruction"
    assert parity_error("stack underflow (0 <=> 2)") == "Stack underflow"
    assert parity_error("write protection") == "write protection"


# -- the state diff -------------------------------------------------------------------------------


def test_state_diff(world):
    made, forgotten, made_and_killed, sent = world.mine(
        world.factory_tx("make()", value=7),
        world.factory_tx("forget()"),
        world.factory_tx("makeAndKill(address)", ["address"], [BOB], value=9),
        world.tx(BOB, b"", value=123, gas=21_000),
    )
    child = created_address(world.factory, 1)
    head = world.chain.head
    diff = replay_transaction_traces(world.chain, made.transaction_hash, ["stateDiff"])
    assert diff.traces is None and diff.output == child.rjust(32, b"\x00")
    changes = diff.state_diff
    assert set(changes) == {world.sender, world.factory, child, head.coinbase}
    # Created by the transaction: every field added.
    new = changes[child]
    assert (new.balance, new.nonce, new.code) == (
        Delta("+", after=7),
        Delta("+", after=1),
        Delta("+", after=code("Child", True)),
    )
    assert new.storage == {0: Delta("+", after=int.from_bytes(world.factory, "big"))}
    factory = changes[world.factory]
    assert (factory.balance, factory.code) == (parity.UNCHANGED, parity.UNCHANGED)
    assert factory.nonce == Delta("*", 1, 2)  # a contract's nonce counts its creations
    assert factory.storage == {0: Delta("*", 0, int.from_bytes(child, "big"))}
    sender = changes[world.sender]
    assert sender.nonce == Delta("*", 2, 3) and sender.balance.kind == "*"
    assert sender.balance.before - sender.balance.after > 7

    (forgot,) = replay_block_traces(world.chain, head, ["stateDiff"])[1:2]
    assert forgot[0] == forgotten.transaction_hash
    slot = forgot[1].state_diff[world.factory].storage
    assert slot == {0: Delta("*", int.from_bytes(child, "big"), 0)}

    # Created and destroyed in the same transaction: left out; the beneficiary is changed.
    changes = replay_transaction_traces(
        world.chain, made_and_killed.transaction_hash, ["trace", "stateDiff"]
    ).state_diff
    made_child = created_address(world.factory, 2)
    assert made_child not in changes
    assert changes[BOB].balance == Delta("*", 0, 9)
    assert (changes[BOB].nonce, changes[BOB].code, changes[BOB].storage) == (
        parity.UNCHANGED,
        parity.UNCHANGED,
        {},
    )
    changes = replay_transaction_traces(world.chain, sent.transaction_hash, ["stateDiff"])
    assert changes.state_diff[BOB].balance == Delta("*", 9, 9 + 123)


def test_trace_types(world):
    (receipt,) = world.mine(world.factory_tx("make()"))
    both = replay_transaction_traces(world.chain, receipt.transaction_hash, ["trace", "stateDiff"])
    assert both.traces and both.state_diff
    none = replay_transaction_traces(world.chain, receipt.transaction_hash, [])
    assert none.traces is None and none.state_diff is None and none.output
    with pytest.raises(InvalidInput, match="vmTrace"):
        parity.parity_tracer(["vmTrace"])
    with pytest.raises(InvalidInput, match="unknown trace type 'bogus'"):
        parity.parity_tracer(["trace", "bogus"])


def test_trace_call_traces_the_call_eth_call_runs(world):
    payload = data("run(uint256)", ["uint256"], [21])
    request = CallRequest(sender=world.sender, to=world.nested, data=payload, value=5, gas=RUN_GAS)
    head = world.chain.head
    result = call_traces(world.chain, request, head, ["trace", "stateDiff"])
    (receipt,) = world.mine(world.tx(world.nested, payload, value=5))
    mined = world.traces(receipt)
    assert shape(result.traces) == shape(mined)
    assert [(e.gas, e.gas_used, e.output) for e in result.traces] == [
        (e.gas, e.gas_used, e.output) for e in mined
    ]
    assert result.state_diff[world.callee].storage == {0: Delta("*", 0, 21)}
    assert world.chain.storage(world.callee, 0, head) == 0  # nothing was committed


# -- trace_block, trace_transaction, trace_filter ------------------------------------------------


def test_located_traces_and_the_filter(world):
    poked_before = world.mine(world.factory_tx("make()", value=1))[0]
    a, b = world.mine(
        world.tx(world.nested, data("run(uint256)", ["uint256"], [1]), value=5),
        world.tx(BOB, b"", value=1, gas=21_000),
    )
    head = world.chain.head
    located = parity.block_traces(world.chain, head)
    assert [(x.transaction_hash, x.transaction_position) for x in located] == [
        (a.transaction_hash, 0)
    ] * 5 + [(b.transaction_hash, 1)]
    assert {(x.block_hash, x.block_number) for x in located} == {(head.hash, head.block_number)}
    assert transaction_traces(world.chain, b"\x01" * 32) is None
    assert [x.trace for x in transaction_traces(world.chain, b.transaction_hash)] == [
        located[5].trace
    ]
    assert replay_block_traces(world.chain, world.chain.header_by_number(0), ["trace"]) == []

    everything = TraceFilter(first=0, last=head.block_number)
    all_entries = filter_traces(world.chain, everything)
    # Factory's deployment, Nested's (and its two creations), make() and its creation, the block
    assert len(all_entries) == 1 + 3 + 2 + 6
    to_callee = filter_traces(
        world.chain, TraceFilter(0, head.block_number, recipients=frozenset({world.callee}))
    )
    # Callee's creation in Nested's deployment, then run()'s calls to it.
    assert [(x.trace.kind, x.trace.trace_address) for x in to_callee] == [
        ("create", [0]),
        ("call", [0]),
        ("call", [1]),
        ("call", [3]),
    ]
    # A create's recipient is the address it made.
    made = filter_traces(
        world.chain,
        TraceFilter(
            0, head.block_number, recipients=frozenset({created_address(world.factory, 1)})
        ),
    )
    assert [x.transaction_hash for x in made] == [poked_before.transaction_hash]
    union = TraceFilter(
        0,
        head.block_number,
        senders=frozenset({world.nested}),
        recipients=frozenset({BOB}),
    )
    # Nested's two creations in its deployment, run()'s four calls, the transfer to BOB.
    assert len(filter_traces(world.chain, union)) == 2 + 4 + 1
    both = TraceFilter(
        0,
        head.block_number,
        senders=frozenset({world.nested}),
        recipients=frozenset({world.adder}),
        intersection=True,
    )
    # Adder's creation by Nested, then run()'s DELEGATECALL to it.
    assert [x.trace.call_type for x in filter_traces(world.chain, both)] == [
        "create",
        "delegatecall",
    ]
    page = filter_traces(world.chain, TraceFilter(0, head.block_number, after=3, count=4))
    assert [x.trace for x in page] == [x.trace for x in all_entries[3:7]]
    assert filter_traces(world.chain, TraceFilter(0, head.block_number, count=0)) == []


def test_filter_bounds():
    TraceFilter(first=0, last=TRACE_FILTER_MAX_BLOCKS - 1)
    with pytest.raises(InvalidInput, match="at most 1000 blocks"):
        TraceFilter(first=0, last=TRACE_FILTER_MAX_BLOCKS)
    with pytest.raises(InvalidInput, match="fromBlock is after toBlock"):
        TraceFilter(first=5, last=4)


# -- over JSON-RPC ----------------------------------------------------------------------------------


async def call(server: RpcServer, method: str, *params):
    return await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )


async def result(server: RpcServer, method: str, *params):
    answer = await call(server, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


async def send_and_mine(server, txs, key, nonce, to, payload=b"", value=0, gas=RUN_GAS):
    tx = txs.dynamic(key, nonce, to=to, value=value, data=payload, gas=gas)
    tx_hash = await result(server, "eth_sendRawTransaction", "0x" + tx.encode().hex())
    await result(server, "evm_mine")
    return tx_hash


async def test_the_rpc_methods(server, dev_accounts, txs):
    key = dev_accounts[0].private_key
    sender = "0x" + dev_accounts[0].address.hex()
    deploy = await send_and_mine(
        server, txs, key, 0, CREATE_CONTRACT_ADDRESS, code("Factory"), gas=2_000_000
    )
    factory = "0x" + created_address(dev_accounts[0].address, 0).hex()
    make = await send_and_mine(
        server, txs, key, 1, bytes.fromhex(factory[2:]), data("make()"), value=7
    )
    entries = await result(server, "trace_transaction", make)
    assert [(e["type"], e["traceAddress"], e["subtraces"]) for e in entries] == [
        ("call", [], 1),
        ("create", [0], 0),
    ]
    root, create = entries
    assert root["action"] == {
        "from": sender,
        "callType": "call",
        "gas": hex(RUN_GAS - intrinsic_gas(data("make()"))),
        "input": "0xc6dad082",
        "to": factory,
        "value": "0x7",
    }
    assert set(root) == {
        "type",
        "action",
        "result",
        "subtraces",
        "traceAddress",
        "blockHash",
        "blockNumber",
        "transactionHash",
        "transactionPosition",
    }
    assert (root["blockNumber"], root["transactionPosition"], root["transactionHash"]) == (
        2,
        0,
        make,
    )
    assert set(create["action"]) == {"from", "gas", "init", "value", "creationMethod"}
    assert set(create["result"]) == {"address", "code", "gasUsed"}
    assert await result(server, "trace_block", "0x2") == entries
    assert await result(server, "trace_get", make, ["0x1"]) == create
    assert await result(server, "trace_get", make, [1]) == create
    assert await result(server, "trace_get", make, [5]) is None
    assert await result(server, "trace_get", make, [0, 0]) is None
    assert await result(server, "trace_transaction", "0x" + "11" * 32) == []
    assert await result(server, "trace_block", "0x99") == []
    assert await result(server, "trace_block", "0x0") == []
    deployed = await result(server, "trace_transaction", deploy)
    assert deployed[0]["result"]["address"] == factory

    replay = await result(server, "trace_replayTransaction", make, ["trace", "stateDiff"])
    assert set(replay) == {"output", "stateDiff", "trace", "vmTrace"}
    assert replay["vmTrace"] is None
    assert replay["trace"] == [
        {k: v for k, v in e.items() if k not in rpc_parity_location()} for e in entries
    ]
    child = "0x" + created_address(bytes.fromhex(factory[2:]), 1).hex()
    assert replay["stateDiff"][child]["balance"] == {"+": "0x7"}
    assert replay["stateDiff"][factory]["storage"] == {
        "0x" + "00" * 32: {"*": {"from": "0x" + "00" * 32, "to": "0x" + child[2:].rjust(64, "0")}}
    }
    assert replay["stateDiff"][factory]["balance"] == "="
    block = await result(server, "trace_replayBlockTransactions", "0x2", ["trace"])
    assert block == [{**replay, "stateDiff": None, "transactionHash": make}]
    only_diff = await result(server, "trace_replayTransaction", make, ["stateDiff"])
    assert only_diff["trace"] == [] and only_diff["stateDiff"] == replay["stateDiff"]

    request = {
        "from": sender,
        "to": factory,
        "data": "0xc6dad082",
        "value": "0x7",
        "gas": hex(RUN_GAS),
    }
    called = await result(server, "trace_call", request, ["trace"], "0x1")
    assert called["trace"] == replay["trace"]
    rich = "0x" + "77" * 20
    overridden = await result(
        server,
        "trace_call",
        {**request, "from": rich},
        ["stateDiff"],
        "latest",
        {rich: {"balance": "0x1000"}},
        {"number": "0x99"},
    )
    assert overridden["stateDiff"][rich]["balance"] == {"*": {"from": "0x1000", "to": "0xff9"}}
    signed = txs.dynamic(
        key, 2, to=bytes.fromhex(factory[2:]), value=7, data=data("make()"), gas=RUN_GAS
    )
    raw = await result(server, "trace_rawTransaction", "0x" + signed.encode().hex(), ["trace"])
    assert [e["type"] for e in raw["trace"]] == ["call", "create"]
    assert (
        raw["trace"][1]["result"]["address"]
        == "0x" + created_address(bytes.fromhex(factory[2:]), 2).hex()
    )

    # With an access list: the slot is warm, so the SSTORE costs less than in the trace above.
    unsigned = txs.builder.new_unsigned_dynamic_fee_transaction(
        31337,
        2,
        10**9,
        10**10,
        RUN_GAS,
        bytes.fromhex(factory[2:]),
        0,
        data("make()"),
        [(bytes.fromhex(factory[2:]), [0])],
    )
    listed = unsigned.as_signed_transaction(key)
    warm = await result(server, "trace_rawTransaction", "0x" + listed.encode().hex(), ["trace"])
    cold = raw["trace"][0]["result"]["gasUsed"]
    assert int(warm["trace"][0]["result"]["gasUsed"], 16) < int(cold, 16)

    legacy = txs.legacy(key, 2, to=BOB, value=3)  # no access list field at all
    plain = await result(server, "trace_rawTransaction", "0x" + legacy.encode().hex(), ["trace"])
    assert plain["trace"][0]["action"]["value"] == "0x3"

    found = await result(server, "trace_filter", {"toAddress": [child]})
    assert [(e["transactionHash"], e["type"]) for e in found] == [(make, "create")]
    found = await result(server, "trace_filter", {"fromBlock": "0x2", "toBlock": "latest"})
    assert found == entries
    assert await result(server, "trace_filter", {"fromBlock": 2, "toBlock": 2}) == entries
    assert await result(server, "trace_filter", {"fromBlock": "earliest", "count": 1}) == deployed


def rpc_parity_location() -> set[str]:
    return {"blockHash", "blockNumber", "transactionHash", "transactionPosition"}


@pytest.mark.parametrize(
    ("method", "params", "words"),
    [
        ("trace_replayBlockTransactions", ["latest", ["vmTrace"]], "vmTrace"),
        ("trace_replayBlockTransactions", ["latest", ["trace", "nope"]], "unknown trace type"),
        ("trace_replayBlockTransactions", ["latest", "trace"], "array of trace types"),
        ("trace_call", [{"to": "0x" + "11" * 20}, ["vmTrace", "trace"]], "vmTrace"),
        ("trace_filter", [{"fromBlock": "0x0", "bogus": 1}], "unknown field 'bogus'"),
        ("trace_filter", [{"fromBlock": "0x1", "toBlock": "0x0"}], "fromBlock is after toBlock"),
        ("trace_filter", [{"toBlock": "0x5"}], "past the head"),
        ("trace_filter", [{"mode": "both"}], "union"),
        ("trace_filter", [{"fromAddress": "0x" + "11" * 20}], "array of addresses"),
        ("trace_filter", [{"count": -1}], "count"),
        ("trace_filter", [[]], "expected an object"),
        ("trace_get", ["0x" + "11" * 32, "0x1"], "indices"),
        ("trace_transaction", ["0x11"], "hash"),
        ("trace_rawTransaction", ["0x1234", ["trace"]], "decode"),
    ],
)
async def test_bad_params_answer_invalid_params(server, method, params, words):
    answer = await call(server, method, *params)
    assert answer["error"]["code"] == INVALID_PARAMS, answer
    assert words in answer["error"]["message"]


async def test_filter_range_limit(genesis, dev_accounts):
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    server = RpcServer(node)
    try:
        await result(server, "anvil_mine", hex(TRACE_FILTER_MAX_BLOCKS))
        ok = await result(server, "trace_filter", {"fromBlock": "0x1"})
        assert ok == []
        answer = await call(server, "trace_filter", {"fromBlock": "0x0"})
        assert answer["error"]["code"] == INVALID_PARAMS
        assert "at most 1000 blocks (TRACE_FILTER_MAX_BLOCKS)" in answer["error"]["message"]
    finally:
        await node.stop()


async def test_traces_run_on_a_simulator_thread_under_the_trace_deadline(
    genesis, dev_accounts, txs, monkeypatch
):
    threads: list[str] = []
    real = parity.block_traces

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(parity, "block_traces", recording)
    node = Devnet(
        genesis,
        dev_accounts,
        MiningConfig(MiningMode.MANUAL),
        limits=SimulationLimits(trace_timeout=0.0),
    )
    server = RpcServer(node)
    try:
        key = dev_accounts[0].private_key
        await send_and_mine(server, txs, key, 0, BOB, value=1, gas=21_000)
        answer = await call(server, "trace_block", "latest")
        assert answer["error"] == {"code": -32000, "message": "execution timeout"}
        answer = await call(server, "trace_filter", {})
        assert answer["error"] == {"code": -32000, "message": "execution timeout"}
    finally:
        await node.stop()
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    server = RpcServer(node)
    try:
        await send_and_mine(server, txs, dev_accounts[0].private_key, 0, BOB, value=1, gas=21_000)
        assert len(await result(server, "trace_block", "latest")) == 1
        assert len(await result(server, "trace_filter", {})) == 1
    finally:
        await node.stop()
    assert threads and all(name.startswith("simulator") for name in threads)
    assert rpc_parity.METHODS["trace_filter"]  # registered in the trace namespace


GARBAGE = [
    None,
    [],
    [None],
    [1],
    [True],
    ["0x"],
    ["0xzz"],
    [{}],
    [[]],
    ["latest"],
    ["latest", None],
    ["latest", ["trace", 5]],
    ["latest", ["trace"], "latest", 4],
    ["0x" + "11" * 32, "x"],
    ["0x" + "11" * 32, [-1]],
    ["0x" + "11" * 32, [2**70]],
    [{"fromBlock": []}],
    [{"fromBlock": "pending", "toBlock": "latest"}],
    [{"fromBlock": "0x" + "ff" * 40}],
    [{"fromBlock": {"blockHash": "0x" + "11" * 32}}],
    [{"after": "0x" + "ff" * 9}],
    [{"after": 2**64}],
    [{"count": 1.5}],
    [{"fromAddress": ["0x12"]}],
    [{"toAddress": ["0x" + "11" * 20] * 1_001}],
    [{"from": "0x" + "11" * 20}, ["trace"]],
    [{"to": "0x" + "11" * 20, "gas": "0x" + "ff" * 40}, ["trace"]],
    ["0x" + "00" * 200, ["trace"]],
    ["0xf8", ["trace"]],
]


@pytest.mark.parametrize("params", GARBAGE, ids=range(len(GARBAGE)))
async def test_no_input_makes_an_internal_error(server, dev_accounts, txs, params):
    await send_and_mine(server, txs, dev_accounts[0].private_key, 0, BOB, value=1, gas=21_000)
    for method in sorted(rpc_parity.METHODS):
        answer = await call(server, method, *(params or []))
        if params is None:
            answer = await server.handle_one({"jsonrpc": "2.0", "id": 1, "method": method})
        assert "result" in answer or answer["error"]["code"] != -32603, (method, answer)
