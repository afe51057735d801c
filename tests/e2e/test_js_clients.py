"""ethers 6 and viem 2 (pinned in package.json) against the node, run by Node.

Each script in tests/js/ runs a list of checks against one node, prints a JSON summary on
stdout and exits non-zero when a check fails (node:assert). The same scripts run against
anvil 1.7.1, which shows that they describe standard behaviour: where the two legitimately
differ the script says so and asserts ours. A check marked ``knownDefect`` in a script is a
native-devnet defect reported to the owner of the code (it must pass on anvil).

- ``ethers_flows.mjs``: the flows of test_web3.py through JsonRpcProvider, JsonRpcSigner,
  Wallet, ContractFactory, Contract, getLogs, waitForTransaction; an EIP-7702 authorization.
- ``viem_flows.mjs``: the same through viem's public and wallet clients (JSON-RPC and local
  accounts), signAuthorization + sendTransaction.
- ``viem_test_actions.mjs``: viem's test client (mode 'anvil'): mine, setBalance,
  snapshot/revert, impersonation, increaseTime / setNextBlockTimestamp then mine,
  setBlockGasLimit, setNextBlockBaseFeePerGas, setCoinbase, dropTransaction,
  dumpState/loadState.
"""

from __future__ import annotations

import json
import subprocess
import warnings

import pytest

from devtools.contracts import load
from tests.procs import (
    DEV_KEYS,
    DEV_MNEMONIC,
    ROOT,
    require_tool,
    start_anvil,
    start_node,
)

pytestmark = [pytest.mark.e2e, pytest.mark.requires_tools("node", "anvil", "ethers", "viem")]

JS_DIR = ROOT / "tests" / "js"
SCRIPTS = ["ethers_flows.mjs", "viem_flows.mjs", "viem_test_actions.mjs"]
TARGETS = ["native-devnet", "anvil"]
SCRIPT_TIMEOUT = 120  # seconds; a script takes a few on this machine


def _dev_accounts() -> list[str]:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address
        for i in range(10)
    ]


def write_fixture(path, target: str) -> None:
    """What a script needs besides the URL: the target, dev accounts and keys, Counter."""
    counter = load("Counter")
    path.write_text(
        json.dumps(
            {
                "target": target,
                "mnemonic": DEV_MNEMONIC,
                "accounts": _dev_accounts(),
                "keys": DEV_KEYS,
                "counter": {
                    "abi": counter.abi,
                    "bytecode": counter.bytecode,
                    "deployedBytecode": counter.deployed_bytecode,
                },
            }
        )
    )


def run_script(script: str, url: str, fixture) -> tuple[subprocess.CompletedProcess, dict | None]:
    proc = subprocess.run(
        [str(require_tool("node")), str(JS_DIR / script), url, str(fixture)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    lines = proc.stdout.strip().splitlines()
    summary = None
    if lines:
        try:
            summary = json.loads(lines[-1])
        except json.JSONDecodeError:
            summary = None
    return proc, summary


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("script", SCRIPTS)
def test_js_client_script(script, target, tmp_path):
    fixture = tmp_path / "fixture.json"
    write_fixture(fixture, target)
    if target == "anvil":
        node = start_anvil(log_dir=tmp_path)
    else:  # ours, whatever DEVNET_UNDER_TEST says: the target names the program
        node = start_node(log_dir=tmp_path, program="native-devnet")
    try:
        proc, summary = run_script(script, node.url, fixture)
    finally:
        node.stop()
    report = f"exit {proc.returncode}\n--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}"
    assert proc.returncode == 0, report
    assert summary is not None, report
    assert summary["suite"] and summary["target"] == target, report
    assert summary["failed"] == 0, report
    assert summary["passed"] >= 5, report
    if target == "anvil":  # a known defect of ours is standard behaviour: anvil passes it
        assert summary["xfailed"] == summary["xpassed"] == 0, report
    for result in summary["results"]:  # shown in pytest's warnings summary
        if result["status"] == "xfail":
            message = f"{script}: known defect: {result['check']}: {result['error']}"
            warnings.warn(message, stacklevel=1)
        elif result["status"] == "xpass":
            message = f"{script}: passes now, drop its knownDefect: {result['check']}"
            warnings.warn(message, stacklevel=1)
