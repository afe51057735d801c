"""EXECUTE's verifiers on real node processes (NR-EXECUTE v1.2).

- ``test_a_lying_verifier_fails_the_advance_with_reason_12``: an L1 started with
  ``--execute-verifiers pyevm,liar`` (a test-only verifier loaded through
  ``NATIVE_DEVNET_TEST_VERIFIER``: honest on the start-up self-test, the opposite verdict on
  anything else). The sequencer's advance of a valid L2 block is mined and fails with
  ``ExecuteInvalid(12)``; the execute fee is charged as for any invalid block; the rollup
  contract stays at block 0; ``execute_disagreements`` lists both verdicts.
- ``test_both_verifiers_settle_the_scenario``: the rollup scenario (deposits, transfers, a
  contract, withdrawals, forged advances) on an L1 running ``pyevm,eels`` in ``all`` mode:
  every block settles, no disagreement, each verifier's time over RPC.
- a node refuses a set that fails its self-test, with a clear message.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from precompiles.execute_wire import Reason
from precompiles.verifiers.policy import TEST_VERIFIER_ENV
from sequencer.client import RpcClient, Signer, b2h, h2i
from sequencer.localnet import L2_FUNDING
from sequencer.rollup import deploy_rollup
from sequencer.scenario import SEQUENCER_KEY, Scenario, summary
from sequencer.sequencer import Sequencer
from tests.e2e.test_rollup_scenario import L2_ARGS, L2Auth
from tests.procs import DEV_KEYS, ROOT, free_port, start_node, under_test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE"),
]

ADVANCE_GAS = 5_000_000


@pytest.fixture
def l2(node_factory, tmp_path):
    auth_port, secret = free_port(), tmp_path / "l2.jwt"
    node = node_factory(*L2_ARGS, "--auth-port", str(auth_port), "--jwt-secret", str(secret))
    return node, L2Auth(f"http://127.0.0.1:{auth_port}", secret)


def test_a_lying_verifier_fails_the_advance_with_reason_12(node_factory, l2, monkeypatch):
    monkeypatch.setenv(TEST_VERIFIER_ENV, "liar=tests.lying_verifier:Liar")
    l1 = node_factory("--execute-verifiers", "pyevm,liar")
    l2_node, auth = l2
    l1_rpc, l2_rpc = RpcClient(l1.url), RpcClient(l2_node.url)
    seq_l1 = Signer.from_key(l1_rpc, SEQUENCER_KEY)
    rollup, _, _ = deploy_rollup(seq_l1, l2_rpc, seq_l1.address, L2_FUNDING)
    seq = Sequencer(rollup, l2_rpc, seq_l1, control=auth.client())
    Signer.from_key(l2_rpc, DEV_KEYS[0]).submit(b"\x12" * 20, b"", gas=21_000, value=1)
    assert seq.produce_block() is not None  # one L2 transfer: the advance reserves execute gas
    inp = seq.advance_input(1)
    # an L1 block stamped after the L2 block (the advance is then not from the L1's future)
    l1_rpc.call("evm_mine", {"timestamp": h2i(l2_rpc.block("latest")["timestamp"]) + 1})
    head = h2i(l1_rpc.block("latest")["number"])
    before = h2i(l1_rpc.call("eth_getBalance", b2h(seq_l1.address), hex(head)))
    receipt = seq.submit_advance(inp, gas=ADVANCE_GAS)
    assert h2i(receipt["status"]) == 0
    number = h2i(receipt["blockNumber"])
    after = h2i(l1_rpc.call("eth_getBalance", b2h(seq_l1.address), hex(number)))
    l1_fee = h2i(receipt["gasUsed"]) * h2i(receipt["effectiveGasPrice"])
    block = l1_rpc.block(number)
    execute_fee = before - after - l1_fee
    assert h2i(block["executeGasUsed"]) >= 21_000  # the reservation W, all of it charged
    assert execute_fee == h2i(block["executeGasUsed"]) * h2i(block["executeBaseFeePerGas"]) > 0
    revert = seq.simulate(inp)
    assert revert is not None and Reason.VERIFIERS_DISAGREE in revert.args, revert
    assert rollup.last_block_number() == 0
    report = l1_rpc.call("execute_disagreements")
    assert report["verifiers"] == ["pyevm", "liar"] and report["mode"] == "all"
    assert report["count"] >= 1
    record = report["disagreements"][0]
    assert record["decidedReason"] == 12
    assert record["verdicts"]["pyevm"]["valid"] is True
    assert record["verdicts"]["pyevm"]["blockHash"] == "0x" + inp.block_hash.hex()
    assert record["verdicts"]["liar"] == {
        **record["verdicts"]["liar"],
        "valid": False,
        "reason": int(Reason.POST_STATE_ROOT),
    }


def test_both_verifiers_settle_the_scenario(node_factory, l2, capsys):
    l1 = node_factory("--execute-verifiers", "pyevm,eels")
    l2_node, auth = l2
    report = Scenario(l1.url, l2_node.url, L2_FUNDING, l2_control=auth.client()).run()
    text = summary(report)
    assert report.ok, text
    head = h2i(RpcClient(l2_node.url).block("latest")["number"])
    assert [s.number for s in report.settlements] == list(range(1, head + 1))
    answer = RpcClient(l1.url).call("execute_disagreements")
    assert answer["verifiers"] == ["pyevm", "eels"]
    assert answer["count"] == 0, answer["disagreements"]
    timings = answer["timings"]
    assert timings["eels"]["calls"] == timings["pyevm"]["calls"] >= head
    with capsys.disabled():
        print(
            "\nverifier time over the scenario: "
            + ", ".join(
                f"{n} {t['seconds']:.3f} s / {t['calls']} calls" for n, t in timings.items()
            )
        )


def test_a_broken_verifier_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv(TEST_VERIFIER_ENV, "broken=tests.lying_verifier:Broken")
    with pytest.raises(RuntimeError, match="self-test failed, refusing to start: broken on"):
        start_node(["--execute-verifiers", "pyevm,broken"], log_dir=tmp_path)


def test_the_demo_with_both_verifiers_shows_each_verifiers_time(tmp_path):
    """``make demo ARGS="--execute-verifiers pyevm,eels"``: every block settles, and the
    summary ends with each verifier's time."""
    proc = subprocess.run(
        [sys.executable, "scripts/demo.py", "--execute-verifiers", "pyevm,eels",
         "--log-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RESULT: all checks passed" in proc.stdout
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("EXECUTE verifiers")]
    assert line.startswith("EXECUTE verifiers pyevm,eels (all): pyevm ")
    assert ", eels " in line and line.endswith("disagreements: 0")
