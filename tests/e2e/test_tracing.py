"""``debug_trace*`` against a real node, compared with anvil's answers for the same transactions.

Both a native-devnet L1 and an anvil (``--hardfork prague --steps-tracing``, started here on a
free port and stopped by PID) receive the *same signed transactions* (dev key 0, nonces 0..2,
fixed fees): deploy ``contracts/src/test/Nested.sol``, ``Nested.run(21)`` with 5 wei (a CALL
with value that logs, a caught revert with a reason, a DELEGATECALL, a STATICCALL, a log) and
``Nested.failDeep()`` (a revert bubbling up from a nested call). The traces are then compared
field by field, through raw JSON-RPC and through ``cast rpc``.

Where the two legitimately differ, the node follows geth, and the tests pin both sides:

- callTracer: the top call's ``gas`` is the transaction's gas limit (geth); anvil reports it
  minus the intrinsic gas. (anvil also reports the *cumulative* block gas as the top call's
  ``gasUsed`` when a block holds several transactions; with automine each block holds one.)
- struct logger: memory words and storage slots without ``0x`` and ``refund``/``returnData``
  only when non-empty (geth); anvil prefixes ``0x`` and always writes ``refund``. CREATE and
  CREATE2 do not count the callee's gas in ``gasCost`` (geth; anvil does), and a frame without
  code logs no step (geth; anvil logs a STOP) — neither occurs in the compared transactions.
- prestateTracer: accounts the transaction created are left out (geth); anvil lists them.
  Balances of the sender differ because the two chains charged different base fees earlier.
- an unknown tracer is -32602 invalid params; anvil answers -32603 from its JS engine.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from devtools.contracts import calldata, load
from tests.procs import (
    DEV_ADDRESSES,
    DEV_KEYS,
    require_tool,
    rpc,
    start_anvil,
    start_node,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.requires_tools("anvil", "cast")]

CHAIN_ID = 31337
GWEI = 10**9
SENDER = DEV_ADDRESSES[0].lower()
RUN_GAS = 300_000
INVALID_PARAMS = -32602
CAST_TIMEOUT = 60


def signed(nonce: int, to: str | None, data: str, value: int = 0, gas: int = RUN_GAS) -> str:
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


@dataclass
class Chain:
    """One node with the workload mined: its URL and the three transactions' receipts."""

    url: str
    deploy: dict
    run: dict
    fail: dict

    def call(self, method: str, *params) -> dict:
        return rpc(self.url, method, list(params), timeout=120)

    def result(self, method: str, *params):
        response = self.call(method, *params)
        assert "error" not in response, response
        return response["result"]

    def trace(self, tx: dict, options: dict | None = None):
        return self.result("debug_traceTransaction", tx["transactionHash"], options or {})


def mine_workload(url: str) -> Chain:
    nested = "0x" + keccak(rlp.encode([bytes.fromhex(SENDER[2:]), 0]))[12:].hex()
    raws = [
        signed(0, None, load("Nested").bytecode, gas=2_000_000),
        signed(1, nested, calldata("run(uint256)", ["uint256"], [21]), value=5),
        signed(2, nested, calldata("failDeep()")),
    ]
    receipts = []
    for raw in raws:
        tx_hash = rpc(url, "eth_sendRawTransaction", [raw])["result"]
        receipts.append(wait_for_receipt(url, tx_hash))
    assert receipts[0]["contractAddress"] == nested
    assert [r["status"] for r in receipts] == ["0x1", "0x1", "0x0"]
    return Chain(url, *receipts)


def wait_for_receipt(url: str, tx_hash: str) -> dict:
    return wait_until(
        lambda: rpc(url, "eth_getTransactionReceipt", [tx_hash])["result"],
        f"a receipt for {tx_hash}",
    )


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> Chain:
    node = start_node([], log_dir=tmp_path_factory.mktemp("tracing-node"))
    try:
        yield mine_workload(node.url)
    finally:
        node.stop()


@pytest.fixture(scope="module")
def anvil(tmp_path_factory) -> Chain:
    node = start_anvil(
        ["--hardfork", "prague", "--steps-tracing"], log_dir=tmp_path_factory.mktemp("anvil")
    )
    try:
        yield mine_workload(node.url)
    finally:
        node.stop()


def intrinsic_gas(data: str) -> int:
    payload = bytes.fromhex(data[2:])
    zeros = payload.count(0)
    return 21_000 + 4 * zeros + 16 * (len(payload) - zeros)


# -- callTracer ---------------------------------------------------------------------------------


def assert_same_frames(mine: dict, theirs: dict, path: str = "call") -> None:
    """Every field of every frame equal, except what the root's ``gas`` means."""
    assert set(mine) == set(theirs), path
    for key in mine:
        if key == "calls":
            assert len(mine["calls"]) == len(theirs["calls"]), path
            for i, (a, b) in enumerate(zip(mine["calls"], theirs["calls"], strict=True)):
                assert_same_frames(a, b, f"{path}.calls[{i}]")
        elif not (key == "gas" and path == "call"):
            assert mine[key] == theirs[key], f"{path}.{key}"


@pytest.mark.parametrize("tx", ["run", "fail"])
def test_call_tracer_matches_anvil(ours, anvil, tx):
    mine_tx, their_tx = getattr(ours, tx), getattr(anvil, tx)
    assert mine_tx["transactionHash"] == their_tx["transactionHash"]  # the very same tx
    options = {"tracer": "callTracer", "tracerConfig": {"withLog": True}}
    mine, theirs = ours.trace(mine_tx, options), anvil.trace(their_tx, options)
    assert_same_frames(mine, theirs)
    assert mine["gasUsed"] == mine_tx["gasUsed"] == their_tx["gasUsed"]
    assert int(mine["gas"], 16) == RUN_GAS  # geth: the gas limit
    assert int(theirs["gas"], 16) == RUN_GAS - intrinsic_gas(mine["input"])


def test_call_tracer_shape_of_the_nested_call(ours):
    root = ours.trace(ours.run, {"tracer": "callTracer", "tracerConfig": {"withLog": True}})
    nested, callee = ours.deploy["contractAddress"], root["calls"][0]["to"]
    assert (root["type"], root["from"], root["to"], root["value"]) == (
        "CALL",
        SENDER,
        nested,
        "0x5",
    )
    assert [c["type"] for c in root["calls"]] == ["CALL", "CALL", "DELEGATECALL", "STATICCALL"]
    caught = root["calls"][1]
    assert (caught["to"], caught["error"], caught["revertReason"]) == (
        callee,
        "execution reverted",
        "callee says no",
    )
    assert root["calls"][2]["value"] == "0x5" and "value" not in root["calls"][3]
    assert [log["position"] for log in root["logs"]] == ["0x4"]
    failed = ours.trace(ours.fail, {"tracer": "callTracer"})
    assert (failed["error"], failed["revertReason"]) == ("execution reverted", "callee says no")


def test_call_tracer_of_the_deployment_matches_anvil(ours, anvil):
    options = {"tracer": "callTracer"}
    mine, theirs = ours.trace(ours.deploy, options), anvil.trace(anvil.deploy, options)
    assert_same_frames(mine, theirs)
    assert [c["type"] for c in mine["calls"]] == ["CREATE", "CREATE"]


# -- the struct logger --------------------------------------------------------------------------------


def normalised_anvil_step(step: dict) -> dict:
    """anvil's step in geth's spelling: memory and storage without 0x, empty fields left out."""
    out = {k: v for k, v in step.items() if k not in ("memory", "storage", "refund", "returnData")}
    if step.get("memory"):
        out["memory"] = [word.removeprefix("0x") for word in step["memory"]]
    if step.get("storage"):
        out["storage"] = {
            k.removeprefix("0x"): v.removeprefix("0x") for k, v in step["storage"].items()
        }
    if step.get("refund"):
        out["refund"] = step["refund"]
    if step.get("returnData", "0x") != "0x":
        out["returnData"] = step["returnData"]
    return out


@pytest.mark.parametrize("tx", ["run", "fail"])
def test_struct_logger_matches_anvil(ours, anvil, tx):
    options = {"enableMemory": True, "enableReturnData": True}
    mine = ours.trace(getattr(ours, tx), options)
    theirs = anvil.trace(getattr(anvil, tx), options)
    assert len(theirs["structLogs"]) > 100
    assert [(s["pc"], s["op"], s["depth"]) for s in mine["structLogs"]] == [
        (s["pc"], s["op"], s["depth"]) for s in theirs["structLogs"]
    ]
    for index, (step, their_step) in enumerate(
        zip(mine["structLogs"], theirs["structLogs"], strict=True)
    ):
        assert step == normalised_anvil_step(their_step), index
    assert {k: v for k, v in mine.items() if k != "structLogs"} == {
        k: v for k, v in theirs.items() if k != "structLogs"
    }


def test_struct_logger_default_shape(ours):
    trace = ours.trace(ours.run)
    assert trace["gas"] == int(ours.run["gasUsed"], 16) and trace["failed"] is False
    first = trace["structLogs"][0]
    assert first == {
        "pc": 0,
        "op": "PUSH1",
        "gas": RUN_GAS - intrinsic_gas(calldata("run(uint256)", ["uint256"], [21])),
        "gasCost": 3,
        "depth": 1,
        "stack": [],
    }
    assert all("memory" not in step for step in trace["structLogs"])


# -- prestateTracer -------------------------------------------------------------------------------------


def test_prestate_lists_touched_accounts_with_their_pre_balances(ours, anvil):
    options = {"tracer": "prestateTracer"}
    mine, theirs = ours.trace(ours.run, options), anvil.trace(anvil.run, options)
    assert set(mine) == set(theirs)
    parent = hex(int(ours.run["blockNumber"], 16) - 1)
    for address, account in mine.items():
        assert account["balance"] == ours.result("eth_getBalance", address, parent), address
        if address != SENDER:  # the chains charged different fees before
            assert account == theirs[address], address
        else:
            assert account["nonce"] == theirs[address]["nonce"] == 1
    nested = mine[ours.deploy["contractAddress"]]
    assert nested["code"] == ours.result("eth_getCode", ours.deploy["contractAddress"], parent)
    assert len(nested["storage"]) == 3


def test_prestate_of_the_deployment_leaves_out_created_contracts(ours, anvil):
    options = {"tracer": "prestateTracer"}
    mine, theirs = ours.trace(ours.deploy, options), anvil.trace(anvil.deploy, options)
    created = {ours.deploy["contractAddress"]} | {
        c["to"] for c in ours.trace(ours.deploy, {"tracer": "callTracer"})["calls"]
    }
    assert set(mine) == set(theirs) - created  # anvil lists them; geth does not
    assert SENDER in mine


def test_prestate_diff_mode_matches_anvil(ours, anvil):
    options = {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
    mine, theirs = ours.trace(ours.run, options), anvil.trace(anvil.run, options)
    for side in ("pre", "post"):
        assert set(mine[side]) == set(theirs[side])
        for address in mine[side]:
            if address != SENDER:
                assert mine[side][address] == theirs[side][address], (side, address)
    assert mine["post"][SENDER]["nonce"] == 2


# -- the other methods, errors, and cast --------------------------------------------------------------


def test_trace_call_matches_anvil(ours, anvil):
    call = {
        "from": SENDER,
        "to": ours.deploy["contractAddress"],
        "gas": hex(1_000_000),
        "data": calldata("run(uint256)", ["uint256"], [3]),
    }
    options = {"tracer": "callTracer"}
    mine = ours.result("debug_traceCall", call, "latest", options)
    theirs = anvil.result("debug_traceCall", call, "latest", options)
    assert_same_frames(mine, theirs)
    assert mine["gas"] == hex(1_000_000)


def test_block_traces(ours):
    block = ours.run["blockNumber"]
    by_number = ours.result("debug_traceBlockByNumber", block, {"tracer": "callTracer"})
    by_hash = ours.result("debug_traceBlockByHash", ours.run["blockHash"], {"tracer": "callTracer"})
    assert by_number == by_hash
    assert [entry["txHash"] for entry in by_number] == [ours.run["transactionHash"]]
    assert by_number[0]["result"] == ours.trace(ours.run, {"tracer": "callTracer"})


def test_errors(ours):
    unknown = ours.call("debug_traceTransaction", ours.run["transactionHash"], {"tracer": "nope"})
    assert unknown["error"]["code"] == INVALID_PARAMS
    assert "unknown tracer" in unknown["error"]["message"]
    missing = ours.call("debug_traceTransaction", "0x" + "ab" * 32, {})
    assert missing["error"]["message"] == "transaction not found"
    genesis = ours.call("debug_traceBlockByNumber", "0x0", {})
    assert "genesis is not traceable" in genesis["error"]["message"]


def cast_rpc(url: str, *args: str):
    proc = subprocess.run(
        [str(require_tool("cast")), "rpc", "--rpc-url", url, *args],
        capture_output=True,
        text=True,
        timeout=CAST_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cast_rpc_debug_trace_transaction(ours):
    tx_hash = ours.run["transactionHash"]
    assert cast_rpc(ours.url, "debug_traceTransaction", tx_hash) == ours.trace(ours.run)
    options = json.dumps({"tracer": "callTracer", "tracerConfig": {"withLog": True}})
    frames = cast_rpc(ours.url, "debug_traceTransaction", tx_hash, options)
    assert frames == ours.trace(ours.run, json.loads(options))
    assert frames["calls"][1]["revertReason"] == "callee says no"
