"""Benchmark anvil, native-devnet at the working tree and native-devnet at a baseline git ref,
side by side, and print one table (issue 12's ``make bench``).

Three nodes, each started fresh by this script on a free loopback port, in memory, and
stopped by PID (SIGTERM, then SIGKILL) when its measure is done:

- ``anvil``: anvil 1.7.1's binary from node_modules;
- ``native``: native-devnet from this checkout's working tree (uncommitted changes included);
- ``baseline``: native-devnet at ``--baseline REF`` (default ``3cedd5a``, main before issue
  12's work), checked out in a temporary ``git worktree`` and run by the same interpreter with
  that worktree as its working directory and ``PYTHONPATH`` (a package in the working directory
  is found before the editable install's). The node prints where its ``rpc`` and ``node``
  packages were loaded from; a node that loaded them from anywhere else is an error.

Each node is measured by ``scripts/bench.py`` in a subprocess (sequential sends, ``eth_call``,
``eth_blockNumber``, empty blocks in one ``anvil_mine`` and one by one, the chain grown to
``--height`` and sends measured again there, VmRSS growth per 1000 empty blocks). Nodes never
run at the same time. To be fair on a noisy machine the measures run in ``--rounds`` rounds;
each round starts every node fresh, in an order rotated by one each round, and the table
shows the median of the rounds, then the ratios native/anvil and native/baseline.

The default sizes are issue 12's (500 transfers, 300 calls, 500 pings, 1000 blocks, a
20 000-block chain, 3 rounds); ``--quick`` gives small ones for a smoke test. Growing a chain
gets ``--grow-budget`` seconds of ``anvil_mine`` per node and round (default 300: anvil's
blocks slow down as its chain grows, and it would take hours to reach 20 000); a node that
stops short is measured at the height it reached, which the table shows as ``@N``.
``--json PATH`` also writes everything (every round's raw report, the medians, the ratios,
the machine).

Usage::

    make bench                                             # full sizes, all three nodes
    .venv/bin/python scripts/bench_side_by_side.py --quick --nodes anvil,native
    .venv/bin/python scripts/bench_side_by_side.py --baseline HEAD~5 --json bench.json
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import SIZES, add_budget_flag, add_size_flags, resolve_sizes  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "scripts" / "bench.py"
ANVIL_BIN = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
HOST = "127.0.0.1"
STDERR_TAIL = 2000
DEFAULT_BASELINE = "3cedd5a"
NODES = ("anvil", "native", "baseline")
# What the native-devnet node runs (its uncommitted changes are reported).
CODE_PATHS = ("node", "rpc", "precompiles", "genesis", "pyproject.toml")
FULL_ROUNDS, QUICK_ROUNDS = 3, 1
# anvil 1.7.1's blocks get slower as its chain grows (about 20 ms each at block 6 000 here, and
# rising faster than linearly): growing it to 20 000 blocks would take hours, so each node
# gets this many seconds of anvil_mine to grow its chain, and the table says where it got to.
DEFAULT_GROW_BUDGET_S = 300.0

# Runs native-devnet's entry point like `python -m rpc.cli`, after printing where the `rpc`
# and `node` packages were imported from (checked against the code the node should run).
MODULE_PATHS_TAG = "bench-module-paths"
LAUNCHER = (
    "import sys, node, rpc.cli; "
    f"print({MODULE_PATHS_TAG!r}, rpc.cli.__file__, node.__file__, file=sys.stderr, flush=True); "
    "sys.exit(rpc.cli.main(sys.argv[1:]))"
)


@dataclass(frozen=True)
class Metric:
    """One row of the table: where bench.py reports it and which direction is better."""

    key: str
    label: str
    path: tuple[str, ...]
    better: str  # "higher" or "lower"
    at_height: bool = False  # measured once the chain was grown (to --height, or less)


def metrics(sizes: dict[str, int]) -> list[Metric]:
    blocks, height = sizes["mine_blocks"], sizes["height"]
    return [
        Metric("send_tx_per_s", "send tx/s (sequential, automine)", ("send_raw_tx_per_s",), "higher"),
        Metric("send_latency_median_ms", "send latency median (ms)", ("send_latency_ms", "median"), "lower"),
        Metric("send_latency_p95_ms", "send latency p95 (ms)", ("send_latency_ms", "p95"), "lower"),
        Metric("eth_call_median_ms", "eth_call median (ms)", ("eth_call_ms", "median"), "lower"),
        Metric("eth_call_p95_ms", "eth_call p95 (ms)", ("eth_call_ms", "p95"), "lower"),
        Metric("block_number_median_ms", "eth_blockNumber median (ms)", ("block_number_ms", "median"), "lower"),
        Metric("block_number_p95_ms", "eth_blockNumber p95 (ms)", ("block_number_ms", "p95"), "lower"),
        Metric("mine_batch_ms_per_block", f"empty block, 1 anvil_mine of {blocks} (ms/block)", ("mine_batch_ms_per_block",), "lower"),
        Metric("mine_single_ms_per_block", f"empty block, {blocks} anvil_mine of 1 (ms/block)", ("mine_single_ms_per_block",), "lower"),
        Metric("grow_last_chunk_ms_per_block", f"empty block, last chunk before {height} (ms/block)", ("grow_last_chunk_ms_per_block",), "lower", True),
        Metric("height_send_tx_per_s", f"send tx/s at block {height}", ("height_send_raw_tx_per_s",), "higher", True),
        Metric("height_send_latency_median_ms", f"send latency median at block {height} (ms)", ("height_send_latency_ms", "median"), "lower", True),
        Metric("height_over_start_tx_per_s", f"tx/s at block {height} / tx/s at block 0", ("height_over_start_tx_per_s",), "higher", True),
        Metric("rss_mb_per_1000_blocks", "RSS growth per 1000 empty blocks (MB)", ("rss_mb_per_1000_blocks",), "lower"),
    ]  # fmt: skip


@dataclass
class NodeSpec:
    """How to start one node on a given port, and where its code must be loaded from."""

    name: str
    command: Callable[[int], list[str]]
    cwd: Path = REPO
    env: dict[str, str] = field(default_factory=dict)
    code_root: Path | None = None  # native-devnet: the tree its packages must come from


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


def loaded_from(log: Path, code_root: Path) -> list[str]:
    """The module paths the launcher printed; raise unless every one is inside ``code_root``."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(MODULE_PATHS_TAG + " "):
            paths = line.split()[1:]
            outside = [p for p in paths if not Path(p).resolve().is_relative_to(code_root)]
            if not paths or outside:
                raise RuntimeError(f"loaded {outside or 'nothing'}, not code from {code_root}")
            return paths
    raise RuntimeError(f"the node did not say where its code came from: {tail(log)}")


def run_bench(url: str, bench_args: list[str], timeout: float) -> dict[str, Any]:
    """Run bench.py in a subprocess and return its JSON report (or an error entry)."""
    cmd = [sys.executable, str(BENCH), "--url", url, *bench_args]
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
                paths = loaded_from(log, spec.code_root) if spec.code_root else None
                report = run_bench(url, [*sizes, "--pid", str(proc.pid)], args.bench_timeout)
                if paths:
                    report["module_paths"] = paths
                return report
            except RuntimeError as exc:
                return {"url": url, "error": str(exc)}
            finally:
                stop(proc)


def native_spec(name: str, python: Path, root: Path) -> NodeSpec:
    return NodeSpec(
        name=name,
        command=lambda port: [str(python), "-c", LAUNCHER, "--port", str(port)],
        cwd=root,
        env={"ETH_HASH_BACKEND": "pysha3", "PYTHONPATH": str(root)},
        code_root=root.resolve(),
    )


def node_specs(args: argparse.Namespace, baseline_root: Path | None) -> dict[str, NodeSpec]:
    specs = {
        "anvil": NodeSpec(
            name="anvil",
            command=lambda port: [str(args.anvil_bin), "--port", str(port), "--silent"],
        ),
        "native": native_spec("native", args.python, REPO),
    }
    if baseline_root is not None:
        specs["baseline"] = native_spec("baseline", args.python, baseline_root)
    return specs


def git(*argv: str, cwd: Path = REPO) -> str:
    done = subprocess.run(
        ["git", *argv], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout.strip()


def add_worktree(ref: str) -> tuple[Path, str]:
    """Check ``ref`` out, detached, in a new temporary worktree; return it and its commit."""
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    root = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "tree"
    git("worktree", "add", "--detach", str(root), commit)
    return root, commit


def remove_worktree(root: Path) -> None:
    try:
        git("worktree", "remove", "--force", str(root))
    except RuntimeError as exc:
        print(f"warning: {exc}", file=sys.stderr)
    shutil.rmtree(root.parent, ignore_errors=True)
    git("worktree", "prune")


def lookup(report: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = report
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def medians(reports: list[dict[str, Any]], rows: list[Metric]) -> dict[str, float]:
    """Per metric, the median over the rounds that reported it."""
    result: dict[str, float] = {}
    for row in rows:
        values = [v for r in reports if (v := lookup(r, row.path)) is not None]
        if values:
            result[row.key] = round(statistics.median(values), 3)
    return result


def ratios(ours: dict[str, float], theirs: dict[str, float]) -> dict[str, float]:
    """ours/theirs for every metric both have (and theirs is non-zero)."""
    return {
        key: round(value / theirs[key], 3)
        for key, value in ours.items()
        if theirs.get(key) not in (None, 0)
    }


def fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def short_of_target(result: dict[str, Any], name: str) -> int | None:
    """The height ``name``'s chain reached (median of rounds) when short of ``--height``."""
    reached = result["heights"].get(name)
    target = result["sizes"]["height"]
    return int(reached) if reached is not None and reached < target else None


def table(result: dict[str, Any], rows: list[Metric]) -> str:
    """The side-by-side table (Markdown): medians of the rounds, then the ratios.

    A value measured on a chain that stopped short of ``--height`` (``--grow-budget``) shows
    ``@height``; a ratio between two nodes at different heights is marked ``*``.
    """
    names = [name for name in NODES if name in result["medians"]]
    ratio_names = list(result["ratios"])
    header = ["metric", "better", *names, *ratio_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.label, row.better]
        for name in names:
            cell = fmt(result["medians"][name].get(row.key))
            short = short_of_target(result, name) if row.at_height else None
            cells.append(f"{cell} @{short}" if short is not None and cell != "–" else cell)
        for pair in ratio_names:
            cell = fmt(result["ratios"][pair].get(row.key))
            uneven = row.at_height and any(short_of_target(result, n) for n in pair.split("/"))
            cells.append(cell + "*" if uneven and cell != "–" else cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages (other work on the machine skews the figures)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def describe(result: dict[str, Any]) -> str:
    """The lines under the table: date, machine, sizes, and which code each node ran."""
    m, s = result["machine"], result["sizes"]
    lines = [
        f"{result['date']}, {m['nproc']} cores ({m['cpu']}), Python {m['python']}; "
        f"median of {result['rounds']} round(s), fresh in-memory nodes each round; "
        f"load average {m['load_before']} before, {m['load_after']} after",
        "sizes: " + ", ".join(f"{k} {v}" for k, v in s.items()),
    ]
    for name, node in result["nodes"].items():
        lines.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in node.items()))
    short = {name: h for name in result["heights"] if (h := short_of_target(result, name))}
    if short:
        lines.append(
            f"@N: the chain reached block N, not {result['sizes']['height']}, within "
            f"--grow-budget {result['grow_budget']} s ("
            + ", ".join(f"{name} {height}" for name, height in short.items())
            + "); *: a ratio between nodes at different heights"
        )
    errors = result.get("errors") or {}
    for name, messages in errors.items():
        for message in messages:
            lines.append(f"ERROR {name}: {message[:STDERR_TAIL]}")
    return "\n".join(lines)


def working_tree_state() -> str:
    """HEAD, plus a digest of uncommitted changes (new files too) to the node's code paths."""
    head = git("rev-parse", "--short=12", "HEAD")
    digest = hashlib.sha256(git("diff", "HEAD", "--", *CODE_PATHS).encode())
    untracked = git("ls-files", "--others", "--exclude-standard", "--", *CODE_PATHS).split()
    for name in sorted(untracked):
        digest.update(name.encode() + b"\0")
        digest.update((REPO / name).read_bytes() if (REPO / name).is_file() else b"")
    changed = bool(git("status", "--porcelain", "--", *CODE_PATHS))
    return f"{head}+changes:{digest.hexdigest()[:12]}" if changed else head


def node_info(
    name: str, reports: list[dict[str, Any]], baseline_commit: str | None, ref: str
) -> dict[str, Any]:
    ok = [r for r in reports if "error" not in r]
    info: dict[str, Any] = {"client": ok[0]["client"] if ok else "unknown"}
    if name == "native":
        states = list(dict.fromkeys(r["code"] for r in reports if "code" in r))
        info["code"] = " then ".join(states)
        if len(states) > 1:
            info["warning"] = "the working tree changed between rounds"
    if name == "baseline":
        info["ref"] = ref
        info["commit"] = (baseline_commit or "")[:12]
    if name != "anvil" and ok:
        info["loaded_from"] = str(Path(ok[0]["module_paths"][0]).parent.parent)
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--nodes",
        default=",".join(NODES),
        help=f"comma-separated nodes to run, among {', '.join(NODES)} (default: all)",
    )
    parser.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        metavar="REF",
        help=f"git ref of the baseline native-devnet (default {DEFAULT_BASELINE})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"rounds of measures (default {FULL_ROUNDS}, {QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    add_size_flags(parser)
    add_budget_flag(parser, DEFAULT_GROW_BUDGET_S)
    parser.add_argument("--anvil-bin", type=Path, default=ANVIL_BIN)
    parser.add_argument(
        "--python",
        type=Path,
        default=VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable),
        help="interpreter that runs both native-devnet nodes",
    )
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds")
    parser.add_argument(
        "--bench-timeout", type=float, default=3600.0, help="seconds per node and round"
    )
    args = parser.parse_args(argv)
    resolve_sizes(parser, args)
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else FULL_ROUNDS
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.nodes = [name.strip() for name in args.nodes.split(",") if name.strip()]
    unknown = [name for name in args.nodes if name not in NODES]
    if unknown or not args.nodes:
        parser.error(f"--nodes: unknown {unknown}; choose among {', '.join(NODES)}")
    args.nodes = [name for name in NODES if name in args.nodes]  # the table's order
    return args


def run_rounds(
    args: argparse.Namespace, specs: dict[str, NodeSpec], bench_args: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Every round runs every node once, fresh; the order rotates by one each round."""
    reports: dict[str, list[dict[str, Any]]] = {name: [] for name in args.nodes}
    for index in range(args.rounds):
        shift = index % len(args.nodes)
        for name in args.nodes[shift:] + args.nodes[:shift]:
            t0 = time.monotonic()
            code = working_tree_state() if name == "native" else None
            report = bench_node(specs[name], bench_args, args)
            if code:
                report["code"] = code
            took = time.monotonic() - t0
            if "error" in report:
                status = f"error: {report['error'][:300]}"
            else:
                status = (
                    f"{report.get('send_raw_tx_per_s')} tx/s, "
                    f"{report.get('mine_batch_ms_per_block')} ms/empty block, "
                    f"block {report.get('height', '-')}: "
                    f"{report.get('height_send_raw_tx_per_s', '-')} tx/s"
                )
            print(
                f"round {index + 1}/{args.rounds} {name}: {took:.0f} s, {status}",
                file=sys.stderr,
                flush=True,
            )
            reports[name].append(report)
            if args.json:  # so far, in case the run is cut short; replaced at the end
                args.json.write_text(json.dumps({"partial": True, "raw": reports}) + "\n")
    return reports


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = load_average()
    sizes = {name: getattr(args, name) for name in SIZES}
    bench_args = [f"--{name.replace('_', '-')}={value}" for name, value in sizes.items()]
    bench_args.append(f"--grow-budget={args.grow_budget}")
    rows = metrics(sizes)
    baseline_root, baseline_commit = None, None
    if "baseline" in args.nodes:
        try:
            baseline_root, baseline_commit = add_worktree(args.baseline)
        except RuntimeError as exc:
            print(f"baseline {args.baseline}: {exc}", file=sys.stderr)
            return 2
    try:
        specs = node_specs(args, baseline_root)
        reports = run_rounds(args, specs, bench_args)
    finally:
        if baseline_root is not None:
            remove_worktree(baseline_root)

    result: dict[str, Any] = {
        "date": started,
        "machine": {**machine(), "load_before": load_before, "load_after": load_average()},
        "rounds": args.rounds,
        "sizes": sizes,
        "grow_budget": args.grow_budget,
        "nodes": {
            name: node_info(name, reports[name], baseline_commit, args.baseline)
            for name in args.nodes
        },
        "medians": {
            name: medians([r for r in reports[name] if "error" not in r], rows)
            for name in args.nodes
        },
        "heights": {
            name: statistics.median(heights)
            for name in args.nodes
            if (heights := [r["height"] for r in reports[name] if "height" in r])
        },
        "ratios": {},
        "metrics": {row.key: {"label": row.label, "better": row.better} for row in rows},
        "errors": {
            name: [r["error"] for r in reports[name] if "error" in r]
            for name in args.nodes
            if any("error" in r for r in reports[name])
        },
        "raw": reports,
    }
    for other in ("anvil", "baseline"):
        if "native" in args.nodes and other in args.nodes:
            result["ratios"][f"native/{other}"] = ratios(
                result["medians"]["native"], result["medians"][other]
            )
    print(table(result, rows))
    print()
    print(describe(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
