"""``node.tracing`` in process: geth's struct logger, ``callTracer`` and ``prestateTracer`` on
an in-memory ``node.chain.Chain`` (genesis/l1.json, delayed state root on, dev accounts
funded), plus the JSON shapes ``rpc.trace`` writes.

The workload is ``contracts/src/test/Nested.sol``: ``Nested.run`` calls ``Callee.store`` with
value (which logs), catches ``Callee.fail``'s revert with a reason, DELEGATECALLs
``Adder.add``, STATICCALLs ``Callee.value`` and logs; ``failDeep`` reverts through a nested
call. Hand-written bytecode covers SELFDESTRUCT, CREATE2 and code that runs off its end.
The e2e tests compare the same traces with anvil's.
"""

from __future__ import annotations

import pytest
import rlp
from eth.constants import CREATE_CONTRACT_ADDRESS, ZERO_ADDRESS
from eth_abi import decode, encode
from eth_hash.auto import keccak

from devtools.contracts import calldata, event_topic, load
from node.chain import Chain
from node.simulation import AccountOverride, CallRequest
from node.tracing import (
    CallFrame,
    NotTraceable,
    PrestateTrace,
    StructTrace,
    TraceOptions,
    UnknownTracer,
    trace_block,
    trace_call,
    trace_transaction,
)
from rpc import trace as rpc_trace
from rpc.errors import InvalidParams

RUN_GAS = 300_000
CALLEE_SAYS_NO = "callee says no"
STORED_TOPIC = bytes.fromhex(event_topic("Stored(address,uint256)")[2:])
DONE_TOPIC = bytes.fromhex(event_topic("Done(uint256,bool)")[2:])


def created_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


def data(signature: str, types: list[str] | None = None, args: list | None = None) -> bytes:
    return bytes.fromhex(calldata(signature, types, args)[2:])


def deploy_code(runtime: bytes) -> bytes:
    """Init code that returns ``runtime``: CODECOPY it from after these 12 bytes."""
    size = len(runtime)
    return bytes([0x60, size, 0x60, 12, 0x60, 0, 0x39, 0x60, size, 0x60, 0, 0xF3]) + runtime


class World:
    """A chain with Nested (and its Callee and Adder) deployed by dev account 0."""

    def __init__(self, chain: Chain, key, txs) -> None:
        self.chain = chain
        self.key = key
        self.sender = key.public_key.to_canonical_address()
        self.txs = txs
        self.nonce = 0
        init = bytes.fromhex(load("Nested").bytecode[2:])
        self.deploy = self.mine(self.create(init, gas=2_000_000))[0]
        assert self.deploy.status == 1
        self.nested = self.deploy.contract_address
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

    def run(self, v: int = 21, value: int = 5):
        return self.tx(self.nested, data("run(uint256)", ["uint256"], [v]), value=value)


@pytest.fixture
def world(chain, dev_accounts, txs) -> World:
    return World(chain, dev_accounts[0].private_key, txs)


def call_tracer(**config) -> TraceOptions:
    return TraceOptions(tracer="callTracer", **config)


def prestate(**config) -> TraceOptions:
    return TraceOptions(tracer="prestateTracer", **config)


def error_data(reason: str) -> bytes:
    return bytes.fromhex("08c379a0") + encode(["string"], [reason])


# -- callTracer -------------------------------------------------------------------------------------


def test_call_tracer_reports_every_frame_of_a_nested_call(world):
    (receipt,) = world.mine(world.run(21, value=5))
    assert receipt.status == 1
    root = trace_transaction(world.chain, receipt.transaction_hash, call_tracer(with_log=True))

    assert isinstance(root, CallFrame)
    assert (root.type, root.sender, root.to, root.value) == ("CALL", world.sender, world.nested, 5)
    assert root.gas == RUN_GAS  # geth: the transaction's gas limit
    assert root.gas_used == receipt.gas_used
    assert root.input == data("run(uint256)", ["uint256"], [21])
    assert decode(["uint256"], root.output) == (42,)
    assert root.error is None

    store, fail, add, read = root.calls
    assert [c.type for c in root.calls] == ["CALL", "CALL", "DELEGATECALL", "STATICCALL"]
    assert (store.sender, store.to, store.value) == (world.nested, world.callee, 5)
    assert decode(["uint256"], store.output) == (42,)
    assert (fail.to, fail.value, fail.error) == (world.callee, 0, "execution reverted")
    assert fail.output == error_data(CALLEE_SAYS_NO)
    assert fail.revert_reason == CALLEE_SAYS_NO
    # DELEGATECALL runs Adder's code as Nested, with the caller's value; STATICCALL has none.
    assert (add.sender, add.to, add.value) == (world.nested, world.adder, 5)
    assert add.input == data("add(uint256)", ["uint256"], [42])
    assert (read.sender, read.to, read.value) == (world.nested, world.callee, None)
    for call in root.calls:
        assert 0 < call.gas_used <= call.gas < root.gas
    assert store.gas > fail.gas > add.gas > read.gas  # each is 63/64 of what was left

    # Logs sit in the frame that emitted them, placed among its sub-calls.
    (stored,) = store.logs
    assert (stored.address, stored.topics[0], stored.position, stored.index) == (
        world.callee,
        STORED_TOPIC,
        0,
        0,
    )
    (done,) = root.logs
    assert (done.address, done.topics, done.position, done.index) == (
        world.nested,
        [DONE_TOPIC],
        4,
        1,
    )
    assert not fail.logs and not add.logs and not read.logs
    receipt_logs = [(log.address, log.data) for log in receipt.receipt.logs]
    assert receipt_logs == [(stored.address, stored.data), (done.address, done.data)]


def test_call_tracer_reports_a_revert_that_bubbles_up(world):
    (receipt,) = world.mine(world.tx(world.nested, data("failDeep()")))
    assert receipt.status == 0
    root = trace_transaction(world.chain, receipt.transaction_hash, call_tracer(with_log=True))
    assert root.error == "execution reverted"
    assert root.revert_reason == CALLEE_SAYS_NO
    assert root.output == error_data(CALLEE_SAYS_NO)
    assert root.gas_used == receipt.gas_used
    (inner,) = root.calls
    assert (inner.type, inner.to, inner.value) == ("STATICCALL", world.callee, None)
    assert inner.revert_reason == CALLEE_SAYS_NO


def test_call_tracer_options(world):
    (receipt,) = world.mine(world.run())
    tx_hash = receipt.transaction_hash
    top = trace_transaction(world.chain, tx_hash, call_tracer(only_top_call=True, with_log=True))
    assert top.calls == []
    # geth: with the sub-calls gone the log's position is 0 (anvil keeps 4).
    assert [(log.topics[0], log.position) for log in top.logs] == [(DONE_TOPIC, 0)]
    plain = trace_transaction(world.chain, tx_hash, call_tracer())
    assert plain.logs == [] and all(call.logs == [] for call in plain.calls)
    assert len(plain.calls) == 4


def test_call_tracer_of_a_creation(world):
    root = trace_transaction(world.chain, world.deploy.transaction_hash, call_tracer())
    assert (root.type, root.to, root.gas_used) == ("CREATE", world.nested, world.deploy.gas_used)
    assert root.output == world.chain.code(world.nested, world.chain.head)
    assert [(c.type, c.sender, c.to) for c in root.calls] == [
        ("CREATE", world.nested, world.callee),
        ("CREATE", world.nested, world.adder),
    ]
    assert root.calls[0].output == world.chain.code(world.callee, world.chain.head)


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode:DeprecationWarning")
def test_call_tracer_selfdestruct_and_create2(world):
    beneficiary = b"\xbe" * 20
    # PUSH20 beneficiary SELFDESTRUCT: with EIP-6780 only the balance moves.
    (destructor,) = world.mine(world.create(deploy_code(b"\x73" + beneficiary + b"\xff")))
    # CREATE2(value 0, offset 0, size 0, salt 42), then run off the end of the code.
    create2 = bytes([0x60, 42, 0x60, 0, 0x60, 0, 0x60, 0, 0xF5])
    (factory,) = world.mine(world.create(deploy_code(create2)))
    sent, made = world.mine(
        world.tx(destructor.contract_address, b"", value=7),
        world.tx(factory.contract_address, b""),
    )
    root = trace_transaction(world.chain, sent.transaction_hash, call_tracer())
    (gone,) = root.calls
    assert (gone.type, gone.sender, gone.to, gone.value) == (
        "SELFDESTRUCT",
        destructor.contract_address,
        beneficiary,
        7,
    )
    assert (gone.gas, gone.gas_used, gone.input) == (0, 0, b"")
    assert world.chain.balance(beneficiary, world.chain.head) == 7
    diff = trace_transaction(world.chain, sent.transaction_hash, prestate(diff_mode=True))
    assert diff.post[beneficiary].balance == 7 and diff.pre[beneficiary].balance == 0
    # EIP-6780: the contract stays (it was not created by this transaction), and its balance
    # went 0 -> 7 -> 0, so it is no change at all.
    assert destructor.contract_address not in diff.pre | diff.post

    child = keccak(b"\xff" + factory.contract_address + (42).to_bytes(32, "big") + keccak(b""))
    root = trace_transaction(world.chain, made.transaction_hash, call_tracer())
    (created,) = root.calls
    assert (created.type, created.to, created.input) == ("CREATE2", child[12:], b"")

    steps = trace_transaction(world.chain, made.transaction_hash, TraceOptions()).struct_logs
    assert [s.op for s in steps][-2:] == ["CREATE2", "STOP"]
    assert steps[-1].pc == len(create2)  # the implicit STOP past the end, as geth logs it


# -- the struct logger --------------------------------------------------------------------------------


def test_struct_logger_steps(world):
    (receipt,) = world.mine(world.run())
    trace = trace_transaction(world.chain, receipt.transaction_hash, TraceOptions())
    assert isinstance(trace, StructTrace)
    assert (trace.gas, trace.failed) == (receipt.gas_used, False)
    assert decode(["uint256"], trace.return_value) == (42,)

    steps = trace.struct_logs
    intrinsic = world.run().intrinsic_gas
    assert (steps[0].pc, steps[0].op, steps[0].depth, steps[0].stack) == (0, "PUSH1", 1, [])
    assert steps[0].gas == RUN_GAS - intrinsic
    assert steps[0].memory is None and steps[0].return_data is None
    for step, following in zip(steps, steps[1:], strict=False):
        if following.depth == step.depth:
            assert following.gas == step.gas - step.gas_cost, step
    # Each frame entered shows up as a step one level deeper, with the gas geth hands it.
    frames = trace_transaction(world.chain, receipt.transaction_hash, call_tracer()).calls
    entries = [
        (step.op, following.gas)
        for step, following in zip(steps, steps[1:], strict=False)
        if following.depth == step.depth + 1
    ]
    assert entries == [(f.type, f.gas) for f in frames]
    for step in steps:
        if step.op in ("CALL", "STATICCALL", "DELEGATECALL"):
            frame = frames.pop(0)
            # geth counts the callee's gas (without the value stipend) in the CALL's cost.
            stipend = 2300 if step.op == "CALL" and frame.value else 0
            assert step.gas_cost > frame.gas - stipend
    sstores = [s for s in steps if s.op == "SSTORE"]
    assert [s.depth for s in sstores] == [2, 2]  # Callee.value, then Nested.total via Adder
    # The contract's slots seen so far in the transaction, as geth keeps them.
    assert sstores[1].storage == {
        0: 42,
        1: int.from_bytes(world.callee, "big"),
        2: int.from_bytes(world.adder, "big"),
    }
    sloads = [s for s in steps if s.op == "SLOAD" and s.depth == 1]
    assert sloads[0].storage == {1: int.from_bytes(world.callee, "big")}
    assert steps[-1].op == "RETURN" and steps[-1].error is None


def test_struct_logger_options_and_a_failed_transaction(world):
    (receipt,) = world.mine(world.tx(world.nested, data("failDeep()")))
    tx_hash = receipt.transaction_hash
    trace = trace_transaction(
        world.chain, tx_hash, TraceOptions(enable_memory=True, enable_return_data=True)
    )
    assert trace.failed and trace.return_value == error_data(CALLEE_SAYS_NO)
    assert trace.struct_logs[-1].op == "REVERT" and trace.struct_logs[-1].depth == 1
    assert trace.struct_logs[-1].return_data == error_data(CALLEE_SAYS_NO)
    assert all(len(s.memory) % 32 == 0 for s in trace.struct_logs)
    assert trace.struct_logs[3].memory[64:96] == (0x80).to_bytes(32, "big")  # free pointer
    bare = trace_transaction(
        world.chain, tx_hash, TraceOptions(disable_stack=True, disable_storage=True, limit=20)
    )
    assert len(bare.struct_logs) == 20
    assert all(s.stack is None and s.storage is None for s in bare.struct_logs)


def test_struct_logger_refund_counter(chain, dev_accounts, txs):
    counter = load("Counter")
    key = dev_accounts[1].private_key
    init = bytes.fromhex(counter.deploy_data(["uint256"], [5])[2:])
    (deployed,) = chain.build_block([txs.create(key, 0, init, gas=500_000)]).receipts
    clear = txs.dynamic(
        key,
        1,
        to=deployed.contract_address,
        data=data("setNumber(uint256)", ["uint256"], [0]),
        gas=100_000,
    )
    (receipt,) = chain.build_block([clear], timestamp=chain.head.timestamp + 12).receipts
    steps = trace_transaction(chain, receipt.transaction_hash, TraceOptions()).struct_logs
    index = next(i for i, s in enumerate(steps) if s.op == "SSTORE")
    assert steps[index].refund == 0
    assert steps[index + 1].refund == 4800  # EIP-3529: clearing a slot
    assert steps[-1].refund == 4800


# -- prestateTracer -----------------------------------------------------------------------------------


def test_prestate_lists_touched_accounts_as_they_were(world):
    parent = world.chain.head
    (receipt,) = world.mine(world.run())
    trace = trace_transaction(world.chain, receipt.transaction_hash, prestate())
    assert isinstance(trace, PrestateTrace) and trace.post is None
    pre = trace.pre
    assert set(pre) == {world.sender, world.nested, world.callee, world.adder, ZERO_ADDRESS}
    for address, account in pre.items():
        assert account.balance == world.chain.balance(address, parent)
        assert account.nonce == world.chain.nonce(address, parent)
        assert account.code == world.chain.code(address, parent)
    assert pre[world.nested].storage == {
        0: 0,  # read through Adder's code by DELEGATECALL
        1: int.from_bytes(world.callee, "big"),
        2: int.from_bytes(world.adder, "big"),
    }
    assert pre[world.callee].storage == {0: 0}
    assert pre[world.adder].storage == {}


def test_prestate_diff_mode(world):
    parent = world.chain.head
    (receipt,) = world.mine(world.run(21, value=5))
    trace = trace_transaction(world.chain, receipt.transaction_hash, prestate(diff_mode=True))
    head = world.chain.head
    assert set(trace.post) == {world.sender, world.nested, world.callee, ZERO_ADDRESS}
    assert set(trace.pre) == set(trace.post)  # Adder's own account did not change
    sender = trace.post[world.sender]
    assert (sender.balance, sender.nonce) == (world.chain.balance(world.sender, head), 2)
    assert trace.pre[world.sender].balance == world.chain.balance(world.sender, parent)
    assert trace.post[world.callee].balance == 5
    assert trace.post[world.callee].storage == {0: 21}
    assert trace.post[world.nested].balance is None  # unchanged fields are left out
    assert trace.post[world.nested].storage == {0: 42}
    assert trace.pre[world.nested].storage == {}  # zero slots are left out of a diff's pre


def test_prestate_of_a_creation_leaves_out_what_it_created(world):
    trace = trace_transaction(world.chain, world.deploy.transaction_hash, prestate())
    assert set(trace.pre) == {world.sender, ZERO_ADDRESS}
    diff = trace_transaction(world.chain, world.deploy.transaction_hash, prestate(diff_mode=True))
    assert {world.nested, world.callee, world.adder} <= set(diff.post)
    assert diff.post[world.nested].code == world.chain.code(world.nested, world.chain.head)
    assert diff.post[world.nested].nonce == 3  # EIP-161 start at 1, then two CREATEs


# -- replaying blocks ---------------------------------------------------------------------------------


def test_a_transaction_is_replayed_after_those_before_it_in_its_block(world):
    first, second = world.mine(world.run(21), world.run(22))
    pre = trace_transaction(world.chain, second.transaction_hash, prestate()).pre
    assert pre[world.nested].storage[0] == 42  # what the first transaction left
    root = trace_transaction(world.chain, second.transaction_hash, call_tracer(with_log=True))
    assert decode(["uint256"], root.output) == (42 + 44,)
    assert root.gas_used == second.gas_used
    assert [log.index for log in root.calls[0].logs + root.logs] == [0, 1]  # within the tx

    header = world.chain.header_by_hash(second.block_hash)
    traces = trace_block(world.chain, header, call_tracer())
    assert [tx_hash for tx_hash, _ in traces] == [first.transaction_hash, second.transaction_hash]
    assert [result.gas_used for _, result in traces] == [first.gas_used, second.gas_used]
    assert traces[1][1].output == root.output


@pytest.mark.parametrize("delayed", [True, False])
def test_replay_starts_from_the_parents_post_state(genesis, dev_accounts, txs, delayed):
    chain = Chain(genesis.with_overrides(delayed_state_root=delayed))
    world = World(chain, dev_accounts[0].private_key, txs)
    (receipt,) = world.mine(world.run())
    header = chain.header_by_hash(receipt.block_hash)
    assert (header.state_root == chain.state_root_after(chain.header_by_number(1))) is delayed
    trace = trace_transaction(chain, receipt.transaction_hash, TraceOptions())
    assert (trace.gas, trace.failed) == (receipt.gas_used, False)


def test_tracing_changes_nothing(world):
    (receipt,) = world.mine(world.run())
    head = world.chain.head
    root = world.chain.state_root_after(head)
    first = trace_transaction(world.chain, receipt.transaction_hash, prestate(diff_mode=True))
    again = trace_transaction(world.chain, receipt.transaction_hash, prestate(diff_mode=True))
    assert first == again
    assert world.chain.head == head and world.chain.state_root_after(head) == root
    assert world.chain.storage(world.nested, 0, head) == 42


def test_what_cannot_be_traced(world):
    with pytest.raises(NotTraceable, match="transaction not found"):
        trace_transaction(world.chain, b"\x01" * 32, TraceOptions())
    with pytest.raises(NotTraceable, match="genesis"):
        trace_block(world.chain, world.chain.header_by_number(0), TraceOptions())
    with pytest.raises(UnknownTracer, match="callTracer"):
        TraceOptions(tracer="4byteTracer")


# -- debug_traceCall ----------------------------------------------------------------------------------


def test_trace_call_is_an_eth_call(world):
    request = CallRequest(
        sender=world.sender, to=world.nested, data=data("run(uint256)", ["uint256"], [3])
    )
    head = world.chain.head
    call = world.chain.call(request, head)
    root = trace_call(world.chain, request, head, call_tracer())
    assert (root.gas, root.gas_used, root.output) == (head.gas_limit, call.gas_used, call.output)
    assert [c.type for c in root.calls] == ["CALL", "CALL", "DELEGATECALL", "STATICCALL"]
    steps = trace_call(world.chain, request, head, TraceOptions())
    assert (steps.gas, steps.return_value) == (call.gas_used, call.output)
    assert world.chain.storage(world.nested, 0, head) == 0  # nothing was committed


def test_trace_call_sees_state_overrides(world):
    rich = b"\x77" * 20
    request = CallRequest(
        sender=rich,
        to=world.nested,
        value=9,
        data=data("run(uint256)", ["uint256"], [1]),
        max_fee_per_gas=10**10,
        state_overrides=((rich, AccountOverride(balance=10**18)),),
    )
    trace = trace_call(world.chain, request, world.chain.head, prestate())
    assert trace.pre[rich].balance == 10**18
    assert trace.pre[world.callee].balance == 0


# -- rpc.trace: the config and geth's JSON --------------------------------------------------------------


def test_trace_config_parsing():
    assert rpc_trace.trace_options({}) == TraceOptions()
    assert rpc_trace.trace_options(
        {"enableMemory": True, "disableStack": True, "limit": 5, "timeout": "10s"}
    ) == TraceOptions(enable_memory=True, disable_stack=True, limit=5, timeout=10.0)
    assert rpc_trace.trace_options(
        {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True, "withLog": True}}
    ) == call_tracer(only_top_call=True, with_log=True)
    assert rpc_trace.trace_options(
        {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True, "disableStorage": True}}
    ) == prestate(diff_mode=True, disable_storage=True)
    with pytest.raises(InvalidParams, match="unknown tracer 'nope'"):
        rpc_trace.trace_options({"tracer": "nope"})
    with pytest.raises(InvalidParams):
        rpc_trace.trace_options({"tracer": "callTracer", "tracerConfig": {"withLog": "yes"}})


def test_json_shapes_are_geths(world):
    (receipt,) = world.mine(world.run())
    tx_hash = receipt.transaction_hash
    options = TraceOptions(enable_memory=True)
    steps = rpc_trace.trace_json(trace_transaction(world.chain, tx_hash, options))
    assert set(steps) == {"gas", "failed", "returnValue", "structLogs"}
    assert steps["returnValue"] == "0x" + (42).to_bytes(32, "big").hex()
    first, second = steps["structLogs"][:2]
    assert first == {
        "pc": 0,
        "op": "PUSH1",
        "gas": first["gas"],
        "gasCost": 3,
        "depth": 1,
        "stack": [],
    }  # no memory yet, no refund: both left out
    assert second["stack"] == ["0x80"]
    memory_step = steps["structLogs"][3]
    assert memory_step["memory"][2] == "00" * 31 + "80"  # 32-byte words, no 0x
    store = next(s for s in steps["structLogs"] if s["op"] == "SSTORE")
    assert store["storage"] == {"00" * 32: "00" * 31 + "15"}

    frame = rpc_trace.trace_json(trace_transaction(world.chain, tx_hash, call_tracer()))
    assert list(frame) == [
        "from",
        "gas",
        "gasUsed",
        "to",
        "input",
        "output",
        "calls",
        "value",
        "type",
    ]
    assert frame["gas"] == hex(RUN_GAS) and frame["value"] == "0x5"
    assert "value" not in frame["calls"][3]  # STATICCALL
    assert frame["calls"][1]["revertReason"] == CALLEE_SAYS_NO

    pre = rpc_trace.trace_json(trace_transaction(world.chain, tx_hash, prestate()))
    assert list(pre) == sorted(pre)
    nested = pre["0x" + world.nested.hex()]
    assert nested["nonce"] == 3 and nested["balance"] == "0x0"
    assert nested["storage"]["0x" + "00" * 31 + "01"] == "0x" + world.callee.rjust(32, b"\0").hex()
    assert "code" not in pre["0x" + ZERO_ADDRESS.hex()] and "nonce" not in pre["0x" + "00" * 20]
    diff = rpc_trace.trace_json(trace_transaction(world.chain, tx_hash, prestate(diff_mode=True)))
    assert list(diff) == ["post", "pre"]
