"""Foundry against the node under test: the real native ``cast`` and ``forge`` binaries.

Every command runs as a subprocess with ``--rpc-url node.url`` and a timeout, and every
test asserts the effect on chain (balances moved by the exact amount, code and storage
present, logs with the right topics, nonces advanced), cross-checked with raw JSON-RPC.

forge runs from the repo root and so picks up ``foundry.toml`` (``solc = "scripts/solc"``,
the Node wrapper around solcjs). Its out/cache/broadcast directories and ``HOME`` are
redirected into temp dirs so tests neither write into the repo nor collide with each other.

Run against anvil with ``DEVNET_UNDER_TEST=anvil``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.procs import DEV_ADDRESSES, DEV_KEYS, ROOT, SOLC, NodeProcess, require_tool

# forge compiles through scripts/solc, which runs solcjs under Node
pytestmark = [pytest.mark.e2e, pytest.mark.requires_tools("forge", "cast", "node", "solcjs")]

CAST_TIMEOUT = 60
FORGE_TIMEOUT = 240

COUNTER_SOURCE = "contracts/src/test/Counter.sol:Counter"
DEPLOY_SCRIPT = "contracts/script/Deploy.s.sol:DeployCounter"
SCRIPT_TX_COUNT = 5  # deploy, increment, increment, setNumber(40), increment
SCRIPT_FINAL_NUMBER = 41

INCREMENTED_TOPIC = "0x38ac789ed44572701765277c4d0970f2db1c1a571ed39e84358095ae4eaa5420"
TOO_LARGE_SELECTOR = "0x677fd0e3"  # TooLarge(uint256,uint256)
# A recipient nobody else touches: its balance starts at zero on a fresh node.
FRESH_RECIPIENT = "0x00000000000000000000000000000000C0FFEE01"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def foundry_env(tmp_path_factory) -> dict[str, str]:
    """Environment for cast/forge: private HOME and forge output dirs, no inherited ETH_*."""
    base = tmp_path_factory.mktemp("foundry")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETH_", "FOUNDRY_", "DAPP_"))}
    home = base / "home"
    home.mkdir()
    env.update(
        HOME=str(home),
        NO_COLOR="1",
        FOUNDRY_OUT=str(base / "out"),
        FOUNDRY_CACHE_PATH=str(base / "cache"),
        FOUNDRY_BROADCAST=str(base / "broadcast"),
        FOUNDRY_OFFLINE="true",
    )
    return env


def run_tool(
    tool: str, args: list[str], env: dict[str, str], timeout: float, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(require_tool(tool)), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{tool} {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


class Foundry:
    """cast/forge bound to one node and one environment."""

    def __init__(self, node: NodeProcess, env: dict[str, str]):
        self.node = node
        self.env = env

    def with_rpc(self, args: tuple[str, ...]) -> list[str]:
        # right after the subcommand: trailing variadic arguments (forge create's
        # --constructor-args, cast's call arguments) would swallow a flag put at the end
        return [args[0], "--rpc-url", self.node.url, *args[1:]]

    def cast(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_tool("cast", self.with_rpc(args), self.env, CAST_TIMEOUT, check)

    def cast_out(self, *args: str) -> str:
        return self.cast(*args).stdout.strip()

    def cast_json(self, *args: str):
        return json.loads(self.cast(*args, "--json").stdout)

    def forge(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        return run_tool(
            "forge", self.with_rpc(args), {**self.env, **(env or {})}, FORGE_TIMEOUT, check
        )

    # raw JSON-RPC, to cross-check what cast reports
    def balance(self, address: str, block: str = "latest") -> int:
        return int(self.node.call("eth_getBalance", address, block), 16)

    def nonce(self, address: str) -> int:
        return int(self.node.call("eth_getTransactionCount", address, "latest"), 16)

    def deploy_counter(self, key: str, initial: int) -> str:
        """``forge create --broadcast``; returns the deployed address."""
        # --constructor-args is variadic: it must come last or it swallows later flags.
        proc = self.forge(
            "create",
            COUNTER_SOURCE,
            "--broadcast",
            "--private-key",
            key,
            "--json",
            "--constructor-args",
            str(initial),
        )
        out = json.loads(proc.stdout[proc.stdout.index("{") :])
        return out["deployedTo"]


@pytest.fixture
def fl(l1, foundry_env) -> Foundry:
    """Foundry against a fresh node (for tests that change state)."""
    return Foundry(l1, foundry_env)


@pytest.fixture(scope="module")
def shared_fl(shared_l1, foundry_env) -> Foundry:
    """Foundry against the module's shared node (read-only tests)."""
    return Foundry(shared_l1, foundry_env)


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def address_topic(address: str) -> str:
    return "0x" + address.lower().removeprefix("0x").rjust(64, "0")


def tx_cost(receipt: dict) -> int:
    return int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)


# --------------------------------------------------------------------------- reads


def test_cast_chain_id(shared_fl):
    chain_id = int(shared_fl.node.call("eth_chainId"), 16)
    assert int(shared_fl.cast_out("chain-id")) == chain_id
    assert chain_id > 0


def test_cast_balance_and_nonce_of_dev_account(shared_fl):
    for address in DEV_ADDRESSES:
        wei = int(shared_fl.cast_out("balance", address))
        assert wei == shared_fl.balance(address)
        assert wei > 10**18, f"dev account {address} should be prefunded"
    fresh = int(shared_fl.cast_out("balance", FRESH_RECIPIENT))
    assert fresh == 0
    assert int(shared_fl.cast_out("nonce", FRESH_RECIPIENT)) == 0


def test_cast_block_latest(shared_fl):
    block = shared_fl.cast_json("block", "latest")
    raw = shared_fl.node.call("eth_getBlockByNumber", hex(int(block["number"], 16)), False)
    for key in (
        "number",
        "hash",
        "parentHash",
        "timestamp",
        "gasLimit",
        "stateRoot",
        "baseFeePerGas",
        "miner",
    ):
        assert key in block, f"cast block --json lacks {key}"
        assert block[key] == raw[key], key
    assert len(bytes.fromhex(block["hash"][2:])) == 32
    assert int(block["gasLimit"], 16) > 0
    assert isinstance(block["transactions"], list)

    number = int(shared_fl.cast_out("block", "latest", "-f", "number"))
    latest = int(shared_fl.node.call("eth_blockNumber"), 16)
    assert number == latest
    assert int(shared_fl.cast_out("block-number")) == latest
    # the human-readable (non-JSON) form names the same block
    pinned = int(block["number"], 16)
    assert raw["hash"] in shared_fl.cast_out("block", str(pinned))


def test_cast_code_of_empty_account(shared_fl):
    assert shared_fl.cast_out("code", FRESH_RECIPIENT) == "0x"


# --------------------------------------------------------------------------- cast send


def test_cast_send_eip1559_value_transfer(fl):
    sender, value = DEV_ADDRESSES[1], 12_345_678_901
    before_sender = fl.balance(sender)
    assert fl.balance(FRESH_RECIPIENT) == 0
    assert int(fl.cast_out("nonce", sender)) == 0

    receipt = fl.cast_json(
        "send", FRESH_RECIPIENT, "--value", str(value), "--private-key", DEV_KEYS[1]
    )
    assert receipt["status"] == "0x1"
    assert receipt["type"] == "0x2"
    assert receipt["from"].lower() == sender.lower()
    assert receipt["to"].lower() == FRESH_RECIPIENT.lower()

    assert int(fl.cast_out("balance", FRESH_RECIPIENT)) == value
    assert fl.balance(sender) == before_sender - value - tx_cost(receipt)
    assert int(fl.cast_out("nonce", sender)) == 1

    tx = fl.cast_json("tx", receipt["transactionHash"])
    assert tx["type"] == "0x2"
    assert int(tx["value"], 16) == value
    assert int(tx["nonce"], 16) == 0
    assert "maxFeePerGas" in tx and "maxPriorityFeePerGas" in tx


def test_cast_send_unlocked(fl):
    sender, value = DEV_ADDRESSES[2], 777
    before_sender = fl.balance(sender)
    receipt = fl.cast_json(
        "send", FRESH_RECIPIENT, "--value", str(value), "--unlocked", "--from", sender
    )
    assert receipt["status"] == "0x1"
    assert receipt["from"].lower() == sender.lower()
    assert fl.balance(FRESH_RECIPIENT) == value
    assert fl.balance(sender) == before_sender - value - tx_cost(receipt)
    assert fl.nonce(sender) == 1


def test_cast_send_legacy(fl):
    sender, value = DEV_ADDRESSES[3], 10**15
    before_sender = fl.balance(sender)
    receipt = fl.cast_json(
        "send", FRESH_RECIPIENT, "--value", str(value), "--legacy", "--private-key", DEV_KEYS[3]
    )
    assert receipt["status"] == "0x1"
    assert receipt["type"] == "0x0"
    tx = fl.cast_json("tx", receipt["transactionHash"])
    assert tx["type"] == "0x0"
    assert "maxFeePerGas" not in tx
    # a legacy transaction pays exactly its gasPrice
    assert int(receipt["effectiveGasPrice"], 16) == int(tx["gasPrice"], 16)
    assert fl.balance(FRESH_RECIPIENT) == value
    assert fl.balance(sender) == before_sender - value - tx_cost(receipt)


# --------------------------------------------------------------------------- contracts


def test_forge_create_and_cast_contract_calls(fl):
    deployer = DEV_ADDRESSES[1]
    counter = fl.deploy_counter(DEV_KEYS[1], 5)
    assert fl.nonce(deployer) == 1
    assert (
        counter.lower()
        == fl.cast_out("compute-address", deployer, "--nonce", "0").split()[-1].lower()
    )

    # code: exactly the deployedBytecode forge just compiled through scripts/solc
    code = fl.cast_out("code", counter)
    artifact = json.loads(
        (Path(fl.env["FOUNDRY_OUT"]) / "Counter.sol" / "Counter.json").read_text()
    )
    assert len(code) > 2
    assert code == artifact["deployedBytecode"]["object"]
    assert code == fl.node.call("eth_getCode", counter, "latest")

    # storage slot 0 holds `number`
    assert fl.cast_out("storage", counter, "0") == word(5)
    assert fl.cast_out("call", counter, "number()(uint256)") == "5"
    assert fl.cast_out("call", counter, "get()(uint256)") == "5"

    gas = int(fl.cast_out("estimate", counter, "increment()"))
    assert 21_000 < gas < 100_000

    receipt = fl.cast_json("send", counter, "increment()", "--private-key", DEV_KEYS[2])
    assert receipt["status"] == "0x1"
    assert int(receipt["gasUsed"], 16) <= gas
    tx_hash = receipt["transactionHash"]

    fetched = fl.cast_json("receipt", tx_hash)
    assert fetched["transactionHash"] == tx_hash
    assert fetched["status"] == "0x1"
    assert fetched["blockHash"] == receipt["blockHash"]
    (log,) = fetched["logs"]
    assert log["address"].lower() == counter.lower()
    assert log["topics"] == [INCREMENTED_TOPIC, address_topic(DEV_ADDRESSES[2])]
    assert int(log["data"], 16) == 6
    assert fl.cast_out("receipt", tx_hash, "status") in ("1", "true", "1 (success)")

    assert fl.cast_out("storage", counter, "0") == word(6)
    assert fl.cast_out("call", counter, "number()(uint256)") == "6"

    # setNumber through cast send with an argument, then a second increment
    fl.cast("send", counter, "setNumber(uint256)", "99", "--private-key", DEV_KEYS[2])
    fl.cast("send", counter, "increment()", "--private-key", DEV_KEYS[1])
    assert fl.cast_out("storage", counter, "0") == word(100)
    assert fl.nonce(DEV_ADDRESSES[2]) == 2
    assert fl.nonce(deployer) == 2

    logs = fl.cast_json(
        "logs", "--address", counter, "--from-block", "0", "Incremented(address,uint256)"
    )
    assert [int(entry["data"], 16) for entry in logs] == [6, 100]
    assert [entry["topics"][1] for entry in logs] == [
        address_topic(DEV_ADDRESSES[2]),
        address_topic(DEV_ADDRESSES[1]),
    ]
    assert all(entry["topics"][0] == INCREMENTED_TOPIC for entry in logs)
    assert logs[0]["transactionHash"] == tx_hash
    # filtering by the indexed sender keeps only its own event
    only = fl.cast_json(
        "logs",
        "--address",
        counter,
        "--from-block",
        "0",
        "Incremented(address indexed,uint256)",
        DEV_ADDRESSES[1],
    )
    assert [int(entry["data"], 16) for entry in only] == [100]


def test_cast_call_reverts_are_reported(fl):
    counter = fl.deploy_counter(DEV_KEYS[0], 1)
    proc = fl.cast("call", counter, "failWithReason()", check=False)
    assert proc.returncode != 0
    assert "counter says no" in proc.stderr

    proc = fl.cast("call", counter, "setNumber(uint256)", "2000000", check=False)
    assert proc.returncode != 0
    assert TOO_LARGE_SELECTOR[2:] in proc.stderr
    # the failed calls changed nothing
    assert fl.cast_out("storage", counter, "0") == word(1)

    proc = fl.cast("estimate", counter, "setNumber(uint256)", "2000000", check=False)
    assert proc.returncode != 0
    assert TOO_LARGE_SELECTOR[2:] in proc.stderr


def test_forge_script_broadcast_sends_a_burst_from_one_key(fl):
    deployer = DEV_ADDRESSES[3]
    assert fl.nonce(deployer) == 0
    proc = fl.forge(
        "script", DEPLOY_SCRIPT, "--broadcast", env={"DEPLOYER_PRIVATE_KEY": DEV_KEYS[3]}
    )
    assert "ONCHAIN EXECUTION COMPLETE & SUCCESSFUL" in proc.stdout, proc.stdout

    # every transaction of the script was mined, each with its own nonce
    assert fl.nonce(deployer) == SCRIPT_TX_COUNT
    chain_id = int(fl.node.call("eth_chainId"), 16)
    record = json.loads(
        (
            Path(fl.env["FOUNDRY_BROADCAST"]) / "Deploy.s.sol" / str(chain_id) / "run-latest.json"
        ).read_text()
    )
    assert len(record["transactions"]) == SCRIPT_TX_COUNT
    assert len(record["receipts"]) == SCRIPT_TX_COUNT
    assert all(r["status"] == "0x1" for r in record["receipts"])
    nonces = sorted(int(tx["transaction"]["nonce"], 16) for tx in record["transactions"])
    assert nonces == list(range(SCRIPT_TX_COUNT))

    counter = record["transactions"][0]["contractAddress"]
    assert record["transactions"][0]["transactionType"] == "CREATE"
    assert (
        counter.lower()
        == fl.cast_out("compute-address", deployer, "--nonce", "0").split()[-1].lower()
    )
    assert len(fl.cast_out("code", counter)) > 2
    assert fl.cast_out("call", counter, "number()(uint256)") == str(SCRIPT_FINAL_NUMBER)
    assert fl.cast_out("storage", counter, "0") == word(SCRIPT_FINAL_NUMBER)

    # forge records receipts in arrival order; each matches what the node reports
    by_hash = {r["transactionHash"]: r for r in record["receipts"]}
    assert set(by_hash) == {tx["hash"] for tx in record["transactions"]}
    for tx_hash, receipt in by_hash.items():
        node_receipt = fl.node.call("eth_getTransactionReceipt", tx_hash)
        assert node_receipt["status"] == "0x1"
        assert node_receipt["blockHash"] == receipt["blockHash"]
        assert node_receipt["from"].lower() == deployer.lower()
    # the three increments emitted their events, in nonce order
    logs = fl.cast_json(
        "logs", "--address", counter, "--from-block", "0", "Incremented(address,uint256)"
    )
    assert [int(entry["data"], 16) for entry in logs] == [8, 9, SCRIPT_FINAL_NUMBER]


def test_forge_build_uses_the_wrapper_compiler(foundry_env):
    """forge build uses scripts/solc from foundry.toml (no native solc, no download)."""
    assert os.access(SOLC, os.X_OK)
    proc = run_tool("forge", ["build", "--force"], foundry_env, FORGE_TIMEOUT)
    assert "Solc 0.8.37" in proc.stdout + proc.stderr
    artifact = json.loads(
        (Path(foundry_env["FOUNDRY_OUT"]) / "Counter.sol" / "Counter.json").read_text()
    )
    assert artifact["metadata"]["compiler"]["version"].startswith("0.8.37+commit.")
    assert artifact["metadata"]["settings"]["evmVersion"] == "osaka"
