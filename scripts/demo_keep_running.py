"""``make demo ARGS=--keep-running``: the end-to-end scenario of ``make demo`` on fresh local
nodes, after which the nodes stay up with their dashboards (``GET /`` on each RPC port) until
Ctrl-C; the L1 serves the rollup panel (``--rollup-deployment`` naming the deployment file
the scenario leaves, ``--rollup-l2-url`` the L2). Both nodes are stopped by PID on the way
out, also on error. Called by ``scripts/demo.py``; ``--log-dir DIR`` keeps the nodes' logs
there (default: a temporary directory, printed).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from sequencer.localnet import (
    L2_DEV_ACCOUNTS,
    L2_DEV_BALANCE_ETH,
    L2_FUNDING,
    LocalNode,
    l2_genesis_path,
    start_node,
)
from sequencer.scenario import Scenario, summary


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="demo.py --keep-running")
    p.add_argument("--keep-running", action="store_true", required=True)
    p.add_argument("--log-dir", type=Path, help="where the nodes' logs go (default: temp)")
    args = p.parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="native-rollup-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    deployment = log_dir / "rollup.json"
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    started: list[LocalNode] = []
    try:
        l2_args = ["--genesis", l2_genesis_path(), "--no-mining", "--silent"]
        l2_args += ["--accounts", str(L2_DEV_ACCOUNTS), "--balance", str(L2_DEV_BALANCE_ETH)]
        l2 = start_node("l2", l2_args, log_dir, auth=True)
        started.append(l2)
        l1_args = ["--silent", "--rollup-deployment", str(deployment), "--rollup-l2-url", l2.url]
        l1 = start_node("l1", l1_args, log_dir)
        started.append(l1)
        print(f"L1 {l1.url} (pid {l1.proc.pid}), L2 {l2.url} (pid {l2.proc.pid})", flush=True)
        report = Scenario(l1.url, l2.url, L2_FUNDING, l2_control=l2.control).run()
        print(summary(report), flush=True)
        report.rollup.save(deployment)
        print(
            "\nThe nodes keep running; their dashboards:\n"
            f"  L1 (EXECUTE market, rollup panel): {l1.url}/\n"
            f"  L2 (blocks and their L1 anchors):  {l2.url}/\n"
            f"Rollup deployment file: {deployment}; logs in {log_dir}\n"
            "Ctrl-C stops both nodes.",
            flush=True,
        )
        while not stop.wait(0.5):
            for node in started:
                if node.proc.poll() is not None:
                    print(f"{node.name} exited with {node.proc.returncode}", file=sys.stderr)
                    return 1
        return 0 if report.ok else 1
    finally:
        for node in reversed(started):
            node.stop()
