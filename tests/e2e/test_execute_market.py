"""The EXECUTE gas market end to end: an L2 node process builds a real block, an L1 node
process re-executes it through ``ExecuteCaller`` in real transactions.

The L2 block holds two transfers given 30 000 gas each (gas used 42 000, sum of tx gas
60 000), so a valid claim costs 42 000 execute gas and the invalid claim ``gasUsed + 1``
reserves ``W = max(42 001, min(gasLimit, 60 000)) = 60 000``, all of it charged.

- default L1 (automine): the sender's balance falls by exactly the L1 fee plus the execute
  fee (words 6/7 of the output for the valid call, ``W * price`` for the invalid one, where
  the price is ``execute_baseFee`` before the block and the block's ``executeBaseFeePerGas``);
  the block's ``executeGasUsed``; ``execute_params``, ``execute_feeHistory`` and
  ``execute_transactionStatus`` answers;
- an L1 started with ``--execute-gas-limit 100000 --execute-gas-target 50000 --no-mining``:
  two such calls (60 000 reserved each) do not fit one block; after ``evm_mine`` one is
  mined and ``execute_transactionStatus`` says the other is deferred and why; the next
  ``evm_mine`` mines it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from devtools.execute_inputs import catch_up_l1, encoded, input_from_rpc
from precompiles.execute_market import MarketParams, next_execute_base_fee
from precompiles.execute_wire import EXECUTE_ADDRESS, Reason, decode_output, encode_invalid
from tests.procs import DEV_KEYS, NodeProcess, start_node, under_test

# The test mines L2 blocks itself (evm_mine with anchors) and pays from dev accounts: a local
# experiment, so it opts into what an L2 node does not do by default.
L2_LOCAL_EXPERIMENT = ["--public-controls", "--accounts", "10"]

pytestmark = pytest.mark.e2e

L1_CHAIN_ID = 31337
L2_CHAIN_ID = 31338
GWEI = 10**9
CALL_GAS = 2_000_000
L2_USED = 42_000
L2_W_INVALID = 60_000
TIGHT_LIMIT = 100_000
TIGHT_TARGET = 50_000
EXECUTED_TOPIC = "0x" + keccak(text="Executed(bool,bytes,uint256)").hex()
OUT_DIR = Path(__file__).resolve().parents[2] / "contracts" / "out"
DEFERRED_REASON = (
    "EXECUTE call would overflow the block's cumulative execute gas limit; deferred to a "
    "later block: block has used 42000 of 100000 execute gas"
)


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


def _q(hex_str: str) -> int:
    return int(hex_str, 16)


def _creation_code() -> bytes:
    code = json.loads((OUT_DIR / "ExecuteCaller.json").read_text())["bytecode"]
    if isinstance(code, dict):
        code = code["object"]
    return _b(code)


class Signer:
    """Signs EIP-1559 transactions for one node, nonces from ``pending``."""

    def __init__(self, node: NodeProcess, chain_id: int) -> None:
        self.node = node
        self.chain_id = chain_id

    def send(
        self, key: str, to: str | None, data: bytes = b"", value: int = 0, gas: int = 21_000
    ) -> str:
        sender = Account.from_key(key).address
        tx = {
            "chainId": self.chain_id,
            "nonce": _q(self.node.call("eth_getTransactionCount", sender, "pending")),
            "value": value,
            "gas": gas,
            "data": data,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        raw = bytes(Account.sign_transaction(tx, key).raw_transaction)
        return self.node.call("eth_sendRawTransaction", "0x" + raw.hex())


def call_data(payload: bytes) -> bytes:
    return keccak(text="callExecute(bytes)")[:4] + encode(["bytes"], [payload])


def deploy_caller(node: NodeProcess, manual: bool = False) -> str:
    tx_hash = Signer(node, L1_CHAIN_ID).send(DEV_KEYS[0], None, _creation_code(), gas=3_000_000)
    if manual:
        node.call("evm_mine")
    receipt = node.call("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    return receipt["contractAddress"]


def executed(receipt: dict) -> tuple[bool, bytes]:
    (log,) = [x for x in receipt["logs"] if x["topics"][0] == EXECUTED_TOPIC]
    ok, out, _ = decode(["bool", "bytes", "uint256"], _b(log["data"]))
    return ok, out


@pytest.fixture(scope="module")
def l2_inputs(tmp_path_factory) -> dict[str, bytes]:
    """A real L2 block of two transfers; the valid EXECUTE input and the gasUsed+1 one."""
    if under_test() == "anvil":
        pytest.skip("anvil has no EXECUTE")
    node = start_node(
        ["--genesis", "genesis/l2.json", "--no-mining", *L2_LOCAL_EXPERIMENT],
        log_dir=tmp_path_factory.mktemp("market-l2"),
    )
    try:
        signer = Signer(node, L2_CHAIN_ID)
        signer.send(DEV_KEYS[0], "0x" + "a1" * 20, value=10**18, gas=30_000)
        signer.send(DEV_KEYS[1], "0x" + "a2" * 20, value=5, gas=30_000)
        node.call("evm_mine")
        number = _q(node.call("eth_blockNumber"))
        block = node.call("eth_getBlockByNumber", hex(number), False)
        assert len(block["transactions"]) == 2 and _q(block["gasUsed"]) == L2_USED
        inp = input_from_rpc(node, number)
        yield {"valid": encoded(inp), "invalid": encoded(inp, gas_used=L2_USED + 1)}
    finally:
        node.stop()


@pytest.fixture(scope="module")
def l1(tmp_path_factory) -> tuple[NodeProcess, str]:
    node = start_node([], log_dir=tmp_path_factory.mktemp("market-l1"))
    try:
        yield node, deploy_caller(node)
    finally:
        node.stop()


def settle(node: NodeProcess, caller: str, payload: bytes, key: str) -> dict:
    """Send callExecute(payload) (automine) and return what the test checks."""
    sender = Account.from_key(key).address
    catch_up_l1(node, payload)
    head = _q(node.call("eth_blockNumber"))
    price = _q(node.call("execute_baseFee"))
    before = _q(node.call("eth_getBalance", sender, hex(head)))
    tx_hash = Signer(node, L1_CHAIN_ID).send(key, caller, call_data(payload), gas=CALL_GAS)
    receipt = node.call("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    number = _q(receipt["blockNumber"])
    assert number == head + 1
    after = _q(node.call("eth_getBalance", sender, hex(number)))
    block = node.call("eth_getBlockByNumber", hex(number), False)
    assert block["transactions"] == [tx_hash]
    return {
        "hash": tx_hash,
        "receipt": receipt,
        "block": block,
        "price": price,
        "delta": before - after,
        "l1_fee": _q(receipt["gasUsed"]) * _q(receipt["effectiveGasPrice"]),
    }


def test_valid_call_pays_gas_used_times_price(l1, l2_inputs):
    node, caller = l1
    s = settle(node, caller, l2_inputs["valid"], DEV_KEYS[3])
    ok, out = executed(s["receipt"])
    assert ok
    fields = decode_output(out)
    assert fields["gasUsed"] == L2_USED
    assert fields["executeBaseFeePerGas"] == s["price"] == _q(s["block"]["executeBaseFeePerGas"])
    assert fields["executeFee"] == L2_USED * s["price"]
    assert s["delta"] == s["l1_fee"] + fields["executeFee"]
    assert _q(s["block"]["executeGasUsed"]) == L2_USED
    assert node.call("execute_transactionStatus", s["hash"]) == {
        "status": "mined",
        "blockNumber": s["block"]["number"],
    }


def test_invalid_call_pays_the_whole_reservation(l1, l2_inputs):
    node, caller = l1
    s = settle(node, caller, l2_inputs["invalid"], DEV_KEYS[3])
    ok, out = executed(s["receipt"])
    assert not ok
    assert out == encode_invalid(Reason.GAS_USED)
    assert s["price"] == _q(s["block"]["executeBaseFeePerGas"])
    assert s["delta"] == s["l1_fee"] + L2_W_INVALID * s["price"]
    assert _q(s["block"]["executeGasUsed"]) == L2_W_INVALID


def test_market_namespace(l1, l2_inputs):
    node, caller = l1
    settle(node, caller, l2_inputs["valid"], DEV_KEYS[3])  # at least one block with work
    params = MarketParams()  # genesis/l1.json holds the defaults
    head = node.call("eth_getBlockByNumber", "latest", False)
    pending = next_execute_base_fee(
        params, _q(head["executeGasUsed"]), _q(head["executeBaseFeePerGas"])
    )
    assert node.call("execute_baseFee") == hex(pending)
    assert node.call("execute_params") == {
        "address": "0x" + EXECUTE_ADDRESS.hex(),
        "cumulativeGasLimit": hex(10_000_000),
        "cumulativeGasTarget": hex(5_000_000),
        "initialBaseFee": hex(10**9),
        "minBaseFee": "0x1",
        "baseFeeChangeDenominator": "0x8",
        "pendingBaseFee": hex(pending),
        "latestBlock": head["number"],
        "latestGasUsed": head["executeGasUsed"],
        "latestBaseFee": head["executeBaseFeePerGas"],
        "delayedStateRoot": True,
    }
    newest = _q(head["number"])
    count = min(4, newest + 1)
    blocks = [
        node.call("eth_getBlockByNumber", hex(n), False)
        for n in range(newest + 1 - count, newest + 1)
    ]
    assert node.call("execute_feeHistory", hex(count), "latest") == {
        "oldestBlock": hex(newest + 1 - count),
        "executeBaseFeePerGas": [b["executeBaseFeePerGas"] for b in blocks] + [hex(pending)],
        "executeGasUsed": [b["executeGasUsed"] for b in blocks],
        "executeGasUsedRatio": [_q(b["executeGasUsed"]) / 10_000_000 for b in blocks],
    }
    # Every block's fee follows from its parent's counters; block 1 has the initial fee.
    everything = [node.call("eth_getBlockByNumber", hex(n), False) for n in range(newest + 1)]
    assert _q(everything[1]["executeBaseFeePerGas"]) == 10**9
    for parent, child in zip(everything[1:], everything[2:], strict=False):
        assert _q(child["executeBaseFeePerGas"]) == next_execute_base_fee(
            params, _q(parent["executeGasUsed"]), _q(parent["executeBaseFeePerGas"])
        )
    assert node.call("execute_transactionStatus", "0x" + "ab" * 32) == {"status": "unknown"}


def test_call_that_does_not_fit_is_deferred_then_mined(node_factory, l2_inputs):
    node = node_factory(
        "--execute-gas-limit",
        str(TIGHT_LIMIT),
        "--execute-gas-target",
        str(TIGHT_TARGET),
        "--no-mining",
    )
    params = node.call("execute_params")
    assert (params["cumulativeGasLimit"], params["cumulativeGasTarget"]) == (
        hex(TIGHT_LIMIT),
        hex(TIGHT_TARGET),
    )
    caller = deploy_caller(node, manual=True)
    catch_up_l1(node, l2_inputs["valid"])
    signer = Signer(node, L1_CHAIN_ID)
    data = call_data(l2_inputs["valid"])
    first = signer.send(DEV_KEYS[1], caller, data, gas=CALL_GAS)
    second = signer.send(DEV_KEYS[2], caller, data, gas=CALL_GAS)
    for tx_hash in (first, second):
        assert node.call("execute_transactionStatus", tx_hash) == {"status": "pending"}
    # 42 000 used after the first + 60 000 reserved by the second > 100 000.
    node.call("evm_mine")
    block = node.call("eth_getBlockByNumber", "latest", False)
    assert block["transactions"] == [first]
    assert _q(block["executeGasUsed"]) == L2_USED
    assert node.call("execute_transactionStatus", first) == {
        "status": "mined",
        "blockNumber": block["number"],
    }
    assert node.call("execute_transactionStatus", second) == {
        "status": "deferred",
        "reason": DEFERRED_REASON,
    }
    assert node.call("eth_getTransactionReceipt", second) is None
    node.call("evm_mine")
    following = node.call("eth_getBlockByNumber", "latest", False)
    assert following["transactions"] == [second]
    assert _q(following["executeGasUsed"]) == L2_USED
    assert node.call("execute_transactionStatus", second) == {
        "status": "mined",
        "blockNumber": following["number"],
    }
    receipt = node.call("eth_getTransactionReceipt", second)
    assert receipt["status"] == "0x1"
    ok, out = executed(receipt)
    assert ok
    assert decode_output(out)["executeFee"] == L2_USED * _q(following["executeBaseFeePerGas"])
