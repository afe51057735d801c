"""Osaka on real node processes: a Foundry project with the default ``evm_version`` (Osaka in
Foundry 1.7.1) deploys and calls a contract using ``clz``; a Prague node says why such a
call fails; an L1 and an L2 fork from Prague to Osaka at a timestamp, and ``eth_call``,
traces, ``eth_getProof``, ``eth_config`` and ``anvil_nodeInfo`` answer under each block's
rules; a transaction above Osaka's 2^24 gas cap is refused at the RPC."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from tests.procs import DEV_ADDRESSES, DEV_KEYS, ROOT, SOLC, require_tool, rpc, start_node

pytestmark = pytest.mark.e2e

FORGE_TIMEOUT = 240
OSAKA_TIME = 4_000_000_000  # far after any wall-clock block: reached by evm_setNextBlockTimestamp
CLZ_ADDRESS = "0x00000000000000000000000000000000000c1a00"
CLZ_CODE = "0x6000351e60005260206000f3"  # return clz(calldata word 0)
WORD_ONE = "0x" + "00" * 31 + "01"
CLZ_OF_ONE = "0x" + "00" * 31 + "ff"  # 255

LEADING_ZEROS_SOL = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.31;

contract LeadingZeros {
    function clz(uint256 x) external pure returns (uint256 r) {
        assembly {
            r := clz(x)
        }
    }
}
"""
CLZ_SELECTOR = keccak(b"clz(uint256)")[:4].hex()


def tool_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETH_", "FOUNDRY_", "DAPP_"))}
    (base / "home").mkdir(exist_ok=True)
    env.update(HOME=str(base / "home"), NO_COLOR="1")
    return env


def run(tool: str, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(require_tool(tool)), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=FORGE_TIMEOUT,
    )
    assert proc.returncode == 0, f"{tool} {args}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A Foundry project of a user's: no evm_version in its foundry.toml."""
    require_tool("forge")
    root = tmp_path_factory.mktemp("osaka-project")
    (root / "src").mkdir()
    (root / "src" / "LeadingZeros.sol").write_text(LEADING_ZEROS_SOL)
    (root / "foundry.toml").write_text(
        f'[profile.default]\nsrc = "src"\nout = "out"\nsolc = "{SOLC}"\noffline = true\n'
    )
    run("forge", ["build"], root, tool_env(root))
    artifact = json.loads((root / "out" / "LeadingZeros.sol" / "LeadingZeros.json").read_text())
    assert artifact["metadata"]["settings"]["evmVersion"] == "osaka"  # Foundry's default
    return root


def forge_create(project: Path, url: str) -> str:
    proc = run(
        "forge",
        [
            "create",
            "src/LeadingZeros.sol:LeadingZeros",
            "--rpc-url",
            url,
            "--broadcast",
            "--private-key",
            DEV_KEYS[0],
            "--json",
        ],
        project,
        tool_env(project),
    )
    return json.loads(proc.stdout[proc.stdout.index("{") :])["deployedTo"]


def test_foundry_default_evm_version_deploys_and_calls(project, tmp_path):
    node = start_node([], log_dir=tmp_path)
    try:
        address = forge_create(project, node.url)
        out = run(
            "cast",
            ["call", "--rpc-url", node.url, address, "clz(uint256)(uint256)", "1"],
            project,
            tool_env(project),
        )
        assert out.stdout.strip() == "255"
        assert "Hardfork:     osaka" in node.log()
    finally:
        node.stop()


def test_a_prague_node_names_osaka_and_evm_version(project, tmp_path):
    node = start_node(["--hardfork", "prague"], log_dir=tmp_path)
    try:
        assert "Hardfork:     prague" in node.log()
        address = forge_create(project, node.url)  # deploying runs no CLZ
        answer = node_call_raw(node, address, "0x" + CLZ_SELECTOR + "00" * 31 + "01")
        message = answer["error"]["message"]
        assert "0x1e" in message and "Osaka" in message and "evm_version" in message
        assert node.call("anvil_nodeInfo")["hardFork"] == "prague"
    finally:
        node.stop()


def node_call_raw(node, to: str, data: str, block: str = "latest") -> dict:
    return rpc(node.url, "eth_call", [{"to": to, "data": data}, block])


def forking_genesis(shipped: str, tmp_path: Path) -> Path:
    doc = json.loads((ROOT / "genesis" / shipped).read_text())
    doc["config"]["osakaTime"] = OSAKA_TIME
    doc["alloc"][CLZ_ADDRESS] = {"balance": "0x0", "code": CLZ_CODE}
    path = tmp_path / f"forking-{shipped}"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("shipped", ["l1.json", "l2.json"])
def test_a_chain_forks_to_osaka_at_a_timestamp(shipped, tmp_path):
    args = ["--genesis", str(forking_genesis(shipped, tmp_path))]
    if shipped == "l2.json":
        args += ["--accounts", "1", "--public-controls"]
    node = start_node(args, log_dir=tmp_path)
    try:
        assert f"prague (osaka at {OSAKA_TIME})" in node.log()
        assert node_call_raw(node, CLZ_ADDRESS, WORD_ONE)["error"]["message"].find("Osaka") >= 0
        config = node.call("eth_config")
        assert config["next"]["activationTime"] == OSAKA_TIME
        assert "P256VERIFY" not in config["current"]["precompiles"]
        tx = {"from": DEV_ADDRESSES[0], "to": CLZ_ADDRESS, "data": WORD_ONE, "gas": "0x186a0"}
        before = node.wait_receipt(node.call("eth_sendTransaction", tx))
        node.call("evm_setNextBlockTimestamp", OSAKA_TIME)
        after = node.wait_receipt(node.call("eth_sendTransaction", tx))
        assert (before["status"], after["status"]) == ("0x0", "0x1")
        # eth_call at each block runs under that block's fork.
        at_before = node_call_raw(node, CLZ_ADDRESS, WORD_ONE, before["blockNumber"])
        at_after = node_call_raw(node, CLZ_ADDRESS, WORD_ONE, after["blockNumber"])
        assert "Osaka" in at_before["error"]["message"]
        assert at_after["result"] == CLZ_OF_ONE
        # Traces replay each transaction under its own block's fork.
        trace_before = node.call("debug_traceTransaction", before["transactionHash"])
        trace_after = node.call("debug_traceTransaction", after["transactionHash"])
        assert trace_before["failed"] is True and trace_after["failed"] is False
        assert trace_after["returnValue"].removeprefix("0x") == CLZ_OF_ONE[2:]
        calls = node.call(
            "debug_traceTransaction", before["transactionHash"], {"tracer": "callTracer"}
        )
        assert "invalid opcode" in calls["error"]
        # Proofs at blocks on both sides.
        for receipt in (before, after):
            proof = node.call("eth_getProof", CLZ_ADDRESS, [], receipt["blockNumber"])
            assert proof["codeHash"] == "0x" + keccak(bytes.fromhex(CLZ_CODE[2:])).hex()
            assert proof["accountProof"]
        config = node.call("eth_config")
        assert config["current"]["activationTime"] == OSAKA_TIME and config["next"] is None
        assert "P256VERIFY" in config["current"]["precompiles"]
        assert node.call("anvil_nodeInfo")["hardFork"] == "osaka"
    finally:
        node.stop()


def test_a_transaction_above_the_gas_cap_is_refused_at_the_rpc(tmp_path):
    node = start_node([], log_dir=tmp_path)
    try:
        env = tool_env(tmp_path)
        proc = subprocess.run(
            [
                str(require_tool("cast")),
                "send",
                "--rpc-url",
                node.url,
                "--private-key",
                DEV_KEYS[0],
                "--gas-limit",
                str(2**24 + 1),
                DEV_ADDRESSES[1],
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=FORGE_TIMEOUT,
        )
        assert proc.returncode != 0
        assert "transaction gas limit too high" in proc.stdout + proc.stderr
        answer = rpc(
            node.url,
            "eth_sendTransaction",
            [{"from": DEV_ADDRESSES[0], "to": DEV_ADDRESSES[1], "gas": hex(2**24 + 1)}],
        )
        assert "transaction gas limit too high" in answer["error"]["message"]
        assert node.call("eth_blockNumber") == "0x0"
    finally:
        node.stop()


def test_the_cli_refuses_to_resume_with_another_hardfork(tmp_path):
    import sys

    data_dir = tmp_path / "chain"
    node = start_node(["--data-dir", str(data_dir)], log_dir=tmp_path)
    node.stop()
    proc = subprocess.run(
        [sys.executable, "-m", "rpc.cli", "--data-dir", str(data_dir), "--hardfork", "prague"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "fork schedule" in proc.stdout + proc.stderr
