"""The optimistic mode end to end on real L1 and L2 node processes (``sequencer.localnet``).

``test_the_optimistic_scenario``: ``make demo SCENARIO=optimistic``'s story
(``sequencer.scenario_optimistic``) with every check it makes: honest proposals with no
EXECUTE call (traced), valid to the watcher and final after the window; a withdrawal refused
before finalization and paid after it; a forged proposal challenged by the watcher through
exactly one EXECUTE call (traced), discarded with its descendant, the bond split; a frivolous
challenge that costs its bond. Also the figures: each proposal costs less L1 gas than
``advance`` of the same block.

``test_watch_and_propose_commands``: ``native-rollup propose --deploy --once`` as a process
deploys and proposes an honest block; a forged proposal sent from here is found and
challenged by ``native-rollup watch --once`` (a process) by itself.
"""

from __future__ import annotations

import json

import pytest

from sequencer.advance import fetch_advance_input
from sequencer.client import ETHER, Signer, h2b, h2i
from sequencer.localnet import L2_FUNDING, local_nodes
from sequencer.optimistic import BlockBuilder, L2Head, OptimisticRollup
from sequencer.relayer import Relayer
from sequencer.rollup import RollupInfo
from sequencer.scenario_optimistic import OptimisticScenario, summary
from tests.procs import DEV_KEYS, run_native_rollup, under_test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE"),
]


def test_the_optimistic_scenario(tmp_path):
    lines: list[str] = []
    with local_nodes(tmp_path) as (l1, l2):
        scenario = OptimisticScenario(l1.url, l2.url, L2_FUNDING, l2.control, lines.append)
        report = scenario.run()
    text = summary(report)
    assert report.ok, "\n".join(lines) + text
    names = [name for name, _ in report.checks]
    for expected in (
        "the watcher challenged proposal 6 by itself",
        "the challenge called EXECUTE exactly once (debug_traceTransaction)",
        "her claim on L1 is refused while L2 block 5 is not final (NotFinalized(5))",
        "every proposal up to 7 is final",
    ):
        assert expected in names, names
    assert sum("made no EXECUTE call" in n for n in names) == 9  # 7 proposals + 2 again
    assert len(report.figures) == 3
    for figure in report.figures:
        assert figure.advance_gas is not None and figure.propose_gas < figure.advance_gas
        assert figure.advance_execute_fee > 0
    assert report.challenge_gas > 0 and report.challenge_execute_fee > 0
    assert report.frivolous_gas > 0 and report.frivolous_execute_fee > 0
    assert "saved" in text and text.rstrip().endswith("OK")


def test_watch_and_propose_commands(tmp_path):
    rollup_file = tmp_path / "optimistic.json"
    with local_nodes(tmp_path) as (l1, l2):
        urls = ["--l1", l1.url, "--l2", l2.url]
        auth = ["--l2-auth-url", l2.auth_url, "--jwt-secret", str(l2.jwt_secret_path)]
        sequencer_l2 = Signer.from_key(l2.rpc, DEV_KEYS[0])
        sequencer_l2.submit(h2b("0x" + "22" * 20), b"", ETHER // 1000, gas=21_000)
        done = run_native_rollup(
            "propose",
            *urls,
            *auth,
            "--rollup-file",
            str(rollup_file),
            "--deploy",
            "--initial-escrow",
            str(L2_FUNDING // ETHER),
            "--challenge-window",
            "50",
            "--once",
        )
        assert done.returncode == 0, done.stderr
        assert [p["l2Block"] for p in json.loads(done.stdout)] == [1]

        l1_rpc = l1.rpc
        info = RollupInfo.load(rollup_file)
        rollup = OptimisticRollup(l1_rpc, h2b(info.address), info.deploy_block)
        assert rollup.last_proposed_number() == 1
        signer = Signer.from_key(l1_rpc, DEV_KEYS[0])
        sequencer_l2.submit(h2b("0x" + "22" * 20), b"", ETHER // 1000, gas=21_000)
        relayer = Relayer(rollup, l2.rpc, sequencer_l2, min_fee=1)
        block = BlockBuilder(rollup, l2.rpc, relayer, l2.control).produce_block(force=True)
        number = h2i(block["number"])
        while h2i(l1_rpc.block("latest")["timestamp"]) < h2i(block["timestamp"]):
            l1_rpc.call("evm_mine")
        inp = fetch_advance_input(l2.rpc, number)
        rollup.propose(signer, inp, L2Head.of_input(inp).replace(gas_used=inp.gas_used + 1))
        assert rollup.last_proposed_number() == 2

        watched = run_native_rollup(
            "watch", *urls, "--rollup-file", str(rollup_file), "--key", DEV_KEYS[3], "--once"
        )
        assert watched.returncode == 0, watched.stderr
        (line,) = watched.stdout.splitlines()
        doc = json.loads(line)
        assert doc["challenged"] == 2 and doc["reason"] == 8 and doc["discardedUpTo"] == 2
        assert rollup.last_proposed_number() == 1
        # the honest block goes back in, and the watcher now leaves everything alone
        done = run_native_rollup(
            "propose", *urls, *auth, "--rollup-file", str(rollup_file), "--once"
        )
        assert done.returncode == 0, done.stderr
        assert [p["l2Block"] for p in json.loads(done.stdout)] == [2]
        watched = run_native_rollup(
            "watch", *urls, "--rollup-file", str(rollup_file), "--key", DEV_KEYS[3], "--once"
        )
        assert watched.returncode == 0 and watched.stdout == "", watched.stderr
