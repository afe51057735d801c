"""The side-by-side benchmark (scripts/bench_side_by_side.py, `make bench`) at toy size.

Not a timed test: it checks that the script runs real anvil and native-devnet processes, and
that the table and the JSON hold every metric for each node, with the ratios; nothing about
how fast either node is. A second run checks that the baseline really runs the baseline's
code: a worktree's native-devnet loads its packages from that worktree, not from this one (and a
growth budget that stops a chain short of ``--height`` is shown in the table).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.procs import ROOT, require_tool, under_test

pytestmark = pytest.mark.e2e

SCRIPT = ROOT / "scripts" / "bench_side_by_side.py"
TINY = ("--quick", "--txs", "5", "--calls", "5", "--pings", "5", "--mine-blocks", "5")
TINY_GROWTH = ("--height", "40", "--chunk", "10")
METRICS = (
    "send_tx_per_s",
    "send_latency_median_ms",
    "send_latency_p95_ms",
    "eth_call_median_ms",
    "eth_call_p95_ms",
    "block_number_median_ms",
    "block_number_p95_ms",
    "mine_batch_ms_per_block",
    "mine_single_ms_per_block",
    "grow_last_chunk_ms_per_block",
    "height_send_tx_per_s",
    "height_send_latency_median_ms",
    "height_over_start_tx_per_s",
    "rss_mb_per_1000_blocks",
)


def run_bench(tmp_path, *args: str) -> tuple[str, dict]:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, *TINY_GROWTH, "--json", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The Markdown table's rows by metric label: the cells after label and direction."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) > 2 and cells[1] in ("higher", "lower"):
            rows[cells[0]] = cells[2:]
    return rows


def test_bench_side_by_side_reports_every_metric_for_anvil_and_the_working_tree(tmp_path):
    if under_test() == "anvil":
        pytest.skip("the script starts its own anvil and native-devnet")
    require_tool("anvil")
    stdout, result = run_bench(tmp_path, "--nodes", "anvil,native")

    assert result["errors"] == {}, result["errors"]
    assert set(result["medians"]) == {"anvil", "native"}
    for name in ("anvil", "native"):
        missing = [key for key in METRICS if key not in result["medians"][name]]
        assert not missing, (name, missing)
        assert len(result["raw"][name]) == result["rounds"] == 1
    assert list(result["ratios"]) == ["native/anvil"]
    assert set(result["ratios"]["native/anvil"]) >= set(METRICS) - {"rss_mb_per_1000_blocks"}
    assert result["nodes"]["anvil"]["client"].startswith("anvil/v1.7.1")
    assert result["nodes"]["native"]["loaded_from"] == str(ROOT)
    assert result["raw"]["native"][0]["height"] == 40
    assert result["sizes"]["txs"] == 5 and result["sizes"]["chunk"] == 10

    rows = table_rows(stdout)
    assert len(rows) == len(METRICS), stdout
    for label, meta in ((m["label"], m) for m in result["metrics"].values()):
        assert len(rows[label]) == 3, (label, rows[label])  # anvil, native, native/anvil
        assert rows[label][:2] != ["–", "–"], (label, meta)
    assert f"{result['machine']['nproc']} cores ({result['machine']['cpu']})" in stdout
    assert "sizes: txs 5, calls 5, pings 5, mine_blocks 5, height 40, chunk 10" in stdout


def test_the_baseline_runs_from_its_own_worktree(tmp_path):
    if under_test() == "anvil":
        pytest.skip("the script starts its own native-devnet")
    baseline_commit = git("rev-parse", "--short=12", "3cedd5a")  # the default --baseline
    stdout, result = run_bench(
        tmp_path,
        *("--nodes", "native,baseline", "--mine-blocks", "0"),
        *("--grow-budget", "0.000001"),  # one chunk of 10 blocks, then measure there
    )

    baseline = result["nodes"]["baseline"]
    assert baseline["commit"] == baseline_commit and baseline["ref"] == "3cedd5a"
    assert "bench-baseline-" in baseline["loaded_from"], baseline
    for path in result["raw"]["baseline"][0]["module_paths"]:
        assert path.startswith(baseline["loaded_from"] + "/"), path
    assert result["nodes"]["native"]["loaded_from"] == str(ROOT)
    assert "send_tx_per_s" in result["ratios"]["native/baseline"]
    assert "mine_batch_ms_per_block" not in result["medians"]["baseline"]  # --mine-blocks 0
    # the budget stopped growth short of --height 40: the table says where each chain got to
    heights = result["heights"]
    assert set(heights) == {"native", "baseline"} and max(heights.values()) < 40, heights
    rows = table_rows(stdout)
    label = result["metrics"]["height_send_tx_per_s"]["label"]
    assert rows[label][0].endswith(f"@{int(heights['native'])}"), rows[label]
    assert rows[label][2].endswith("*"), rows[label]
    assert "@N: the chain reached block N, not 40, within --grow-budget" in stdout
    assert baseline["loaded_from"] not in git("worktree", "list")  # removed at the end
