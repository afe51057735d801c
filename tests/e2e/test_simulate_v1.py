"""``eth_simulateV1`` through a real node process with web3.py's raw ``make_request``, its
answers checked field by field against anvil 1.7.1's answers to the same requests (anvil
implements the method; where both answer, every key anvil gives — block objects, call
results, logs, full transactions — is in the node's answer, and the execution results
agree), and the request-level errors with the execution-apis codes (which anvil does not
check, so those are checked against the spec alone).
"""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from web3 import HTTPProvider, Web3

from tests.procs import DEV_ADDRESSES, NodeProcess, start_anvil, start_node

C0 = "0xc000000000000000000000000000000000000000"
C1 = "0xc100000000000000000000000000000000000000"
C2 = "0xc200000000000000000000000000000000000000"
EEEE = "0x" + "ee" * 20
TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
COUNTER = "0x6000546001018060005560005260206000f3"  # slot0 += 1; return slot0
LOGGER = "0x3660006000376001366000a100"  # LOG1(topic 1, calldata)
FORWARDER = "0x" + "6000600060006000" + "34" + "73" + "c2" + "00" * 19 + "5af100"
REVERTER = "0x60006000fd"

# Requests both implementations answer (no fee fields: anvil's base fee is not 0 here, but
# a call naming no fee pays nothing on either).
SHARED_REQUESTS = {
    "transfers": {
        "blockStateCalls": [
            {
                "stateOverrides": {C0: {"balance": hex(10**18)}, C1: {"code": FORWARDER}},
                "calls": [
                    {"from": C0, "to": C2, "value": "0x3e8"},
                    {"from": C0, "to": C1, "value": "0x7"},
                ],
            }
        ],
        "traceTransfers": True,
    },
    "logs and a revert": {
        "blockStateCalls": [
            {
                "stateOverrides": {C1: {"code": LOGGER}, C2: {"code": REVERTER}},
                "calls": [
                    {"from": C0, "to": C1, "input": "0xabcd"},
                    {"from": C0, "to": C2},
                ],
            }
        ],
    },
    "chained blocks": {
        "blockStateCalls": [
            {
                "stateOverrides": {C1: {"code": COUNTER}},
                "calls": [{"from": DEV_ADDRESSES[0], "to": C1}] * 2,
            },
            {"calls": [{"from": DEV_ADDRESSES[0], "to": C1}]},
        ],
        "returnFullTransactions": True,
    },
}


def web3(node: NodeProcess) -> Web3:
    return Web3(HTTPProvider(node.url, request_kwargs={"timeout": 60}))


def simulate(w3: Web3, options: dict, block: str = "latest") -> dict:
    return dict(w3.provider.make_request("eth_simulateV1", [options, block]))


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    started = start_node([], log_dir=tmp_path_factory.mktemp("simulate-node"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def anvil(tmp_path_factory):
    started = start_anvil([], log_dir=tmp_path_factory.mktemp("simulate-anvil"))
    yield started
    started.stop()


def assert_keys_cover(ours: dict, theirs: dict, where: str) -> None:
    missing = set(theirs) - set(ours)
    assert not missing, f"{where}: anvil has {sorted(missing)}, the node does not"


@pytest.mark.parametrize("name", sorted(SHARED_REQUESTS))
def test_the_answer_has_every_field_anvil_gives(node, anvil, name):
    request = SHARED_REQUESTS[name]
    ours = simulate(web3(node), request)
    theirs = simulate(web3(anvil), request)
    assert "result" in ours, ours
    assert "result" in theirs, theirs
    assert len(ours["result"]) == len(theirs["result"])
    for b, (block, peer) in enumerate(zip(ours["result"], theirs["result"], strict=True)):
        assert_keys_cover(block, peer, f"block {b}")
        assert block["gasUsed"] == peer["gasUsed"], (block["gasUsed"], peer["gasUsed"])
        assert block["logsBloom"] == peer["logsBloom"]
        assert len(block["transactions"]) == len(peer["transactions"])
        for tx, peer_tx in zip(block["transactions"], peer["transactions"], strict=True):
            if isinstance(peer_tx, dict):
                assert_keys_cover(tx, peer_tx, f"block {b} transaction")
                # not the nonce: anvil lists 0 for every call, geth (and the node) the
                # sender's nonce at that call, which the unit tests check
                for key in ("from", "to", "value", "input", "type"):
                    assert tx[key] == peer_tx[key], (key, tx, peer_tx)
        assert len(block["calls"]) == len(peer["calls"])
        for c, (call, peer_call) in enumerate(zip(block["calls"], peer["calls"], strict=True)):
            where = f"block {b} call {c}"
            assert_keys_cover(call, peer_call, where)
            for key in ("returnData", "gasUsed", "status"):
                assert call[key] == peer_call[key], (where, key, call, peer_call)
            assert ("error" in call) == ("error" in peer_call), (where, call, peer_call)
            if "error" in peer_call:
                assert_keys_cover(call["error"], peer_call["error"], f"{where} error")
            assert len(call["logs"]) == len(peer_call["logs"]), (where, call, peer_call)
            for log, peer_log in zip(call["logs"], peer_call["logs"], strict=True):
                assert set(log) == set(peer_log), (where, log, peer_log)
                for key in ("address", "topics", "data", "logIndex", "transactionIndex"):
                    assert log[key] == peer_log[key], (where, key, log, peer_log)
                assert log["blockHash"] == block["hash"]
                assert log["blockNumber"] == block["number"]
                assert log["transactionHash"] == tx_hash(block, int(log["transactionIndex"], 16))


def tx_hash(block: dict, index: int) -> str:
    tx = block["transactions"][index]
    return tx["hash"] if isinstance(tx, dict) else tx


def test_blocks_calls_and_transfers_through_the_process(node):
    w3 = web3(node)
    head = w3.eth.get_block("latest")
    answer = simulate(w3, SHARED_REQUESTS["transfers"])
    (block,) = answer["result"]
    assert int(block["number"], 16) == head["number"] + 1
    assert block["parentHash"] == "0x" + bytes(head["hash"]).hex()
    assert int(block["timestamp"], 16) == head["timestamp"] + 12
    assert block["baseFeePerGas"] == "0x0"
    direct, forwarded = block["calls"]
    assert [(log["address"], log["topics"][0]) for log in direct["logs"]] == [
        (EEEE, TRANSFER_TOPIC)
    ]
    assert [log["topics"][1:] for log in forwarded["logs"]] == [
        ["0x" + C0[2:].rjust(64, "0"), "0x" + C1[2:].rjust(64, "0")],
        ["0x" + C1[2:].rjust(64, "0"), "0x" + C2[2:].rjust(64, "0")],
    ]
    chained = simulate(w3, SHARED_REQUESTS["chained blocks"])["result"]
    assert [int(c["returnData"], 16) for b in chained for c in b["calls"]] == [1, 2, 3]
    assert [tx["nonce"] for b in chained for tx in b["transactions"]] == ["0x0", "0x1", "0x2"]
    # nothing persisted
    assert w3.eth.get_block("latest")["hash"] == head["hash"]
    assert w3.eth.get_code(Web3.to_checksum_address(C1)) == b""
    assert w3.eth.get_transaction_count(DEV_ADDRESSES[0], "pending") == 0


@pytest.mark.parametrize(
    "options,code",
    [
        (
            {
                "blockStateCalls": [
                    {"blockOverrides": {"number": "0x50"}},
                    {"blockOverrides": {"number": "0x40"}},
                ]
            },
            -38020,
        ),
        (
            {
                "blockStateCalls": [
                    {"blockOverrides": {"time": "0xffff0"}},
                    {"blockOverrides": {"time": "0xfff00"}},
                ]
            },
            -38021,
        ),
        ({"blockStateCalls": [{"blockOverrides": {"number": "0x1000"}}]}, -38026),
        ({"blockStateCalls": [{"calls": [{"from": C0, "to": C1, "value": "0x1"}]}]}, -38014),
        ({"blockStateCalls": [{"calls": [{"from": C0, "to": C1, "gas": "0x1"}]}]}, -38013),
        (
            {
                "blockStateCalls": [{"calls": [{"from": DEV_ADDRESSES[0], "to": C1}]}],
                "validation": True,
            },
            -38012,
        ),
        (
            {
                "blockStateCalls": [
                    {
                        "calls": [
                            {
                                "from": DEV_ADDRESSES[0],
                                "to": C1,
                                "nonce": "0x9",
                                "maxFeePerGas": hex(10**11),
                            }
                        ]
                    }
                ],
                "validation": True,
            },
            -38011,
        ),
        ({"blockStateCalls": [{"calls": [{"from": C0, "too": C1}]}]}, -32602),
        ({"blockStateCalls": []}, -32602),
    ],
)
def test_request_errors_carry_the_spec_codes(node, options, code):
    answer = simulate(web3(node), options)
    assert "error" in answer, answer
    assert answer["error"]["code"] == code, answer


def test_the_l2_answers_too(tmp_path):
    l2 = start_node(["--genesis", "genesis/l2.json", "--no-mining"], log_dir=tmp_path)
    try:
        answer = simulate(web3(l2), SHARED_REQUESTS["logs and a revert"])
        logged, reverted = answer["result"][0]["calls"]
        assert logged["status"] == "0x1" and logged["logs"][0]["data"] == "0xabcd"
        assert reverted["status"] == "0x0" and reverted["error"]["code"] == -32000
    finally:
        l2.stop()
