"""EXECUTE end to end: real L2 blocks re-executed by a real L1 node.

An L2 node process (``genesis/l2.json``, chain 31338, ``--no-mining`` so that each test
chooses exactly which transactions share a block) produces blocks; the test fetches each
block, its transactions (``debug_getRawTransaction``) and ``debug_executionWitness``, builds
the EXECUTE input and has an L1 node process re-execute it through the ``ExecuteCaller``
contract: once in a real L1 transaction (``callExecute``, outcome read from the ``Executed``
event) and once with ``eth_call`` to ``staticExecute``, with the witness in its RLP form and
in the JSON form the RPC returned.

Happy paths covered: an empty block carrying a non-zero L1 anchor; a block of transfers;
a contract deployment plus storage writes in the same block and a later block that reads
the code from the witness; BLOCKHASH of the parent and of older ancestors; an EIP-7702
(type 4) delegation; a block of 200 transactions. Every verdict must say: success, and the
L2 node's own block hash, number, gas used, state root and base fee, with burned fees equal
to base fee times gas used. The L1 receipt must pay at least EXECUTE's fixed L1 charge, and
the execute fee must be gasUsed times the L1 block's execute base fee. BLOCKHASH deeper than
the parent needs the hash-linked headers back to the ancestor's child, and dropping the
oldest of them gives reason 7.

While the L1 verifies the 200-transaction block (the first, uncached verification), another
thread pings ``eth_blockNumber``; the latencies are printed, and the test asserts only that
pings were answered during the verification.
"""

from __future__ import annotations

import http.client
import json
import re
import statistics
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import rlp
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from devtools.execute_inputs import catch_up_l1, encoded, input_from_rpc
from precompiles.execute_wire import Reason, decode_output, encode_invalid, execute_gas_cost
from tests.procs import DEV_ADDRESSES, DEV_KEYS, NodeProcess, start_node, under_test, wait_until

# The test mines L2 blocks itself (evm_mine with anchors) and pays from dev accounts: a local
# experiment, so it opts into what an L2 node does not do by default.
L2_LOCAL_EXPERIMENT = ["--public-controls", "--accounts", "10"]

pytestmark = pytest.mark.e2e

L1_CHAIN_ID = 31337
L2_CHAIN_ID = 31338
OUT_DIR = Path(__file__).resolve().parents[2] / "contracts" / "out"
EXECUTED_TOPIC = "0x" + keccak(text="Executed(bool,bytes,uint256)").hex()
BIG_BLOCK_TXS = 200
GWEI = 10**9
BEACON_ROOTS = "0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02"  # EIP-4788


def _artifact(name: str) -> dict:
    return json.loads((OUT_DIR / f"{name}.json").read_text())


def _creation_code(name: str) -> bytes:
    code = _artifact(name)["bytecode"]
    if isinstance(code, dict):
        code = code["object"]
    return bytes.fromhex(code.removeprefix("0x"))


def _runtime_code(name: str) -> bytes:
    code = _artifact(name)["deployedBytecode"]
    if isinstance(code, dict):
        code = code["object"]
    return bytes.fromhex(code.removeprefix("0x"))


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _calldata(signature: str, types: list[str] | None = None, args: list | None = None) -> bytes:
    return _selector(signature) + (encode(types, args) if types else b"")


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


def _contract_address(sender: str, nonce: int) -> str:
    return to_checksum_address(keccak(rlp.encode([_b(sender), nonce]))[12:])


# -- nodes ------------------------------------------------------------------------------------


class Sender:
    """Signs and sends EIP-1559 transactions on one node; keeps nonces locally."""

    def __init__(self, node: NodeProcess, chain_id: int) -> None:
        self.node = node
        self.chain_id = chain_id
        self.nonces: dict[str, int] = {}

    def next_nonce(self, address: str) -> int:
        if address not in self.nonces:
            self.nonces[address] = int(
                self.node.call("eth_getTransactionCount", address, "pending"), 16
            )
        nonce = self.nonces[address]
        self.nonces[address] = nonce + 1
        return nonce

    def base_fee(self) -> int:
        return int(self.node.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)

    def sign(
        self,
        key: str,
        to: str | None,
        data: bytes = b"",
        value: int = 0,
        gas: int = 21_000,
        **extra,
    ) -> bytes:
        address = Account.from_key(key).address
        tx = {
            "chainId": self.chain_id,
            "nonce": self.next_nonce(address),
            "value": value,
            "gas": gas,
            "maxFeePerGas": 4 * self.base_fee() + GWEI,
            "maxPriorityFeePerGas": GWEI,
            "data": data,
            **extra,
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        return bytes(Account.sign_transaction(tx, key).raw_transaction)

    def send(
        self,
        key: str,
        to: str | None,
        data: bytes = b"",
        value: int = 0,
        gas: int = 21_000,
        **extra,
    ) -> str:
        raw = self.sign(key, to, data, value, gas, **extra)
        return self.node.call("eth_sendRawTransaction", "0x" + raw.hex())


class L2:
    """The L2 node (manual mining) and what a sequencer does with it."""

    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.tx = Sender(node, L2_CHAIN_ID)

    def mine(self, **fields: str) -> dict:
        """Mine one block with the pool's transactions; returns the new head block."""
        self.node.call("evm_mine", fields)
        return self.node.call("eth_getBlockByNumber", "latest", False)

    def receipt(self, tx_hash: str) -> dict:
        return self.node.call("eth_getTransactionReceipt", tx_hash)


@dataclass
class Settlement:
    """What the L1 said about one L2 block."""

    success: bool
    output: bytes
    measured_gas: int  # gas ExecuteCaller saw the CALL to EXECUTE use
    receipt: dict
    seconds: float


class L1:
    """The L1 node with a deployed ExecuteCaller."""

    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.tx = Sender(node, L1_CHAIN_ID)
        self.key = DEV_KEYS[0]
        tx_hash = self.tx.send(self.key, None, _creation_code("ExecuteCaller"), gas=3_000_000)
        receipt = node.call("eth_getTransactionReceipt", tx_hash)
        assert receipt["status"] == "0x1"
        self.caller = receipt["contractAddress"]
        assert _b(node.call("eth_getCode", self.caller, "latest")) == _runtime_code("ExecuteCaller")

    def call_execute(self, data: bytes) -> Settlement:
        """A real L1 transaction ``callExecute(data)``; automine answers once it is mined."""
        catch_up_l1(self.node, data)
        calldata = _calldata("callExecute(bytes)", ["bytes"], [data])
        # Generous, fixed gas: estimating would run (and cache) the verification first.
        # At most Osaka's transaction gas cap (EIP-7825).
        gas = min(21_000 + 48 * len(calldata) + execute_gas_cost(len(data)) + 1_000_000, 2**24)
        raw = self.tx.sign(self.key, self.caller, calldata, gas=gas)
        started = time.monotonic()
        tx_hash = self.node.call("eth_sendRawTransaction", "0x" + raw.hex())
        receipt = self.node.call("eth_getTransactionReceipt", tx_hash)
        seconds = time.monotonic() - started
        assert receipt is not None and receipt["status"] == "0x1", receipt
        logs = [log for log in receipt["logs"] if log["topics"][0] == EXECUTED_TOPIC]
        assert len(logs) == 1
        success, output, measured = decode(["bool", "bytes", "uint256"], _b(logs[0]["data"]))
        return Settlement(success, output, measured, receipt, seconds)

    def static_execute(self, data: bytes) -> tuple[bool, bytes]:
        catch_up_l1(self.node, data)
        calldata = _calldata("staticExecute(bytes)", ["bytes"], [data])
        result = self.node.call(
            "eth_call",
            {"from": DEV_ADDRESSES[0], "to": self.caller, "data": "0x" + calldata.hex()},
            "latest",
        )
        return decode(["bool", "bytes"], _b(result))


@pytest.fixture(scope="module")
def l1(tmp_path_factory) -> L1:
    if under_test() == "anvil":
        pytest.skip("anvil has no EXECUTE precompile")
    node = start_node([], log_dir=tmp_path_factory.mktemp("execute-l1"))
    try:
        yield L1(node)
    finally:
        node.stop()


@pytest.fixture(scope="module")
def l2(tmp_path_factory) -> L2:
    if under_test() == "anvil":
        pytest.skip("anvil has no debug_executionWitness")
    node = start_node(
        ["--genesis", "genesis/l2.json", "--no-mining", *L2_LOCAL_EXPERIMENT],
        log_dir=tmp_path_factory.mktemp("execute-l2"),
    )
    try:
        assert int(node.call("eth_chainId"), 16) == L2_CHAIN_ID
        yield L2(node)
    finally:
        node.stop()


@pytest.fixture(autouse=True)
def _l2_pool_drained(request):
    """A test that failed between sending and mining must not leak transactions into the
    next test's block: mine leftovers, then re-read nonces."""
    if "l2" not in request.fixturenames:
        yield
        return
    l2: L2 = request.getfixturevalue("l2")
    if any(
        l2.node.call("eth_getTransactionCount", a, "pending")
        != l2.node.call("eth_getTransactionCount", a, "latest")
        for a in DEV_ADDRESSES
    ):
        l2.mine()
    l2.tx.nonces.clear()
    yield


# -- the check every happy path makes ---------------------------------------------------------


def assert_output_matches(output: bytes, block: dict) -> None:
    fields = decode_output(output)
    gas_used = int(block["gasUsed"], 16)
    base_fee = int(block["baseFeePerGas"], 16)
    assert "0x" + fields["blockHash"].hex() == block["hash"]
    assert fields["number"] == int(block["number"], 16)
    assert fields["gasUsed"] == gas_used
    assert "0x" + fields["postStateRoot"].hex() == block["stateRoot"]
    assert fields["baseFeePerGas"] == base_fee
    assert fields["burnedFees"] == base_fee * gas_used


def assert_l1_charges(l1: L1, settled: Settlement, data: bytes) -> None:
    """L1 gas covers EXECUTE's fixed charge; the execute fee is gasUsed at the L1 block's
    execute base fee (a valid block shrinks the reservation to exactly gasUsed)."""
    fixed = execute_gas_cost(len(data))
    assert fixed == 100_000 + 6 * ((len(data) + 31) // 32)
    assert int(settled.receipt["gasUsed"], 16) >= fixed
    assert settled.measured_gas >= fixed  # the CALL to EXECUTE alone
    fields = decode_output(settled.output)
    l1_block = l1.node.call("eth_getBlockByHash", settled.receipt["blockHash"], False)
    assert fields["executeBaseFeePerGas"] == int(l1_block["executeBaseFeePerGas"], 16)
    assert fields["executeFee"] == fields["gasUsed"] * fields["executeBaseFeePerGas"]
    assert int(l1_block["executeGasUsed"], 16) == fields["gasUsed"]  # one EXECUTE per L1 block


def settle_and_check(l1: L1, l2: L2, block: dict) -> tuple[Settlement, bytes]:
    """Re-execute L2 ``block`` on the L1 (real tx, then eth_call in both witness forms)."""
    number = int(block["number"], 16)
    data = encoded(input_from_rpc(l2.node, number, "rlp"))
    settled = l1.call_execute(data)
    assert settled.success, f"EXECUTE said no: 0x{settled.output.hex()}"
    assert_output_matches(settled.output, block)
    assert_l1_charges(l1, settled, data)

    ok, out = l1.static_execute(data)  # same input: the verdict cache may answer
    assert ok
    assert_output_matches(out, block)
    json_data = encoded(input_from_rpc(l2.node, number, "json"))
    assert json_data != data
    ok, out = l1.static_execute(json_data)  # a fresh verification of the JSON witness
    assert ok, f"EXECUTE said no to the JSON witness: 0x{out.hex()}"
    assert_output_matches(out, block)
    return settled, data


# -- happy paths ------------------------------------------------------------------------------


def test_empty_block_with_l1_anchor(l1, l2):
    anchor = "0x" + keccak(text="an L1 block root").hex()
    randao = "0x" + keccak(text="randao").hex()
    coinbase = "0x" + "c0" * 20
    block = l2.mine(parentBeaconBlockRoot=anchor, prevRandao=randao, coinbase=coinbase)
    assert block["transactions"] == []
    assert block["parentBeaconBlockRoot"] == anchor
    assert block["mixHash"] == randao
    assert block["miner"].lower() == coinbase
    assert int(block["gasUsed"], 16) == 0
    # The anchor went through the EIP-4788 system write: the contract returns it by timestamp.
    root = l2.node.call(
        "eth_call",
        {
            "to": BEACON_ROOTS,
            "data": "0x" + encode(["uint256"], [int(block["timestamp"], 16)]).hex(),
        },
        "latest",
    )
    assert root == anchor
    settle_and_check(l1, l2, block)


def test_block_of_transfers(l1, l2):
    recipients = ["0x" + f"{i:02x}" * 20 for i in range(0xA1, 0xA9)]
    hashes = [l2.tx.send(DEV_KEYS[i % 3], to, value=10**15 + i) for i, to in enumerate(recipients)]
    block = l2.mine(parentBeaconBlockRoot="0x" + "11" * 32)
    assert block["transactions"] == hashes
    assert int(block["gasUsed"], 16) == 21_000 * len(hashes)
    for i, to in enumerate(recipients):
        assert int(l2.node.call("eth_getBalance", to, "latest"), 16) >= 10**15 + i
    settle_and_check(l1, l2, block)


def test_deploy_and_storage_writes(l1, l2):
    key = DEV_KEYS[1]
    deployer = Account.from_key(key).address
    nonce = int(l2.node.call("eth_getTransactionCount", deployer, "pending"), 16)
    counter = _contract_address(deployer, nonce)
    deploy = l2.tx.send(
        key, None, _creation_code("Counter") + encode(["uint256"], [41]), gas=1_000_000
    )
    bump = l2.tx.send(key, counter, _calldata("increment()"), gas=200_000)
    block = l2.mine(parentBeaconBlockRoot="0x" + "22" * 32)
    assert block["transactions"] == [deploy, bump]
    assert l2.receipt(deploy)["contractAddress"].lower() == counter.lower()
    assert l2.receipt(bump)["status"] == "0x1"
    assert int(l2.node.call("eth_getStorageAt", counter, "0x0", "latest"), 16) == 42
    settle_and_check(l1, l2, block)

    # The next block calls the contract again: its code must come from the witness.
    bump = l2.tx.send(DEV_KEYS[2], counter, _calldata("increment()"), gas=200_000)
    block = l2.mine(parentBeaconBlockRoot="0x" + "23" * 32)
    assert block["transactions"] == [bump]
    assert int(l2.node.call("eth_getStorageAt", counter, "0x0", "latest"), 16) == 43
    witness = l2.node.call("debug_executionWitness", block["number"])
    assert "0x" + _runtime_code("Counter").hex() in witness["codes"]
    settle_and_check(l1, l2, block)


@pytest.mark.parametrize(
    "depth",
    [
        1,
        2,
        4,
    ],
)
def test_blockhash_of_ancestors(l1, l2, depth):
    key = DEV_KEYS[2]
    deployer = Account.from_key(key).address
    nonce = int(l2.node.call("eth_getTransactionCount", deployer, "pending"), 16)
    reader = _contract_address(deployer, nonce)
    l2.tx.send(key, None, _creation_code("BlockHashReader"), gas=500_000)
    l2.mine()
    assert _b(l2.node.call("eth_getCode", reader, "latest")) == _runtime_code("BlockHashReader")
    for _ in range(6):
        l2.mine()
    tx_hash = l2.tx.send(
        key, reader, _calldata("record(uint256)", ["uint256"], [depth]), gas=200_000
    )
    block = l2.mine(parentBeaconBlockRoot="0x" + "33" * 32)
    assert block["transactions"] == [tx_hash]
    assert l2.receipt(tx_hash)["status"] == "0x1"
    number = int(block["number"], 16)
    ancestor = l2.node.call("eth_getBlockByNumber", hex(number - depth), False)
    seen = l2.node.call(
        "eth_call",
        {
            "to": reader,
            "data": "0x" + _calldata("seen(uint256)", ["uint256"], [number - depth]).hex(),
        },
        "latest",
    )
    assert seen == ancestor["hash"]  # a real hash, not py-evm's silent zero
    witness = l2.node.call("debug_executionWitness", block["number"])
    # From the parent back to the ancestor's child, whose parent_hash proves the ancestor.
    assert len(witness["headers"]) >= max(depth - 1, 1)
    settle_and_check(l1, l2, block)

    if depth >= 3:
        # The ancestor's hash is proven only by the oldest header: without it, reason 7.
        inp = input_from_rpc(l2.node, number, "rlp")
        headers, codes, state, keys = rlp.decode(inp.witness)
        short = rlp.encode([headers[: depth - 2], codes, state, keys])
        ok, out = l1.static_execute(encoded(replace(inp, witness=short)))
        assert not ok
        assert out == encode_invalid(Reason.WITNESS_INCOMPLETE)


def test_eip7702_delegation(l1, l2):
    sender_key, authority_key = DEV_KEYS[0], DEV_KEYS[3]
    # A Counter to delegate to.
    deployer = Account.from_key(sender_key).address
    nonce = int(l2.node.call("eth_getTransactionCount", deployer, "pending"), 16)
    counter = _contract_address(deployer, nonce)
    l2.tx.send(
        sender_key, None, _creation_code("Counter") + encode(["uint256"], [0]), gas=1_000_000
    )
    l2.mine()
    assert l2.node.call("eth_getCode", counter, "latest") != "0x"

    authority = Account.from_key(authority_key).address
    authority_nonce = int(l2.node.call("eth_getTransactionCount", authority, "pending"), 16)
    auth = Account.sign_authorization(
        {"chainId": L2_CHAIN_ID, "address": counter, "nonce": authority_nonce}, authority_key
    )
    tx_hash = l2.tx.send(
        sender_key, authority, _calldata("increment()"), gas=300_000, authorizationList=[auth]
    )
    raw = l2.node.call("debug_getRawTransaction", tx_hash)
    assert raw.startswith("0x04")
    block = l2.mine(parentBeaconBlockRoot="0x" + "44" * 32)
    assert block["transactions"] == [tx_hash]
    receipt = l2.receipt(tx_hash)
    assert receipt["status"] == "0x1"
    assert receipt["type"] == "0x4"
    code = _b(l2.node.call("eth_getCode", authority, "latest"))
    assert code == b"\xef\x01\x00" + _b(counter)
    assert int(l2.node.call("eth_getStorageAt", authority, "0x0", "latest"), 16) == 1
    assert int(l2.node.call("eth_getTransactionCount", authority, "latest"), 16) == (
        authority_nonce + 1
    )
    settle_and_check(l1, l2, block)


def _ping_during(node: NodeProcess, work) -> tuple[object, list[float], float]:
    """Run ``work()`` while another thread pings ``eth_blockNumber`` over keep-alive HTTP.

    Returns work's result, the latencies of pings sent and answered inside the window, and
    the window's length in seconds."""
    window: dict[str, float] = {}
    pings: list[tuple[float, float]] = []
    stop = threading.Event()
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})

    def pinger() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
        try:
            while not stop.is_set():
                sent = time.monotonic()
                conn.request("POST", "/", body, {"Content-Type": "application/json"})
                answer = json.loads(conn.getresponse().read())
                done = time.monotonic()
                assert "result" in answer
                pings.append((sent, done))
        finally:
            conn.close()

    thread = threading.Thread(target=pinger, daemon=True)
    thread.start()
    wait_until(lambda: pings, "the pinger to be up before the work starts")
    window["start"] = time.monotonic()
    try:
        result = work()
    finally:
        window["end"] = time.monotonic()
        stop.set()
        thread.join(timeout=60)
    inside = [
        done - sent for sent, done in pings if sent >= window["start"] and done <= window["end"]
    ]
    return result, inside, window["end"] - window["start"]


def test_block_of_200_transactions(l1, l2):
    recipient = "0x" + "be" * 20
    raws = [
        l2.tx.sign(DEV_KEYS[i % len(DEV_KEYS)], recipient, value=1) for i in range(BIG_BLOCK_TXS)
    ]
    hashes = [l2.node.call("eth_sendRawTransaction", "0x" + raw.hex()) for raw in raws]
    block = l2.mine(parentBeaconBlockRoot="0x" + "55" * 32)
    assert len(block["transactions"]) == BIG_BLOCK_TXS
    assert set(block["transactions"]) == set(hashes)
    assert int(block["gasUsed"], 16) == 21_000 * BIG_BLOCK_TXS
    assert int(block["gasLimit"], 16) == 5_000_000

    number = int(block["number"], 16)
    data = encoded(input_from_rpc(l2.node, number, "rlp"))
    # The real transaction comes first, so the verification is not answered from the cache.
    settled, latencies, seconds = _ping_during(l1.node, lambda: l1.call_execute(data))
    assert settled.success, f"EXECUTE said no: 0x{settled.output.hex()}"
    assert_output_matches(settled.output, block)
    assert_l1_charges(l1, settled, data)
    witness = l2.node.call("debug_executionWitness", block["number"])
    l1_number = int(settled.receipt["blockNumber"], 16)
    built = re.search(rf"block {l1_number} 0x\w+ .* in ([0-9.]+) ms", l1.node.log())
    print(
        f"\nL1 verified an L2 block of {BIG_BLOCK_TXS} transfers "
        f"(input {len(data)} bytes, witness {len(witness['state'])} nodes / "
        f"{len(witness['codes'])} codes / {len(witness['headers'])} headers) in a real tx: "
        f"L1 block built in {built.group(1) if built else '?'} ms (node log), "
        f"send-to-receipt {seconds * 1000:.0f} ms, L1 gas used "
        f"{int(settled.receipt['gasUsed'], 16)}, EXECUTE CALL gas {settled.measured_gas}; "
        + (
            f"{len(latencies)} eth_blockNumber answered meanwhile, latency ms median "
            f"{statistics.median(latencies) * 1000:.1f} max {max(latencies) * 1000:.1f}"
            if latencies
            else "no ping answered inside the window"
        )
    )
    assert latencies, "the L1 answered no eth_blockNumber while it verified the block"

    ok, out = l1.static_execute(data)
    assert ok
    assert_output_matches(out, block)
    json_data = encoded(input_from_rpc(l2.node, number, "json"))
    started = time.monotonic()
    ok, out = l1.static_execute(json_data)
    print(
        f"eth_call staticExecute, JSON witness (uncached): "
        f"{(time.monotonic() - started) * 1000:.0f} ms"
    )
    assert ok, f"EXECUTE said no to the JSON witness: 0x{out.hex()}"
    assert_output_matches(out, block)
