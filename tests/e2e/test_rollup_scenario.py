"""The native rollup end to end (docs/ROLLUP.md): real L1 and L2 node processes on free loopback
ports, the ``sequencer`` package driving them over JSON-RPC.

``test_the_scenario``: this process is the sequencer and relayer (``sequencer.scenario``):
deploy, deposits (one calling an L2 contract), L2 transfers and contract deployment and
call, every block settled through ``advance`` -> EXECUTE with the L1 hash equal to the L2
hash, a withdrawal claimed on L1 with ``eth_getProof`` data (exact balance change), forged
advances rejected with reasons 10, 8, 8, 7, 7 by mined L1 transactions that move nothing,
claims that must fail, and the escrow identity.

``test_cli_and_forge_script_against_urls``: the rollup deployed by the forge script
``DeployRollup.s.sol`` (``native-rollup deploy`` is tested in test_l2_controls.py),
``native-rollup sequence`` running as its own process, users acting through ``native-rollup deposit``,
``withdraw``, ``prove-withdrawal``, ``claim-withdrawal`` and ``status``, and then the same
scenario in external mode watching that process settle the blocks (the docker-compose path).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from precompiles.execute_wire import execute_gas_cost, execute_input_length
from sequencer.client import ETHER, RpcClient, h2b, h2i, read_jwt_secret
from sequencer.localnet import L2_DEV_ACCOUNTS, L2_DEV_BALANCE_ETH, L2_FUNDING
from sequencer.messages import Message
from sequencer.relayer import is_claimed_on_l2
from sequencer.rollup import MESSENGER, Rollup, RollupInfo
from sequencer.scenario import EXPECTED_REASONS, Scenario, summary
from tests.procs import (
    DEV_ADDRESSES,
    DEV_KEYS,
    ROOT,
    NodeProcess,
    free_port,
    require_tool,
    rpc,
    under_test,
    wait_until,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE"),
]

L2_ARGS = [
    "--genesis",
    "genesis/l2.json",
    "--no-mining",
    "--accounts",
    str(L2_DEV_ACCOUNTS),
    "--balance",
    str(L2_DEV_BALANCE_ETH),
]
CLI_TIMEOUT = 120


@dataclass(frozen=True)
class L2Auth:
    """The L2's authenticated endpoint, where the sequencer mines (its public port has no
    controls)."""

    url: str
    secret: Path

    def client(self) -> RpcClient:
        return RpcClient(self.url, jwt_secret=read_jwt_secret(self.secret))

    def args(self) -> list[str]:
        return ["--l2-auth-url", self.url, "--jwt-secret", str(self.secret)]


@pytest.fixture
def nodes(node_factory, tmp_path) -> tuple[NodeProcess, NodeProcess, L2Auth]:
    l1 = node_factory()
    auth_port, secret = free_port(), tmp_path / "l2.jwt"
    l2 = node_factory(*L2_ARGS, "--auth-port", str(auth_port), "--jwt-secret", str(secret))
    assert int(l2.call("eth_chainId"), 16) == 31338
    return l1, l2, L2Auth(f"http://127.0.0.1:{auth_port}", secret)


def test_the_scenario(nodes, capsys):
    l1, l2, auth = nodes
    started = time.monotonic()
    report = Scenario(l1.url, l2.url, L2_FUNDING, l2_control=auth.client()).run()
    text = summary(report)
    with capsys.disabled():
        print(text)
    assert time.monotonic() - started < 180
    assert report.ok, text

    # 4. every L2 block settled, each with the L2 node's own hash
    head = int(l2.call("eth_blockNumber"), 16)
    assert [s.number for s in report.settlements] == list(range(1, head + 1))
    for number, on_l1, on_l2 in report.hashes_checked:
        assert on_l1 == on_l2 == h2b(l2.call("eth_getBlockByNumber", hex(number), False)["hash"])
    rollup = Rollup(RpcClient(l1.url), h2b(report.rollup.address))
    assert rollup.last_block_number() == head
    assert rollup.last_block_hash() == h2b(l2.call("eth_getBlockByNumber", "latest", False)["hash"])
    for s in report.settlements:
        # the execute fee (output word 6) is what EXECUTE charged at the L1 block's price
        assert s.execute_fee == s.l2_gas_used * s.execute_base_fee
        input_length = execute_input_length(s.transactions_bytes, s.witness_bytes)
        assert s.gas.execute == execute_gas_cost(input_length)
        assert s.gas.total >= 21_000 + s.gas.execute
        assert s.burned_fees > 0 and s.witness_bytes > 0
        if s.gas.floor_binds:
            assert s.gas.total == 21_000 + s.gas.calldata_floor
        else:
            assert s.gas.total == 21_000 + s.gas.calldata_standard + s.gas.execute + s.gas.logic
    # the split's EXECUTE figure is what the precompile call really used (callTracer)
    answer = rpc(
        l1.url, "debug_traceTransaction", [report.settlements[0].l1_tx, {"tracer": "callTracer"}]
    )
    if answer.get("error", {}).get("code") != -32601:  # a node without tracing skips this
        (execute_frame,) = [c for c in answer["result"]["calls"] if int(c["to"], 16) == 0x101]
        assert int(execute_frame["gasUsed"], 16) == report.settlements[0].gas.execute

    # 5. Alice's withdrawal: exactly 1 ETH minus her L1 gas
    w = report.alice_withdrawal
    assert w["after"] - w["before"] == ETHER - w["gas"]

    # 6. forged blocks: mined, reverted with the reason, state unchanged, fee still charged
    assert [(f.name, f.got.args[0]) for f in report.forgeries] == list(EXPECTED_REASONS.items())
    for forgery in report.forgeries:
        assert not forgery.simulated and forgery.tx_status == 0 and forgery.state_unchanged
        assert forgery.execute_fee_paid and forgery.execute_fee_paid > 0

    # 7. claims that must fail
    expected = {
        "L2": [
            "AlreadyDone",
            "InvalidMessageProof",
            "InvalidMessageProof",
            "InvalidMessageProof",
            "UnknownAnchor",
        ],
        "L1": ["L2BlockNotSettled", "AlreadyClaimed", "TrieProofTraversalError", "MessageNotSent"],
    }
    for layer, names in expected.items():
        got = [c.got.name for c in report.failed_claims if c.layer == layer]
        assert got == names, (layer, got)

    # 8. escrow == L2 circulation + messages in flight, and it is the contract's balance
    e = report.escrow
    assert e is not None and e.ok
    assert e.deposits_in_flight == ETHER  # Bob's fee-less message, left for him to claim
    assert e.withdrawals_in_flight == ETHER // 2  # Alice's second withdrawal
    assert e.circulating == (e.messenger_supply + L2_FUNDING - e.burned - e.messenger_balance)
    assert int(l1.call("eth_getBalance", report.rollup.address, "latest"), 16) == e.escrowed
    assert "RESULT: all checks passed" in text


# -- the CLI and the forge script against plain URLs --------------------------------------------


def native_rollup(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "native-rollup"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "sequencer.cli"]
    proc = subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, f"native-rollup {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def deploy_with_forge(l1: NodeProcess, l2: NodeProcess, tmp_path: Path) -> RollupInfo:
    """``forge script DeployRollup.s.sol --broadcast --skip-simulation`` with the L2 genesis."""
    genesis = l2.call("eth_getBlockByNumber", "0x0", False)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETH_", "FOUNDRY_"))}
    env.update(
        HOME=str(home),
        NO_COLOR="1",
        FOUNDRY_OFFLINE="true",
        FOUNDRY_OUT=str(tmp_path / "out"),
        FOUNDRY_CACHE_PATH=str(tmp_path / "cache"),
        FOUNDRY_BROADCAST=str(tmp_path / "broadcast"),
        DEPLOYER_PRIVATE_KEY=DEV_KEYS[0],
        L2_GENESIS_HASH=genesis["hash"],
        L2_GENESIS_STATE_ROOT=genesis["stateRoot"],
        L2_CHAIN_ID="31338",
        L2_GAS_LIMIT=str(int(genesis["gasLimit"], 16)),
        INITIAL_ESCROW_WEI=str(L2_FUNDING),
    )
    proc = subprocess.run(
        [
            str(require_tool("forge")),
            "script",
            "contracts/script/DeployRollup.s.sol:DeployRollup",
            "--rpc-url",
            l1.url,
            "--broadcast",
            "--skip-simulation",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert "ONCHAIN EXECUTION COMPLETE & SUCCESSFUL" in proc.stdout, proc.stdout + proc.stderr
    record = json.loads(
        (tmp_path / "broadcast" / "DeployRollup.s.sol" / "31337" / "run-latest.json").read_text()
    )
    (receipt,) = record["receipts"]
    assert receipt["status"] == "0x1"
    return RollupInfo(
        address=receipt["contractAddress"].lower(),
        deploy_block=int(receipt["blockNumber"], 16),
        l1_chain_id=31337,
        l2_chain_id=31338,
        l2_genesis_hash=genesis["hash"],
        sequencer=DEV_ADDRESSES[0].lower(),
        initial_escrow=L2_FUNDING,
    )


# forge compiles DeployRollup.s.sol through scripts/solc, which runs solcjs under Node
@pytest.mark.requires_tools("forge", "node", "solcjs")
def test_cli_and_forge_script_against_urls(nodes, tmp_path):
    l1, l2, auth = nodes
    urls = ["--l1", l1.url, "--l2", l2.url]
    rollup_file = tmp_path / "rollup.json"
    info = deploy_with_forge(l1, l2, tmp_path)
    info.save(rollup_file)
    rollup = h2b(info.address)
    l1_rpc, l2_rpc = RpcClient(l1.url), RpcClient(l2.url)
    assert l1_rpc.balance(rollup) == L2_FUNDING
    files = ["--rollup-file", str(rollup_file)]
    status = json.loads(native_rollup("status", *urls, *files).stdout)
    assert status["consistent"] and status["lastBlockNumber"] == 0

    log_path = tmp_path / "sequencer.log"
    script = Path(sys.executable).parent / "native-rollup"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "sequencer.cli"]
    with open(log_path, "wb") as log_file:
        sequencer = subprocess.Popen(
            [*cmd, "sequence", *urls, *auth.args(), *files, "--interval", "0.3"],
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        # a user on L1 (dev key 3) deposits 2 ETH to itself on L2, paying the relayer
        user, user_key = DEV_ADDRESSES[3], DEV_KEYS[3]
        key = ["--key", user_key]
        out = json.loads(
            native_rollup("deposit", *urls, *files, *key, "--value", "2", "--fee", "0.001").stdout
        )
        deposit = Message.from_json(out["message"])
        wait_until(
            lambda: is_claimed_on_l2(l2_rpc, deposit),
            "the relayer to claim the deposit",
            timeout=60,
            interval=0.2,
        )
        assert l2_rpc.balance(user) == 2 * ETHER

        # withdraw 0.5 ETH (the CLI waits for the sequencer to include it), then claim on L1
        out = json.loads(native_rollup("withdraw", *urls, *key, "--value", "0.5").stdout)
        message = Message.from_json(out["message"])
        assert message.value == ETHER // 2 and message.to == h2b(user)
        wait_until(
            lambda: (
                json.loads(native_rollup("status", *urls, *files).stdout)["lastBlockNumber"]
                >= out["l2Block"]
            ),
            "the withdrawal block to settle",
            timeout=60,
            interval=0.2,
        )
        proof = json.loads(
            native_rollup("prove-withdrawal", *urls, *files, "--index", str(message.index)).stdout
        )
        assert proof["accountProof"] and proof["storageProof"]
        before = l1_rpc.balance(user)
        out = json.loads(
            native_rollup(
                "claim-withdrawal", *urls, *files, *key, "--index", str(message.index)
            ).stdout
        )
        receipt = l1_rpc.receipt(out["l1Tx"])
        paid = h2i(receipt["gasUsed"]) * h2i(receipt["effectiveGasPrice"])
        assert l1_rpc.balance(user) - before == ETHER // 2 - paid

        # the scenario against the running sequencer (what the compose `demo` service does)
        report = Scenario(l1.url, l2.url, L2_FUNDING, info, external=True).run()
        print(summary(report))
        assert report.ok
        assert all(f.simulated for f in report.forgeries)
        status = json.loads(native_rollup("status", *urls, *files).stdout)
        assert status["consistent"]
        assert status["lastBlockNumber"] == int(l2.call("eth_blockNumber"), 16)
        assert l1_rpc.balance(rollup) == int(status["escrowed"])
        assert l2_rpc.balance(MESSENGER) < 1_000_000 * ETHER
    finally:
        if sequencer.poll() is None:
            os.kill(sequencer.pid, signal.SIGTERM)
            try:
                sequencer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(sequencer.pid, signal.SIGKILL)
                sequencer.wait()
    assert sequencer.returncode == 0, log_path.read_text()
    assert "settled L2 block" in log_path.read_text()
