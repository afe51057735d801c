"""``eth_simulateV1`` semantics (geth's ``internal/ethapi/simulate.go`` and the execution-apis
spec tests): simulated blocks on the head, chained calls, nonce auto-fill, overrides,
validation errors with the spec's codes, ``traceTransfers``, block numbering, limits, and
that nothing persists. Plus the eth_call/eth_estimateGas gas defaults after
``evm_setBlockGasLimit`` (the next block's limit, not the head's).
"""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from node.devnet import Devnet, MiningConfig, MiningMode
from node.genesis import DEFAULT_L2_GENESIS, load_genesis
from node.simulate_v1 import MAX_SIMULATE_CALLS
from node.simulator import SimulationLimits
from rpc.server import RpcServer

C0 = "0xc000000000000000000000000000000000000000"
C1 = "0xc100000000000000000000000000000000000000"
C2 = "0xc200000000000000000000000000000000000000"
EEEE = "0x" + "ee" * 20
TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()

# slot0 += 1; return slot0
COUNTER = "0x6000546001018060005560005260206000f3"
# LOG1(topic 1, calldata); stop
LOGGER = "0x3660006000376001366000a100"
# CALL(gas, C2, callvalue, 0, 0, 0, 0); stop
FORWARDER = "0x" + "6000600060006000" + "34" + "73" + "c2" + "00" * 19 + "5af100"
REVERTER = "0x60006000fd"
INVALID = "0xfe"
# return (NUMBER, TIMESTAMP, COINBASE, BASEFEE)
BLOCK_INFO = "0x" + "4360005242602052416040524860605260806000f3"
# return BLOCKHASH(NUMBER - 1)
PARENT_HASH = "0x" + "600143034060005260206000f3"
# return GAS
GAS_LEFT = "0x" + "5a60005260206000f3"
LOOP = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def words(data: str) -> list[int]:
    raw = bytes.fromhex(data[2:])
    return [int.from_bytes(raw[i : i + 32], "big") for i in range(0, len(raw), 32)]


async def answer(server: RpcServer, method: str, *params) -> dict:
    return await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )


async def result(server: RpcServer, method: str, *params):
    response = await answer(server, method, *params)
    assert "error" not in response, response
    return response["result"]


async def error(server: RpcServer, method: str, *params) -> dict:
    response = await answer(server, method, *params)
    assert "error" in response, response
    return response["error"]


async def simulate(server: RpcServer, blocks: list, block="latest", **flags):
    return await result(server, "eth_simulateV1", {"blockStateCalls": blocks, **flags}, block)


async def simulate_error(server: RpcServer, blocks: list, **flags) -> dict:
    return await error(server, "eth_simulateV1", {"blockStateCalls": blocks, **flags}, "latest")


def code_at(address: str, code: str) -> dict:
    return {address: {"code": code}}


@pytest.fixture
def me(dev_accounts) -> str:
    return "0x" + dev_accounts[0].address.hex()


# -- shape and numbering --------------------------------------------------------------------


async def test_blocks_follow_the_head_with_geths_fields(server, devnet):
    await result(server, "evm_mine")
    head = await result(server, "eth_getBlockByNumber", "latest", False)
    blocks = await simulate(
        server,
        [
            {
                "stateOverrides": {C0: {"balance": "0x7d0"}},
                "calls": [{"from": C0, "to": C1, "value": "0x3e8"}],
            },
            {"calls": [{"from": C1, "to": C2, "value": "0x1"}]},
        ],
    )
    assert [int(b["number"], 16) for b in blocks] == [
        int(head["number"], 16) + 1,
        int(head["number"], 16) + 2,
    ]
    assert [int(b["timestamp"], 16) for b in blocks] == [
        int(head["timestamp"], 16) + 12,
        int(head["timestamp"], 16) + 24,
    ]
    assert blocks[0]["parentHash"] == head["hash"]
    assert blocks[1]["parentHash"] == blocks[0]["hash"]
    first = blocks[0]
    for key in (
        "hash",
        "parentHash",
        "stateRoot",
        "transactionsRoot",
        "receiptsRoot",
        "logsBloom",
        "miner",
        "gasLimit",
        "gasUsed",
        "baseFeePerGas",
        "withdrawalsRoot",
        "withdrawals",
        "blobGasUsed",
        "excessBlobGas",
        "parentBeaconBlockRoot",
        "requestsHash",
        "size",
        "uncles",
        "transactions",
        "calls",
    ):
        assert key in first, key
    assert first["baseFeePerGas"] == "0x0"  # no validation: geth's base fee 0
    assert first["gasUsed"] == hex(21_000)
    assert len(first["transactions"]) == 1 and first["transactions"][0].startswith("0x")
    assert first["calls"] == [
        {
            "returnData": "0x",
            "logs": [],
            "gasUsed": "0x5208",
            "maxUsedGas": "0x5208",
            "status": "0x1",
        }
    ]
    assert blocks[0]["stateRoot"] != blocks[1]["stateRoot"]


async def test_the_same_request_gives_the_same_blocks(server):
    request = [{"calls": [{"from": C0, "to": C1}]}]
    assert await simulate(server, request) == await simulate(server, request)


async def test_a_gap_in_numbers_is_filled_with_empty_blocks(server, devnet):
    base = devnet.head.block_number
    blocks = await simulate(
        server, [{"blockOverrides": {"number": hex(base + 4)}, "calls": [{"from": C0, "to": C1}]}]
    )
    assert [int(b["number"], 16) for b in blocks] == [base + 1, base + 2, base + 3, base + 4]
    assert [len(b["calls"]) for b in blocks] == [0, 0, 0, 1]
    assert [b["transactions"] for b in blocks[:3]] == [[], [], []]
    times = [int(b["timestamp"], 16) for b in blocks]
    assert times == [devnet.head.timestamp + 12 * i for i in (1, 2, 3, 4)]


async def test_block_overrides_reach_the_code(server, devnet):
    base = devnet.head
    blocks = await simulate(
        server,
        [
            {
                "blockOverrides": {
                    "number": hex(base.block_number + 2),
                    "time": hex(base.timestamp + 1000),
                    "feeRecipient": C2,
                    "baseFeePerGas": "0x7",
                    "gasLimit": hex(5_000_000),
                },
                "stateOverrides": code_at(C1, BLOCK_INFO),
                "calls": [{"from": C0, "to": C1}],
            }
        ],
    )
    last = blocks[-1]
    number, timestamp, coinbase, base_fee = words(last["calls"][0]["returnData"])
    assert number == base.block_number + 2 == int(last["number"], 16)
    assert timestamp == base.timestamp + 1000 == int(last["timestamp"], 16)
    assert coinbase == int(C2, 16) and last["miner"] == C2
    assert last["baseFeePerGas"] == "0x7"
    assert base_fee == 0  # a call naming no fee runs with BASEFEE 0 without validation (geth)
    assert last["gasLimit"] == hex(5_000_000)


async def test_blockhash_sees_the_earlier_simulated_blocks(server):
    blocks = await simulate(
        server,
        [
            {"stateOverrides": code_at(C1, PARENT_HASH), "calls": [{"from": C0, "to": C1}]},
            {"calls": [{"from": C0, "to": C1}]},
        ],
    )
    assert blocks[1]["calls"][0]["returnData"] == blocks[0]["hash"]
    head = await result(server, "eth_getBlockByNumber", "latest", False)
    assert blocks[0]["calls"][0]["returnData"] == head["hash"]


async def test_numbers_and_timestamps_must_rise(server, devnet):
    base = devnet.head
    err = await simulate_error(
        server,
        [
            {"blockOverrides": {"number": hex(base.block_number + 5)}},
            {"blockOverrides": {"number": hex(base.block_number + 3)}},
        ],
    )
    assert err["code"] == -38020, err
    assert err["message"] == (
        f"block numbers must be in order: {base.block_number + 3} <= {base.block_number + 5}"
    )
    err = await simulate_error(server, [{"blockOverrides": {"number": hex(base.block_number)}}])
    assert err["code"] == -38020, err
    err = await simulate_error(
        server,
        [
            {"blockOverrides": {"time": hex(base.timestamp + 100)}},
            {"blockOverrides": {"time": hex(base.timestamp + 100)}},
        ],
    )
    assert err["code"] == -38021, err
    assert "block timestamps must be in order" in err["message"]
    late = {"blockOverrides": {"time": hex(2**64 - 5)}}
    err = await simulate_error(
        server, [late, {"blockOverrides": {"number": hex(base.block_number + 3)}}]
    )
    assert err == {"code": -38021, "message": f"block timestamp {2**64 - 5 + 12} exceeds 2^64-1"}


# -- chained state, nonces, nothing persists ----------------------------------------------


async def test_calls_see_the_state_of_earlier_calls_and_blocks(server):
    blocks = await simulate(
        server,
        [
            {
                "stateOverrides": code_at(C1, COUNTER),
                "calls": [{"from": C0, "to": C1}, {"from": C0, "to": C1}],
            },
            {"calls": [{"from": C0, "to": C1}]},
        ],
    )
    outputs = [int(c["returnData"], 16) for b in blocks for c in b["calls"]]
    assert outputs == [1, 2, 3]


async def test_a_contract_created_by_one_call_serves_the_next(server):
    runtime = bytes.fromhex(COUNTER[2:])
    initcode = bytes(
        [0x60, len(runtime), 0x60, 12, 0x60, 0, 0x39, 0x60, len(runtime), 0x60, 0, 0xF3]
    )
    created = "0x" + keccak(bytes([0xD6, 0x94]) + bytes.fromhex(C0[2:]) + b"\x80")[12:].hex()
    blocks = await simulate(
        server,
        [
            {
                "calls": [
                    {"from": C0, "input": "0x" + (initcode + runtime).hex()},
                    {"from": C0, "to": created},
                ]
            }
        ],
    )
    deployed, called = blocks[0]["calls"]
    assert deployed["status"] == "0x1" and deployed["returnData"] == COUNTER
    assert int(called["returnData"], 16) == 1


async def test_state_overrides_apply_before_the_blocks_calls(server):
    blocks = await simulate(
        server,
        [
            {"stateOverrides": code_at(C1, COUNTER), "calls": [{"from": C0, "to": C1}]},
            {
                "stateOverrides": {C1: {"stateDiff": {"0x0": word(41)}}},
                "calls": [{"from": C0, "to": C1}],
            },
        ],
    )
    assert [int(b["calls"][0]["returnData"], 16) for b in blocks] == [1, 42]


async def test_nonces_are_filled_per_sender_across_calls_and_blocks(server, me):
    blocks = await simulate(
        server,
        [
            {"calls": [{"from": me, "to": C1}, {"from": me, "to": C1}, {"from": C0, "to": C1}]},
            {"calls": [{"from": me, "to": C1}]},
        ],
        returnFullTransactions=True,
    )
    txs = [tx for b in blocks for tx in b["transactions"]]
    assert [(tx["from"], tx["nonce"]) for tx in txs] == [
        (me, "0x0"),
        (me, "0x1"),
        (C0, "0x0"),
        (me, "0x2"),
    ]
    assert txs[0]["blockHash"] == blocks[0]["hash"] and txs[3]["blockNumber"] == blocks[1]["number"]


async def test_default_gas_is_what_the_block_has_left(server, devnet):
    blocks = await simulate(
        server,
        [{"calls": [{"from": C0, "to": C1}, {"from": C0, "to": C1}]}],
        returnFullTransactions=True,
    )
    limit = devnet.head.gas_limit
    assert [int(tx["gas"], 16) for tx in blocks[0]["transactions"]] == [limit, limit - 21_000]


async def test_nothing_persists(server, devnet, me):
    head = await result(server, "eth_getBlockByNumber", "latest", False)
    balance = await result(server, "eth_getBalance", me, "latest")
    stored = devnet.chain.db.wrapped_db.items()  # the chain's whole database
    await simulate(
        server,
        [
            {
                "stateOverrides": {**code_at(C1, COUNTER), C0: {"balance": hex(10**18)}},
                "calls": [{"from": me, "to": C2, "value": hex(10**18)}, {"from": C0, "to": C1}],
            }
        ]
        * 3,
        validation=False,
    )
    assert await result(server, "eth_getBlockByNumber", "latest", False) == head
    assert await result(server, "eth_getBalance", me, "latest") == balance
    assert await result(server, "eth_getTransactionCount", me, "pending") == "0x0"
    assert await result(server, "eth_getCode", C1, "latest") == "0x"
    assert await result(server, "eth_getBalance", C2, "latest") == "0x0"
    assert await result(server, "eth_getBalance", C0, "latest") == "0x0"
    assert (await result(server, "txpool_status"))["pending"] == "0x0"
    assert devnet.chain.db.wrapped_db.items() == stored  # not one key written


async def test_a_past_block_is_a_base(server, devnet, me):
    await result(server, "eth_sendTransaction", {"from": me, "to": C2, "value": "0x5"})
    await result(server, "evm_mine")
    blocks = await simulate(
        server, [{"calls": [{"from": me, "to": C2}]}], "0x0", returnFullTransactions=True
    )
    assert blocks[0]["number"] == "0x1"
    assert blocks[0]["transactions"][0]["nonce"] == "0x0"  # the nonce at block 0
    err = await error(server, "eth_simulateV1", {"blockStateCalls": [{}]}, "0x99")
    assert err["message"] == "header not found"


# -- validation ---------------------------------------------------------------------------


async def test_without_validation_nonces_and_fees_are_not_checked(server, me):
    blocks = await simulate(
        server,
        [
            {
                "calls": [
                    {"from": me, "to": C1, "nonce": "0x64"},
                    {"from": me, "to": C1, "nonce": "0x0"},
                ]
            }
        ],
    )
    assert [c["status"] for c in blocks[0]["calls"]] == ["0x1", "0x1"]
    assert blocks[0]["baseFeePerGas"] == "0x0"


async def test_the_value_is_checked_even_without_validation(server):
    err = await simulate_error(server, [{"calls": [{"from": C0, "to": C1, "value": "0x3e8"}]}])
    assert err["code"] == -38014, err
    assert err["message"].startswith(
        "err: insufficient funds for gas * price + value: address "
        "0xC000000000000000000000000000000000000000 have 0 want 1000"
    ), err


async def test_validation_errors_carry_the_spec_codes(server, devnet, me):
    fee = hex(10**10)
    ok = {"from": me, "to": C1, "maxFeePerGas": fee, "maxPriorityFeePerGas": "0x0"}
    blocks = await simulate(
        server, [{"calls": [ok, ok]}], validation=True, returnFullTransactions=True
    )
    assert int(blocks[0]["baseFeePerGas"], 16) == devnet.chain.next_base_fee(devnet.head)
    assert [tx["nonce"] for tx in blocks[0]["transactions"]] == ["0x0", "0x1"]
    cases = [
        ({**ok, "nonce": "0x1"}, -38011, "err: nonce too high: address"),
        ({**ok, "maxFeePerGas": "0x1"}, -38012, "err: max fee per gas less than block base fee"),
        ({**ok, "gas": "0x5207"}, -38013, "err: intrinsic gas too low: have 20999, want 21000"),
        ({**ok, "from": C0}, -38014, "err: insufficient funds for gas * price + value"),
        ({"from": me, "to": C1}, -38012, "err: max fee per gas less than block base fee"),
        (
            {**ok, "maxPriorityFeePerGas": hex(10**11)},
            -32602,
            "err: max priority fee per gas higher than max fee per gas",
        ),
    ]
    for call, code, start in cases:
        err = await simulate_error(server, [{"calls": [call]}], validation=True)
        assert err["code"] == code, (call, err)
        assert err["message"].startswith(start), (call, err)
    err = await simulate_error(
        server,
        [{"stateOverrides": {me: {"nonce": "0x5"}}, "calls": [{**ok, "nonce": "0x4"}]}],
        validation=True,
    )
    assert err["code"] == -38010, err
    assert "nonce too low" in err["message"] and "tx: 4 state: 5" in err["message"], err


async def test_a_call_beyond_the_block_gas_is_refused(server):
    err = await simulate_error(
        server,
        [
            {
                "blockOverrides": {"gasLimit": hex(50_000)},
                "calls": [{"from": C0, "to": C1}, {"from": C0, "to": C1, "gas": hex(30_000)}],
            }
        ],
    )
    assert err["code"] == -38015, err
    assert err["message"] == "block gas limit reached: 21000 >= 50000"


async def test_a_failing_call_is_answered_in_its_result(server):
    blocks = await simulate(
        server,
        [
            {
                "stateOverrides": {**code_at(C1, REVERTER), **code_at(C2, INVALID)},
                "calls": [{"from": C0, "to": C1}, {"from": C0, "to": C2}],
            }
        ],
    )
    reverted, halted = blocks[0]["calls"]
    assert reverted["status"] == "0x0"
    assert reverted["error"] == {"message": "execution reverted", "code": -32000, "data": "0x"}
    assert halted["status"] == "0x0"
    assert halted["error"]["code"] == -32015
    assert halted["error"]["message"].startswith("invalid opcode"), halted


# -- traceTransfers ---------------------------------------------------------------------


def transfer(sender: str, recipient: str, value: int) -> tuple:
    return (EEEE, TRANSFER_TOPIC, word(int(sender, 16)), word(int(recipient, 16)), word(value))


def as_transfer(log: dict) -> tuple:
    return (log["address"], *log["topics"], log["data"])


async def test_trace_transfers_logs_every_ether_transfer_in_order(server):
    blocks = await simulate(
        server,
        [
            {
                "stateOverrides": {C0: {"balance": hex(10**18)}, **code_at(C1, FORWARDER)},
                "calls": [
                    {"from": C0, "to": C2, "value": "0x3e8"},
                    {"from": C0, "to": C1, "value": "0x7"},
                ],
            }
        ],
        traceTransfers=True,
    )
    direct, forwarded = blocks[0]["calls"]
    assert [as_transfer(log) for log in direct["logs"]] == [transfer(C0, C2, 1000)]
    assert [as_transfer(log) for log in forwarded["logs"]] == [
        transfer(C0, C1, 7),
        transfer(C1, C2, 7),
    ]
    log = forwarded["logs"][1]
    assert log["blockHash"] == blocks[0]["hash"]
    assert log["transactionHash"] == blocks[0]["transactions"][1]
    assert (log["logIndex"], log["transactionIndex"]) == ("0x2", "0x1")
    assert log["removed"] is False
    assert int(blocks[0]["logsBloom"], 16) != 0


async def test_transfer_logs_sort_with_real_logs_and_go_with_a_revert(server):
    blocks = await simulate(
        server,
        [
            {
                "stateOverrides": {
                    C0: {"balance": hex(10**18)},
                    **code_at(C1, LOGGER),
                    **code_at(C2, REVERTER),
                },
                "calls": [
                    {"from": C0, "to": C1, "value": "0x1", "input": "0xabcd"},
                    {"from": C0, "to": C2, "value": "0x1"},
                ],
            }
        ],
        traceTransfers=True,
    )
    logged, reverted = blocks[0]["calls"]
    assert [log["address"] for log in logged["logs"]] == [EEEE, C1]
    assert logged["logs"][1]["topics"] == [word(1)] and logged["logs"][1]["data"] == "0xabcd"
    assert reverted["logs"] == [] and reverted["status"] == "0x0"


async def test_selfdestruct_logs_the_balance_it_sends(server):
    destroyer = "0x73" + C2[2:] + "ff"  # SELFDESTRUCT(C2)
    blocks = await simulate(
        server,
        [
            {
                "stateOverrides": {C1: {"code": destroyer, "balance": "0x1e8480"}},
                "calls": [{"from": C0, "to": C1}],
            }
        ],
        traceTransfers=True,
    )
    (call,) = blocks[0]["calls"]
    assert [as_transfer(log) for log in call["logs"]] == [transfer(C1, C2, 0x1E8480)]


async def test_no_transfer_logs_unless_asked(server):
    blocks = await simulate(
        server,
        [
            {
                "stateOverrides": {C0: {"balance": "0x10"}},
                "calls": [{"from": C0, "to": C2, "value": "0x1"}],
            }
        ],
    )
    assert blocks[0]["calls"][0]["logs"] == []


# -- parameters and limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    "options,message",
    [
        ({"blockStateCalls": []}, "empty input"),
        ({}, "simulateOptions.blockStateCalls: expected a list"),
        ({"blockStateCalls": [{}], "extra": 1}, "simulateOptions: unknown field 'extra'"),
        ({"blockStateCalls": [{"call": []}]}, "unknown field 'call'"),
        ({"blockStateCalls": [{"calls": [{"form": C0}]}]}, "unknown field 'form'"),
        ({"blockStateCalls": [{"blockOverrides": {"numbr": "0x1"}}]}, "unknown field 'numbr'"),
        (
            {"blockStateCalls": [{"stateOverrides": {C1: {"movePrecompileToAddress": C2}}}]},
            "movePrecompileToAddress: moving precompiles is not supported by this node",
        ),
        (
            {
                "blockStateCalls": [
                    {"calls": [{"from": C0, "gasPrice": "0x1", "maxFeePerGas": "0x1"}]}
                ]
            },
            "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified",
        ),
        (
            {"blockStateCalls": [{"calls": [{"from": C0, "chainId": "0x1"}]}]},
            "chainId does not match",
        ),
        ({"blockStateCalls": [{}], "validation": "yes"}, "simulateOptions.validation"),
        ({"blockStateCalls": [{"calls": [{"blobVersionedHashes": []}]}]}, "blob transactions"),
    ],
)
async def test_bad_parameters_are_refused_by_name(server, options, message):
    err = await error(server, "eth_simulateV1", options, "latest")
    assert err["code"] == -32602, err
    assert message in err["message"], err


async def test_at_most_256_blocks(server, devnet):
    base = devnet.head.block_number
    blocks = await simulate(server, [{"blockOverrides": {"number": hex(base + 256)}}])
    assert len(blocks) == 256
    err = await simulate_error(server, [{"blockOverrides": {"number": hex(base + 257)}}])
    assert err == {"code": -38026, "message": "too many blocks"}
    err = await simulate_error(server, [{}] * 257)
    assert err == {"code": -38026, "message": "too many blocks"}


async def test_calls_in_one_request_are_bounded(server):
    call = {"from": C0, "to": C1, "gas": hex(21_000)}
    err = await simulate_error(
        server, [{"calls": [call] * (MAX_SIMULATE_CALLS // 2)}] * 2 + [{"calls": [call]}]
    )
    assert err["code"] == -38026, err
    assert str(MAX_SIMULATE_CALLS) in err["message"]


async def test_a_simulation_stops_at_the_call_deadline(genesis, dev_accounts):
    node = Devnet(
        genesis, dev_accounts, MiningConfig(MiningMode.MANUAL), limits=SimulationLimits(timeout=0.3)
    )
    try:
        err = await simulate_error(
            RpcServer(node),
            [{"stateOverrides": code_at(C1, LOOP), "calls": [{"from": C0, "to": C1}]}],
        )
        assert err == {"code": -32000, "message": "execution aborted (timeout = 300ms)"}
    finally:
        await node.stop()


async def test_all_calls_share_the_gas_cap(genesis, dev_accounts):
    node = Devnet(
        genesis,
        dev_accounts,
        MiningConfig(MiningMode.MANUAL),
        limits=SimulationLimits(gas_cap=100_000),
    )
    try:
        blocks = await simulate(
            RpcServer(node),
            [{"calls": [{"from": C0, "to": C1}] * 2}],
            returnFullTransactions=True,
        )
        assert [int(tx["gas"], 16) for tx in blocks[0]["transactions"]] == [100_000, 79_000]
    finally:
        await node.stop()


async def test_the_l2_simulates_too(dev_accounts):
    genesis = load_genesis(DEFAULT_L2_GENESIS)
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    try:
        blocks = await simulate(
            RpcServer(node),
            [{"stateOverrides": code_at(C1, COUNTER), "calls": [{"from": C0, "to": C1}] * 2}],
        )
        assert [int(c["returnData"], 16) for c in blocks[0]["calls"]] == [1, 2]
    finally:
        await node.stop()


# -- the next block's gas limit (evm_setBlockGasLimit) ----------------------------------


async def test_call_defaults_follow_the_chosen_gas_limit(server, devnet, me):
    call, overrides = {"from": me, "to": C1}, code_at(C1, GAS_LEFT)
    head_limit = devnet.head.gas_limit
    assert head_limit < 40_000_000 < devnet.limits.gas_cap
    before = int(await result(server, "eth_call", call, "latest", overrides), 16)
    assert 100_000 < before < head_limit
    await result(server, "evm_setBlockGasLimit", hex(100_000))
    assert int(await result(server, "eth_call", call, "latest", overrides), 16) < 100_000
    await result(server, "evm_setBlockGasLimit", hex(40_000_000))
    assert int(await result(server, "eth_call", call, "latest", overrides), 16) > head_limit
    # an explicit block override still wins
    pinned = int(
        await result(server, "eth_call", call, "latest", overrides, {"gasLimit": hex(60_000)}), 16
    )
    assert pinned < 60_000


async def test_estimate_gas_searches_no_higher_than_the_chosen_gas_limit(server, me):
    store = {"from": me, "to": C1}
    overrides = code_at(C1, "0x6001600055")  # SSTORE(0, 1): about 43 000 gas
    assert int(await result(server, "eth_estimateGas", store, "latest", overrides), 16) > 40_000
    await result(server, "evm_setBlockGasLimit", hex(25_000))
    err = await error(server, "eth_estimateGas", store, "latest", overrides)
    assert err["message"] == "gas required exceeds allowance (25000)", err


async def test_simulated_blocks_start_from_the_chosen_gas_limit(server):
    await result(server, "evm_setBlockGasLimit", hex(25_000))
    blocks = await simulate(server, [{"calls": [{"from": C0, "to": C1}]}, {}])
    assert [b["gasLimit"] for b in blocks] == [hex(25_000)] * 2
