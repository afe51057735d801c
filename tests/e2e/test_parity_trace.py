"""Parity-style ``trace_*`` against a real node, compared field by field with anvil's answers.

Both a native-devnet L1 and anvil 1.7.1 (``--hardfork prague``, the node's fork, so the gas
is the same) receive the *same signed transactions* from dev key 0: deploy
``contracts/src/test/Factory.sol`` and ``Nested.sol``, then one transaction per block:
``make`` (CREATE from a contract, with value), ``poke`` (CALL with value, a caught revert,
STATICCALL, CALLCODE), ``Nested.run`` (DELEGATECALL, logs), ``failDeep`` (a revert bubbling up),
``kill`` (SELFDESTRUCT of an old contract), ``makeAndKill`` (CREATE then SELFDESTRUCT, which
EIP-6780 really deletes), ``make2`` (CREATE2), ``failedMake`` (a creation that reverts),
``pay`` (a value transfer from a contract), a plain transfer, ``forget`` (a storage refund)
and ``make`` with too little gas (out of gas in the creation); then two transactions in one
block (automine off, ``evm_mine``).

``trace_transaction``, ``trace_block``, ``trace_replayBlockTransactions`` (trace and
stateDiff) and ``trace_filter`` are compared for every block: equal but for ``blockHash``
(the chains' headers differ) and the sender's balance in the state diff (the two chains
charge different base fees). ``trace_call``, ``trace_replayTransaction``, ``trace_get`` and
``trace_rawTransaction`` (which anvil does not serve) are checked against the node's own
mined traces, which are anvil's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from devtools.contracts import calldata, load
from tests.procs import DEV_ADDRESSES, DEV_KEYS, rpc, start_anvil, start_node, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.requires_tools("anvil")]

CHAIN_ID = 31337
GWEI = 10**9
SENDER = DEV_ADDRESSES[0].lower()
BOB = "0x" + "b0" * 20
GAS = 1_000_000
INVALID_PARAMS = -32602


def signed(nonce: int, to: str | None, data: str, value: int = 0, gas: int = GAS) -> str:
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "maxFeePerGas": 20 * GWEI,
        "maxPriorityFeePerGas": GWEI,
        "gas": gas,
        "value": value,
        "data": data,
    }
    if to is not None:
        tx["to"] = to_checksum_address(to)
    return "0x" + bytes(Account.sign_transaction(tx, DEV_KEYS[0]).raw_transaction).hex()


def created(sender: str, nonce: int) -> str:
    return "0x" + keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:].hex()


FACTORY, NESTED = created(SENDER, 0), created(SENDER, 1)


def workload() -> list[tuple[str, str | None, str, int, int]]:
    """(name, to, data, value, gas) of the transactions, one per block, in order."""
    salt = b"\x01" * 32
    return [
        ("deploy_factory", None, load("Factory").bytecode, 0, 2_000_000),
        ("deploy_nested", None, load("Nested").bytecode, 0, 2_000_000),
        ("make", FACTORY, calldata("make()"), 7, GAS),
        ("poke", FACTORY, calldata("poke(uint256)", ["uint256"], [3]), 2, GAS),
        ("run", NESTED, calldata("run(uint256)", ["uint256"], [21]), 5, GAS),
        ("fail_deep", NESTED, calldata("failDeep()"), 0, GAS),
        ("kill", FACTORY, calldata("kill(address)", ["address"], [BOB]), 0, GAS),
        ("make_and_kill", FACTORY, calldata("makeAndKill(address)", ["address"], [BOB]), 9, GAS),
        ("make2", FACTORY, calldata("make2(bytes32)", ["bytes32"], [salt]), 1, GAS),
        ("failed_make", FACTORY, calldata("failedMake()"), 0, GAS),
        ("pay", FACTORY, calldata("pay(address)", ["address"], [BOB]), 11, GAS),
        ("transfer", BOB, "0x", 123, 21_000),
        ("forget", FACTORY, calldata("forget()"), 0, GAS),
        ("out_of_gas", FACTORY, calldata("make()"), 0, 60_000),
    ]


@dataclass
class Chain:
    url: str
    receipts: dict[str, dict]  # by workload name
    pair: list[dict]  # the two receipts of the block holding two transactions

    def call(self, method: str, *params) -> dict:
        return rpc(self.url, method, list(params), timeout=120)

    def result(self, method: str, *params):
        response = self.call(method, *params)
        assert "error" not in response, response
        return response["result"]


def receipt_of(url: str, tx_hash: str) -> dict:
    return wait_until(
        lambda: rpc(url, "eth_getTransactionReceipt", [tx_hash])["result"],
        f"a receipt for {tx_hash}",
    )


def mine_workload(url: str) -> Chain:
    receipts = {}
    nonce = 0
    for name, to, data, value, gas in workload():
        tx_hash = rpc(url, "eth_sendRawTransaction", [signed(nonce, to, data, value, gas)])
        receipts[name] = receipt_of(url, tx_hash["result"])
        nonce += 1
    assert receipts["deploy_factory"]["contractAddress"] == FACTORY
    assert receipts["deploy_nested"]["contractAddress"] == NESTED
    failed = {"fail_deep", "out_of_gas"}
    assert {n for n, r in receipts.items() if r["status"] == "0x0"} == failed
    # Two transactions in one block.
    assert "error" not in rpc(url, "evm_setAutomine", [False])
    hashes = [
        rpc(url, "eth_sendRawTransaction", [raw])["result"]
        for raw in (
            signed(nonce, NESTED, calldata("run(uint256)", ["uint256"], [2]), 1),
            signed(nonce + 1, BOB, "0x", 5, 21_000),
        )
    ]
    assert "error" not in rpc(url, "evm_mine", [])
    pair = [receipt_of(url, h) for h in hashes]
    assert pair[0]["blockNumber"] == pair[1]["blockNumber"]
    assert "error" not in rpc(url, "evm_setAutomine", [True])
    return Chain(url, receipts, pair)


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Chain:
    node = start_node([], log_dir=tmp_path_factory.mktemp("parity-node"))
    try:
        yield mine_workload(node.url)
    finally:
        node.stop()


@pytest.fixture(scope="module")
def anvil(tmp_path_factory) -> Chain:
    node = start_anvil(["--hardfork", "prague"], log_dir=tmp_path_factory.mktemp("parity-anvil"))
    try:
        yield mine_workload(node.url)
    finally:
        node.stop()


def without_block_hash(entries: list[dict]) -> list[dict]:
    assert all(len(e["blockHash"]) == 66 for e in entries)
    return [{k: v for k, v in e.items() if k != "blockHash"} for e in entries]


def without_sender_balance(replays: list[dict]) -> list[dict]:
    out = []
    for replay in replays:
        replay = dict(replay)
        if replay["stateDiff"] is not None:
            diff = {a: dict(d) for a, d in replay["stateDiff"].items()}
            balance = diff[SENDER].pop("balance")
            assert set(balance) == {"*"} and set(balance["*"]) == {"from", "to"}
            replay["stateDiff"] = diff
        out.append(replay)
    return out


NAMES = [name for name, *_ in workload()]


@pytest.mark.parametrize("name", NAMES)
def test_trace_transaction_matches_anvil(ours, anvil, name):
    mine_tx, their_tx = ours.receipts[name], anvil.receipts[name]
    assert mine_tx["transactionHash"] == their_tx["transactionHash"]  # the very same tx
    mine = ours.result("trace_transaction", mine_tx["transactionHash"])
    theirs = anvil.result("trace_transaction", their_tx["transactionHash"])
    assert mine and without_block_hash(mine) == without_block_hash(theirs)
    assert {e["blockHash"] for e in mine} == {mine_tx["blockHash"]}


@pytest.mark.parametrize("name", NAMES)
def test_replay_block_with_state_diff_matches_anvil(ours, anvil, name):
    number = ours.receipts[name]["blockNumber"]
    assert number == anvil.receipts[name]["blockNumber"]
    kinds = ["trace", "stateDiff"]
    mine = ours.result("trace_replayBlockTransactions", number, kinds)
    theirs = anvil.result("trace_replayBlockTransactions", number, kinds)
    assert without_sender_balance(mine) == without_sender_balance(theirs)


def test_the_shapes_of_each_kind_of_entry(ours):
    entries = ours.result("trace_transaction", ours.receipts["make_and_kill"]["transactionHash"])
    assert [(e["type"], e["traceAddress"], e["subtraces"]) for e in entries] == [
        ("call", [], 2),
        ("create", [0], 0),
        ("call", [1], 1),
        ("suicide", [1, 0], 0),
    ]
    call, create, _, suicide = entries
    assert set(call["action"]) == {"from", "callType", "gas", "input", "to", "value"}
    assert set(call["result"]) == {"gasUsed", "output"}
    assert set(create["action"]) == {"from", "gas", "init", "value", "creationMethod"}
    assert set(create["result"]) == {"address", "code", "gasUsed"}
    assert suicide["action"] == {
        "address": create["result"]["address"],
        "balance": "0x9",
        "refundAddress": BOB,
    }
    assert suicide["result"] is None
    assert isinstance(call["blockNumber"], int) and call["transactionPosition"] == 0
    reverted = ours.result("trace_transaction", ours.receipts["failed_make"]["transactionHash"])
    assert (reverted[1]["error"], reverted[1]["result"]["address"]) == (
        "Reverted",
        created(FACTORY, 4),
    )
    starved = ours.result("trace_transaction", ours.receipts["out_of_gas"]["transactionHash"])
    assert (starved[1]["error"], starved[1]["result"]) == ("Out of gas", None)


def test_a_block_of_two_transactions_matches_anvil(ours, anvil):
    number = ours.pair[0]["blockNumber"]
    mine, theirs = ours.result("trace_block", number), anvil.result("trace_block", number)
    assert [e["transactionPosition"] for e in mine] == [0] * 5 + [1]
    assert without_block_hash(mine) == without_block_hash(theirs)
    replays = ours.result("trace_replayBlockTransactions", number, ["trace", "stateDiff"])
    assert [r["transactionHash"] for r in replays] == [r["transactionHash"] for r in ours.pair]
    theirs = anvil.result("trace_replayBlockTransactions", number, ["trace", "stateDiff"])
    assert without_sender_balance(replays) == without_sender_balance(theirs)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"fromBlock": "0x3", "toBlock": "0x8"},
        {"toAddress": [BOB]},
        {"fromAddress": [FACTORY]},
        {"fromAddress": [NESTED], "toAddress": [BOB]},
        {"fromAddress": [FACTORY], "toAddress": [BOB], "mode": "intersection"},
        {"fromBlock": "0x2", "after": 3, "count": 5},
    ],
)
def test_trace_filter_matches_anvil(ours, anvil, query):
    mine, theirs = ours.result("trace_filter", query), anvil.result("trace_filter", query)
    assert mine and without_block_hash(mine) == without_block_hash(theirs)


def test_what_anvil_does_not_serve_agrees_with_the_mined_traces(ours):
    poke = ours.receipts["poke"]
    mined = ours.result("trace_replayTransaction", poke["transactionHash"], ["trace"])
    block = ours.result("trace_replayBlockTransactions", poke["blockNumber"], ["trace"])
    assert block == [{**mined, "transactionHash": poke["transactionHash"]}]
    entries = ours.result("trace_transaction", poke["transactionHash"])
    assert ours.result("trace_get", poke["transactionHash"], ["0x2"]) == entries[2]
    # The same call on the state before the block: the same trace.
    parent = hex(int(poke["blockNumber"], 16) - 1)
    request = {
        "from": SENDER,
        "to": FACTORY,
        "value": "0x2",
        "gas": hex(GAS),
        "data": calldata("poke(uint256)", ["uint256"], [3]),
    }
    called = ours.result("trace_call", request, ["trace", "stateDiff"], parent)
    assert called["trace"] == mined["trace"] and called["output"] == mined["output"]
    child = created(FACTORY, 1)
    assert called["stateDiff"][child]["balance"] == {"*": {"from": "0x7", "to": "0x9"}}
    # A signed transaction not sent: traced on the latest state.
    nonce = int(ours.result("eth_getTransactionCount", SENDER, "latest"), 16)
    raw = signed(nonce, FACTORY, calldata("make()"), 3)
    traced = ours.result("trace_rawTransaction", raw, ["trace"])
    assert [e["type"] for e in traced["trace"]] == ["call", "create"]
    assert traced["trace"][1]["result"]["address"] == created(FACTORY, nonce_of(ours, FACTORY))
    assert int(ours.result("eth_getTransactionCount", SENDER, "latest"), 16) == nonce  # not sent


def nonce_of(chain: Chain, address: str) -> int:
    return int(chain.result("eth_getTransactionCount", address, "latest"), 16)


def test_refusals(ours, anvil):
    latest = ours.result("eth_blockNumber")
    answer = ours.call("trace_replayBlockTransactions", latest, ["vmTrace"])
    assert answer["error"]["code"] == INVALID_PARAMS
    assert "vmTrace" in answer["error"]["message"]
    answer = ours.call("trace_filter", {"fromBlock": "0x2", "toBlock": "0x1"})
    theirs = anvil.call("trace_filter", {"fromBlock": "0x2", "toBlock": "0x1"})
    assert answer["error"]["code"] == theirs["error"]["code"] == INVALID_PARAMS
    answer = ours.call("trace_filter", {"fromBlock": "0x0", "bogus": True})
    theirs = anvil.call("trace_filter", {"fromBlock": "0x0", "bogus": True})
    assert answer["error"]["code"] == theirs["error"]["code"] == INVALID_PARAMS
    unknown = "0x" + "11" * 32
    assert ours.result("trace_transaction", unknown) == anvil.result("trace_transaction", unknown)
    assert ours.result("trace_block", "0x0") == anvil.result("trace_block", "0x0") == []
