"""The dashboard at ``GET /`` in headless Chromium (tests/js/dashboard.mjs, puppeteer-core
driving the system browser) against real nodes.

The main run: an L2 node and an L1 node started with ``--rollup-deployment FILE
--rollup-l2-url L2``; the rollup is deployed and the sequencer settles L2 blocks through
``advance`` (EXECUTE traffic on the L1), a withdrawal is settled but not claimed and a last
deposit waits for an anchor. The page must render; its market charts hold one point per
block with exactly ``execute_feeHistory``'s values (the charts' own data arrays); a block
mined by the driver (not the page) appears without a reload; every request the page sends
(WebSocket frames read through the DevTools protocol, HTTP requests) names a read method;
the rollup panel shows each settled block with its hash checked against the L2 node.

Then: an L2 URL nobody listens on, and a deployment file that does not exist, are messages
in the rollup panel. ``DASHBOARD_SCREENSHOT=docs/dashboard.png`` also writes the README's
screenshot (by default it goes to the test's temporary directory).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from eth_account import Account

from rpc import dashboard, exposure
from sequencer.advance import fetch_advance_input
from sequencer.client import ETHER, RpcClient, Signer, checksum, h2b, read_jwt_secret
from sequencer.forced import entry_from_receipt, force_include
from sequencer.localnet import L2_DEV_ACCOUNTS, L2_DEV_BALANCE_ETH, L2_FUNDING
from sequencer.optimistic import BlockBuilder, L2Head, OptimisticRollup
from sequencer.relayer import Relayer, withdraw
from sequencer.rollup import RollupInfo, deploy_rollup
from sequencer.scenario import ALICE_KEY, SEQUENCER_KEY
from sequencer.sequencer import Sequencer
from tests.e2e.test_execute_market import (  # the tight market and its real L2 block
    CALL_GAS,
    L1_CHAIN_ID,
    TIGHT_LIMIT,
    TIGHT_TARGET,
    call_data,
    deploy_caller,
    l2_inputs,  # noqa: F401  (the fixture)
)
from tests.e2e.test_execute_market import Signer as MarketSigner
from tests.procs import (
    DEV_ADDRESSES,
    DEV_KEYS,
    ROOT,
    free_port,
    require_tool,
    run_native_rollup,
    start_node,
    under_test,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE nor dashboard"),
    pytest.mark.requires_tools("node", "chromium", "puppeteer-core"),
]

BROWSER_TIMEOUT = 180  # seconds for one browser run
DEMO_TIMEOUT = 300  # seconds for make demo's scenario to reach its dashboards
CHALLENGE_WINDOW = 50  # L1 blocks an optimistic proposal stays challengeable
EXECUTE_TARGET = 100_000  # execute gas per L1 block the fee steers towards (default 5M)
L2_ARGS = [
    "--genesis",
    "genesis/l2.json",
    "--no-mining",
    "--accounts",
    str(L2_DEV_ACCOUNTS),
    "--balance",
    str(L2_DEV_BALANCE_ETH),
]
# What this test accepts from the page: reads only, written here rather than taken from the
# page or rpc.dashboard so that a write added there fails here.
READ_ONLY = frozenset(
    {
        "eth_chainId",
        "eth_blockNumber",
        "eth_accounts",
        "eth_getBalance",
        "eth_getCode",
        "eth_getBlockByNumber",
        "eth_getBlockReceipts",
        "eth_getTransactionByHash",
        "eth_getTransactionReceipt",
        "eth_getLogs",
        "eth_call",
        "eth_subscribe",
        "eth_unsubscribe",
        "web3_clientVersion",
        "txpool_status",
        "txpool_content",
        "execute_params",
        "execute_feeHistory",
        "execute_transactionStatus",
        "execute_disagreements",
    }
)


def open_dashboard(url: str, *options: str, refused: str | None = None) -> dict:
    """The driver's report; ``refused``: a URL whose refused connections the browser may log."""
    proc = subprocess.run(
        [
            str(require_tool("node")),
            str(ROOT / "tests" / "js" / "dashboard.mjs"),
            url,
            str(require_tool("chromium")),
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
    )
    report = f"exit {proc.returncode}\n--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}"
    assert proc.returncode == 0, report
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["pageErrors"] == [] and "page" in out, report
    errors = [line for line in out["console"] if line.startswith("error")]
    if refused is not None:
        expected = "error: Failed to load resource: net::ERR_CONNECTION_REFUSED"
        errors = [line for line in errors if line != expected]
        assert all(f" {refused}/: " in r for r in out["failedRequests"]), report
    else:
        assert out["failedRequests"] == [], report
    assert not errors, report
    assert out["page"]["errors"] == [], report
    return out


def assert_read_only(out: dict, node_url: str, l2_url: str | None = None) -> None:
    """Every WebSocket frame and HTTP request the page sent is a read."""
    assert out["wsSent"], out  # the feed was used
    assert set(out["wsSent"]) <= READ_ONLY, set(out["wsSent"]) - READ_ONLY
    for request in out["http"]:
        if request["method"] == "GET":
            assert request["url"] == node_url + "/" or request["url"].startswith(
                node_url + "/dashboard/"
            ), request
            assert request["rpc"] == [], request
        else:
            assert request["method"] in ("POST", "OPTIONS") and l2_url, request
            assert request["url"].rstrip("/") == l2_url.rstrip("/"), request
            assert set(request["rpc"]) <= READ_ONLY, request


def test_the_test_allow_list_holds_no_write():
    writes = {"eth_sendTransaction", "eth_sendRawTransaction", "eth_sign", "eth_signTransaction"}
    assert not READ_ONLY & writes
    assert not [m for m in READ_ONLY if exposure.is_control(m)]
    assert set(dashboard.READ_METHODS) == READ_ONLY  # the node's list is the test's


@pytest.fixture(scope="module")
def rollup_nodes(tmp_path_factory):
    """(l1, l2, deployment file, settled count, forced entry) with EXECUTE traffic on the L1."""
    logs = tmp_path_factory.mktemp("dashboard")
    secret = logs / "l2.jwt"
    auth_port = free_port()
    l2 = start_node([*L2_ARGS, "--auth-port", str(auth_port), "--jwt-secret", str(secret)], logs)
    deployment = logs / "rollup.json"
    l1 = None
    try:
        # a target below one settlement's execute gas: the fee visibly moves both ways
        market = ["--execute-gas-target", str(EXECUTE_TARGET)]
        rollup_flags = ["--rollup-deployment", str(deployment), "--rollup-l2-url", l2.url]
        l1 = start_node([*market, *rollup_flags], logs)
        l1_rpc, l2_rpc = RpcClient(l1.url), RpcClient(l2.url)
        sequencer_l1 = Signer.from_key(l1_rpc, SEQUENCER_KEY)
        rollup, info, _ = deploy_rollup(sequencer_l1, l2_rpc, sequencer_l1.address, L2_FUNDING)
        info.save(deployment)
        relayer = Relayer(rollup, l2_rpc, Signer.from_key(l2_rpc, SEQUENCER_KEY), min_fee=1)
        control = RpcClient(f"http://127.0.0.1:{auth_port}", jwt_secret=read_jwt_secret(secret))
        sequencer = Sequencer(
            rollup, l2_rpc, sequencer_l1, relayer, control=control, measure_execution=False
        )
        alice_l1 = Signer.from_key(l1_rpc, ALICE_KEY)
        rollup.deposit(alice_l1, alice_l1.address, 2 * ETHER, ETHER // 100)
        sequencer.step(force=True)  # anchor, claim on L2, settle
        withdraw(Signer.from_key(l2_rpc, ALICE_KEY), alice_l1.address, ETHER // 10, wait=False)
        sequencer.step(force=True)  # the withdrawal's block, settled, not claimed on L1
        sequencer.step(force=True)
        rollup.deposit(alice_l1, alice_l1.address, ETHER // 2)  # waits for an anchor
        # an L2 transaction forced in through the L1, not due yet
        l2_tx = Account.sign_transaction(
            {
                "chainId": 31338,
                "nonce": 7,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
                "gas": 21_000,
                "to": checksum(alice_l1.address),
                "value": 1,
            },
            ALICE_KEY,
        ).raw_transaction
        forced = entry_from_receipt(rollup, force_include(alice_l1, rollup, bytes(l2_tx)))
        yield l1, l2, deployment, rollup.last_block_number(), forced
    finally:
        if l1 is not None:
            l1.stop()
        l2.stop()


def test_the_dashboard_follows_the_chain_market_and_rollup(rollup_nodes, tmp_path):
    l1, l2, _, settled, forced = rollup_nodes
    assert settled >= 3
    shot = Path(os.environ.get("DASHBOARD_SCREENSHOT") or tmp_path / "dashboard.png")
    out = open_dashboard(f"{l1.url}/", "--mine", l1.url, "--rollup", "--screenshot", str(shot))
    page = out["page"]

    # a new block without a reload: mined by the driver, shown by the newHeads feed
    assert out["navigations"] == 1, out["navigations"]
    assert out["afterMine"]["head"] == out["first"]["head"] + 1
    assert out["afterMine"]["rows"][0] == out["first"]["head"] + 1
    assert out["afterMine"]["heads"] >= 1
    assert page["head"] == int(l1.call("eth_blockNumber"), 16)

    # EXECUTE's verifiers (NR-EXECUTE v1.2): py-evm alone here, each settlement one call
    assert page["verifiers"] == "EXECUTE verifiers pyevm (all) · disagreements 0"
    # the market: one point per block, the values execute_feeHistory gives for those blocks
    charts = page["charts"]
    labels = charts["labels"]
    assert labels == list(range(labels[0], labels[-1] + 1)) and labels[-1] == page["head"]
    assert charts["gasLabels"] == labels
    history = l1.call("execute_feeHistory", hex(len(labels)), hex(labels[-1]))
    assert int(history["oldestBlock"], 16) == labels[0]
    assert charts["fee"] == [int(x, 16) for x in history["executeBaseFeePerGas"][:-1]]
    assert charts["gas"] == [int(x, 16) for x in history["executeGasUsed"]]
    # each advance's L1 block used the settled L2 block's gas as execute gas (valid calls)
    for s in page["rollup"]["settled"]:
        assert charts["gas"][labels.index(s["l1Block"])] == s["gasUsed"], (charts, s)
    assert any(gas > 0 for gas in charts["gas"])
    market = l1.call("execute_params")
    assert set(charts["target"]) == {int(market["cumulativeGasTarget"], 16)} == {EXECUTE_TARGET}
    assert set(charts["limit"]) == {int(market["cumulativeGasLimit"], 16)}
    assert charts["deferred"][-1] == 0  # sampled at the head the page saw: nothing deferred

    # the read-only page
    assert_read_only(out, l1.url, l2.url)
    assert any(r["method"] == "POST" for r in out["http"])  # it did check the L2

    # the rollup panel: every settled block, hash checked against the L2 node
    rollup = page["rollup"]
    assert rollup["l2Checked"] is True and rollup["l2Error"] is None
    assert [s["number"] for s in rollup["settled"]] == list(range(settled, 0, -1))
    for s in rollup["settled"]:
        assert s["hash"] == l2.call("eth_getBlockByNumber", hex(s["number"]), False)["hash"]
    assert len(page["settledRows"]) == settled
    assert all("✓ same hash" in row for row in page["settledRows"]), page["settledRows"]
    assert rollup["inFlight"] == 2  # the withdrawal not claimed, the deposit not anchored
    assert page["messages"] == {"error": None, "rollup": None, "rollupL2": None}

    # v2: the forced-inclusion queue holds the entry, not yet due
    assert rollup["kind"] == "settled"
    (entry,) = rollup["forced"]["entries"]
    assert entry["index"] == forced.index == 0
    assert h2b(entry["txHash"]) == forced.tx_hash
    assert entry["dueBlock"] == forced.due_block > page["head"]
    in_blocks = forced.due_block - page["head"]
    assert entry["state"] == f"due at L1 #{forced.due_block} (in {in_blocks})"
    facts = rollup["forced"]["facts"]
    assert (facts["queued"], facts["waiting"], facts["due now"]) == ("1", "1", "0")
    assert facts["settles"] == "sequencer only" and facts["fallback"] == "closed"
    assert page["accounts"] == 10
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unreachable_l2_url_is_a_clear_message(rollup_nodes, tmp_path):
    """An L1 serving the same deployment file (no such contract on its own chain) with an L2
    URL nobody listens on: both are said in words; the rest of the page works."""
    _, _, deployment, _, _ = rollup_nodes
    dead = f"http://127.0.0.1:{free_port()}"
    l1 = start_node(["--rollup-deployment", str(deployment), "--rollup-l2-url", dead], tmp_path)
    try:
        out = open_dashboard(f"{l1.url}/", "--rollup-l2-message", refused=dead)
        messages = out["page"]["messages"]
        assert messages["rollupL2"].startswith(f"The L2 node at {dead} is unreachable")
        assert "settled hashes are not checked" in messages["rollupL2"]
        assert messages["rollup"].startswith("Cannot read the rollup: no contract at 0x")
        assert messages["error"] is None
        assert out["page"]["head"] == 0 and out["page"]["charts"]["labels"] == [0]
        assert_read_only(out, l1.url, dead)
    finally:
        l1.stop()


def test_a_missing_deployment_file_is_a_clear_message(tmp_path):
    missing = tmp_path / "no-such-rollup.json"
    l1 = start_node(["--rollup-deployment", str(missing)], tmp_path)
    try:
        out = open_dashboard(f"{l1.url}/")
        page = out["page"]
        assert page["rollupVisible"] is True
        assert page["messages"]["rollup"] == (
            f"rollup deployment file {missing} does not exist (yet)"
        )
        assert page["rollup"] is None
        assert_read_only(out, l1.url)
    finally:
        l1.stop()


def test_a_deferred_execute_call_is_shown_then_mined(node_factory, l2_inputs):  # noqa: F811
    """A tight market (test_execute_market's): of two EXECUTE calls one is mined, the other
    deferred; the page shows it deferred and counts it, then mined once the next block takes
    it (mined by the driver, seen through newHeads)."""
    node = node_factory(
        "--execute-gas-limit",
        str(TIGHT_LIMIT),
        "--execute-gas-target",
        str(TIGHT_TARGET),
        "--no-mining",
    )
    caller = deploy_caller(node, manual=True)
    signer = MarketSigner(node, L1_CHAIN_ID)
    data = call_data(l2_inputs["valid"])
    first = signer.send(DEV_KEYS[1], caller, data, gas=CALL_GAS)
    second = signer.send(DEV_KEYS[2], caller, data, gas=CALL_GAS)
    node.call("evm_mine")
    assert node.call("execute_transactionStatus", second)["status"] == "deferred"
    out = open_dashboard(f"{node.url}/", "--mine", node.url)
    before, after = out["first"], out["afterMine"]
    assert before["txStatus"][first] == "success"
    assert before["txStatus"][second] == "deferred"
    assert before["deferred"][-1] == 1  # at the head the page opened on
    assert after["head"] == before["head"] + 1
    assert after["txStatus"][second] == "success"
    assert after["deferred"][-2:] == [1, 0]
    assert out["navigations"] == 1
    assert_read_only(out, node.url)


def test_a_reverted_chain_is_read_again(node_factory):
    """The page holds the blocks it fetched; cut off while the chain is reverted and regrown
    to a height it had seen, it reconnects and shows the node's blocks, not its old copies."""
    node = node_factory()
    snapshot = node.call("evm_snapshot")
    for _ in range(3):
        node.call("evm_mine")
    transfer = {"from": DEV_ADDRESSES[0], "to": DEV_ADDRESSES[1], "value": "0x1"}
    calls = [["evm_revert", [snapshot]], ["eth_sendTransaction", [transfer]], ["evm_mine", []]]
    out = open_dashboard(f"{node.url}/", "--calls", node.url, json.dumps(calls), "--offline")
    assert out["first"]["rows"] == [3, 2, 1, 0]
    assert out["calls"][0] is True
    after = out["afterCalls"]
    assert after["rows"] == [2, 1, 0]
    node_hashes = [node.call("eth_getBlockByNumber", hex(n), False)["hash"] for n in (2, 1, 0)]
    assert after["hashes"] == node_hashes
    assert after["hashes"][0] != out["first"]["hashes"][1]  # blocks 2 and 1 were replaced
    assert after["hashes"][1] != out["first"]["hashes"][2]
    assert_read_only(out, node.url)


def test_an_l2_page_shows_each_blocks_l1_anchor(rollup_nodes):
    _, l2, _, _, _ = rollup_nodes
    out = open_dashboard(f"{l2.url}/")
    page = out["page"]
    assert page["marketVisible"] is False and page["rollupVisible"] is False
    assert page["charts"] is None  # no EXECUTE market on an L2
    rows = out["first"]["rows"]
    assert rows == list(range(int(l2.call("eth_blockNumber"), 16), -1, -1))
    anchored = 0
    for number, shown in zip(rows, page["anchors"], strict=True):
        root = l2.call("eth_getBlockByNumber", hex(number), False)["parentBeaconBlockRoot"]
        if int(root, 16) == 0:
            assert shown == "none"
        else:
            assert shown == f"{root[:10]}…{root[-4:]}", (number, shown, root)
            anchored += number > 0
    assert anchored >= 1  # the sequencer anchored the L1 message root
    assert_read_only(out, l2.url)


def test_an_optimistic_rollup_shows_its_proposals_and_windows(tmp_path):
    """v2's optimistic mode (native-rollup propose/watch, as tests/e2e/test_rollup_optimistic.py
    drives them): block 1 proposed honestly, block 2 forged and discarded by the watcher's
    challenge. The panel lists both, with the challenge window and the discard."""
    rollup_file = tmp_path / "optimistic.json"
    secret, auth_port = tmp_path / "l2.jwt", free_port()
    l2 = start_node(
        [*L2_ARGS, "--auth-port", str(auth_port), "--jwt-secret", str(secret)], tmp_path
    )
    l1 = None
    try:
        flags = ["--rollup-deployment", str(rollup_file), "--rollup-l2-url", l2.url]
        l1 = start_node(flags, tmp_path)
        urls = ["--l1", l1.url, "--l2", l2.url]
        auth = ["--l2-auth-url", f"http://127.0.0.1:{auth_port}", "--jwt-secret", str(secret)]
        l1_rpc, l2_rpc = RpcClient(l1.url), RpcClient(l2.url)
        sequencer_l2 = Signer.from_key(l2_rpc, SEQUENCER_KEY)
        sequencer_l2.submit(h2b("0x" + "22" * 20), b"", ETHER // 1000, gas=21_000)
        escrow = str(L2_FUNDING // ETHER)
        done = run_native_rollup(
            *("propose", *urls, *auth, "--rollup-file", str(rollup_file), "--deploy"),
            *("--initial-escrow", escrow, "--challenge-window", str(CHALLENGE_WINDOW), "--once"),
        )
        assert done.returncode == 0, done.stderr
        info = RollupInfo.load(rollup_file)
        rollup = OptimisticRollup(l1_rpc, h2b(info.address), info.deploy_block)
        sequencer_l2.submit(h2b("0x" + "22" * 20), b"", ETHER // 1000, gas=21_000)
        relayer = Relayer(rollup, l2_rpc, sequencer_l2, min_fee=1)
        control = RpcClient(f"http://127.0.0.1:{auth_port}", jwt_secret=read_jwt_secret(secret))
        block = BlockBuilder(rollup, l2_rpc, relayer, control).produce_block(force=True)
        while int(l1.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16) < int(
            block["timestamp"], 16
        ):
            l1.call("evm_mine")
        inp = fetch_advance_input(l2_rpc, int(block["number"], 16))
        signer = Signer.from_key(l1_rpc, SEQUENCER_KEY)
        rollup.propose(signer, inp, L2Head.of_input(inp).replace(gas_used=inp.gas_used + 1))
        watched = run_native_rollup(
            "watch", *urls, "--rollup-file", str(rollup_file), "--key", DEV_KEYS[3], "--once"
        )
        assert watched.returncode == 0, watched.stderr
        assert rollup.last_proposed_number() == 1

        out = open_dashboard(f"{l1.url}/", "--rollup")
        page = out["page"]
        panel = page["rollup"]
        assert panel["kind"] == "optimistic" and panel["forced"] is None
        assert [p["number"] for p in panel["settled"]] == [2, 1]
        forged, honest = panel["settled"]
        assert forged["state"] == "discarded (challenged)"
        proposed_at = rollup.proposal(1).proposed_at
        assert honest["l1Block"] == proposed_at
        assert not rollup.is_finalized(1)
        closes = proposed_at + CHALLENGE_WINDOW
        assert honest["state"] == f"challengeable until L1 #{closes} ({closes - page['head']} more)"
        assert honest["hash"] == l2.call("eth_getBlockByNumber", "0x1", False)["hash"]
        assert "✓ same hash" in page["settledRows"][1]
        assert page["messages"] == {"error": None, "rollup": None, "rollupL2": None}
        assert_read_only(out, l1.url, l2.url)
    finally:
        if l1 is not None:
            l1.stop()
        l2.stop()


def test_demo_keep_running_leaves_the_nodes_up_with_their_dashboards(tmp_path):
    """`make demo ARGS=--keep-running`: after the scenario both nodes answer, each URL printed
    serves the dashboard (the L1's with the rollup the demo deployed and the L2's URL), and
    SIGINT stops the demo and both nodes."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--keep-running"]
        + ["--log-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    watchdog = threading.Timer(DEMO_TIMEOUT, proc.kill)  # a demo that never gets there
    watchdog.start()
    try:
        for line in proc.stdout:  # the demo prints the dashboards once the scenario is done
            lines.append(line)
            if line.startswith("Ctrl-C stops both nodes"):
                break
        text = "".join(lines)
        assert "RESULT: all checks passed" in text, text
        l1_url = re.search(r"L1 \(EXECUTE market, rollup panel\): (\S+)/\n", text).group(1)
        l2_url = re.search(r"L2 \(blocks and their L1 anchors\): +(\S+)/\n", text).group(1)
        for url in (l1_url, l2_url):
            with urllib.request.urlopen(f"{url}/", timeout=30) as page:
                assert page.status == 200 and b"/dashboard/dashboard.js" in page.read()
        with urllib.request.urlopen(f"{l1_url}/dashboard/config.json", timeout=30) as answer:
            config = json.load(answer)
        info = RollupInfo.load(tmp_path / "rollup.json")
        assert config["rollup"]["address"] == info.address.lower()
        assert config["l2Url"] == l2_url and config["rollupError"] is None
    finally:
        watchdog.cancel()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, "".join(lines) + proc.stdout.read()
    for url in (l1_url, l2_url):
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{url}/", timeout=5)
