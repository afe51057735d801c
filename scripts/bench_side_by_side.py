"""Run scripts/bench.py against a fresh anvil and a fresh native-devnet node, one after the other.

Each node is started on a free loopback port, waited for (``eth_chainId`` answers), benchmarked
with the same sizes through ``bench.py`` in a subprocess, and stopped by PID (SIGTERM, then
SIGKILL). Nodes run one at a time so that they do not compete for the CPU. Prints one JSON
object::

    {"anvil": {...}, "native_devnet": {...}, "ratios": {"send_raw_tx_per_s": native/anvil, ...}}

A side that fails to start or to finish reports ``{"error": ...}`` instead of its figures, and
no ratios are computed then.

Usage::

    .venv/bin/python scripts/bench_side_by_side.py --txs 500 --calls 300 --pings 500
    .venv/bin/python scripts/bench_side_by_side.py --only anvil
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "scripts" / "bench.py"
ANVIL_BIN = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
HOST = "127.0.0.1"
STDERR_TAIL = 2000

# Metrics compared as native/anvil: a throughput ratio < 1 means native is slower;
# a latency ratio > 1 means native is slower.
RATIO_METRICS: dict[str, tuple[str, ...]] = {
    "send_raw_tx_per_s": ("send_raw_tx_per_s",),
    "send_raw_seconds": ("send_raw_seconds",),
    "send_latency_median": ("send_latency_ms", "median"),
    "send_latency_p95": ("send_latency_ms", "p95"),
    "eth_call_median": ("eth_call_ms", "median"),
    "eth_call_p95": ("eth_call_ms", "p95"),
    "block_number_median": ("block_number_ms", "median"),
    "block_number_p95": ("block_number_ms", "p95"),
}


@dataclass
class NodeSpec:
    """How to start one node on a given port."""

    name: str
    command: Callable[[int], list[str]]
    cwd: Path = REPO
    env: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def rpc_ready(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return "result" in json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return False


def tail(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-STDERR_TAIL:]


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    """Poll eth_chainId until it answers; raise with the node's log tail if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode}: {tail(log)}")
        if rpc_ready(url):
            return
        time.sleep(0.1)
    raise RuntimeError(f"not ready after {timeout} s: {tail(log)}")


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the node by PID, then SIGKILL it if it is still alive after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def run_bench(url: str, sizes: list[str], timeout: float) -> dict[str, Any]:
    """Run bench.py in a subprocess and return its JSON report (or an error entry)."""
    cmd = [sys.executable, str(BENCH), "--url", url, *sizes]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"bench.py did not finish within {timeout} s"}
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return {"error": f"bench.py exit {done.returncode}: {done.stderr[-STDERR_TAIL:]}"}
    return report


def bench_node(spec: NodeSpec, sizes: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Start a fresh node, benchmark it, stop it; errors are reported, not raised."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix=f"bench-{spec.name}-") as tmp:
        log = Path(tmp) / "node.log"
        with log.open("wb") as log_file:
            try:
                proc = subprocess.Popen(
                    spec.command(port),
                    cwd=spec.cwd,
                    env={**os.environ, **spec.env},
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            except OSError as exc:
                return {"error": f"could not start: {exc}"}
            try:
                wait_ready(proc, url, log, args.startup_timeout)
                return run_bench(url, sizes, args.bench_timeout)
            except RuntimeError as exc:
                return {"url": url, "error": str(exc)}
            finally:
                stop(proc)


def node_specs(args: argparse.Namespace) -> dict[str, NodeSpec]:
    return {
        "anvil": NodeSpec(
            name="anvil",
            command=lambda port: [str(args.anvil_bin), "--port", str(port), "--silent"],
        ),
        "native_devnet": NodeSpec(
            name="native_devnet",
            command=lambda port: [str(args.python), "-m", "rpc.cli", "--port", str(port)],
            env={"ETH_HASH_BACKEND": "pysha3"},
        ),
    }


def metric(report: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = report
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def ratios(native: dict[str, Any], anvil: dict[str, Any]) -> dict[str, float]:
    """native/anvil for every metric both sides reported (and anvil's is non-zero)."""
    result: dict[str, float] = {}
    for name, path in RATIO_METRICS.items():
        ours, theirs = metric(native, path), metric(anvil, path)
        if ours is not None and theirs:
            result[name] = round(ours / theirs, 3)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", choices=("anvil", "native_devnet"), help="run one side only")
    parser.add_argument("--txs", type=int, default=500)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--pings", type=int, default=500)
    parser.add_argument("--anvil-bin", type=Path, default=ANVIL_BIN)
    parser.add_argument(
        "--python",
        type=Path,
        default=VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable),
        help="interpreter that runs the native-devnet node",
    )
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument("--bench-timeout", type=float, default=600.0, help="seconds per side")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = ["--txs", str(args.txs), "--calls", str(args.calls), "--pings", str(args.pings)]
    specs = node_specs(args)
    names = [args.only] if args.only else list(specs)
    output: dict[str, Any] = {name: bench_node(specs[name], sizes, args) for name in names}
    if "anvil" in output and "native_devnet" in output:
        output["ratios"] = ratios(output["native_devnet"], output["anvil"])
    print(json.dumps(output))
    return 0 if all("error" not in report for report in output.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
