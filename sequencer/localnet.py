"""Local L1 and L2 node processes for the demo: ``native-devnet`` started on free loopback
ports, waited for, and stopped by PID (SIGTERM, then SIGKILL) — also when the demo fails or
is itself terminated.

The L2 runs ``genesis/l2.json`` with ``--no-mining`` (the sequencer mines every block), its
controls on an authenticated endpoint only (``--auth-port`` and a JWT secret file in the
log directory; ``LocalNode.control`` is the client that holds it), and a small dev funding
(``L2_DEV_ACCOUNTS`` x ``L2_DEV_BALANCE_ETH``, for the relayer's first claim) that the
rollup contract's initial escrow must back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sequencer.client import ETHER, RpcClient, read_jwt_secret

L2_DEV_ACCOUNTS = 1
L2_DEV_BALANCE_ETH = 1
L2_FUNDING = L2_DEV_ACCOUNTS * L2_DEV_BALANCE_ETH * ETHER


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def l2_genesis_path() -> str:
    """``genesis/l2.json`` from the installed ``genesis`` package (any working directory)."""
    from node.genesis import DEFAULT_L2_GENESIS

    return str(DEFAULT_L2_GENESIS)


@dataclass
class LocalNode:
    name: str
    port: int
    proc: subprocess.Popen
    log_path: Path
    auth_port: int | None = None
    jwt_secret_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rpc(self) -> RpcClient:
        return RpcClient(self.url)

    @property
    def auth_url(self) -> str | None:
        return f"http://127.0.0.1:{self.auth_port}" if self.auth_port is not None else None

    @property
    def control(self) -> RpcClient | None:
        """The authenticated endpoint (every method, controls included), if it has one."""
        if self.auth_port is None or self.jwt_secret_path is None:
            return None
        return RpcClient(self.auth_url, jwt_secret=read_jwt_secret(self.jwt_secret_path))

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM this node's PID, SIGKILL if it does not exit in time."""
        if self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_node(
    name: str, args: list[str], log_dir: Path, timeout: float = 60.0, auth: bool = False
) -> LocalNode:
    """``python -m rpc.cli --port <free> args`` in the background; returns once it answers.
    With ``auth``, also an authenticated endpoint on another free port, its JWT secret in
    ``log_dir``."""
    port = free_port()
    auth_port = secret_path = None
    if auth:
        auth_port = free_port()
        secret_path = log_dir / f"{name}-{port}.jwt"
        args = [*args, "--auth-port", str(auth_port), "--jwt-secret", str(secret_path)]
    log_path = log_dir / f"{name}-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    env = dict(os.environ)
    env.setdefault("ETH_HASH_BACKEND", "pysha3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rpc.cli", "--port", str(port), *args],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    node = LocalNode(name, port, proc, log_path, auth_port, secret_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        try:
            RpcClient(node.url, timeout=2).call("eth_chainId")
            return node
        except OSError:
            time.sleep(0.1)
        except Exception:
            time.sleep(0.1)
    node.stop()
    raise RuntimeError(f"{name} did not answer within {timeout:.0f}s (log: {log_path})")


@contextmanager
def local_nodes(
    log_dir: Path | None = None,
    l2_count: int = 1,
    l2_accounts: int = L2_DEV_ACCOUNTS,
    l1_args: Sequence[str] = (),
) -> Iterator[tuple[LocalNode, ...]]:
    """A fresh L1 (default genesis, automine) and ``l2_count`` L2 nodes of the same genesis
    (``--no-mining``, controls on their authenticated endpoints, ``l2_accounts`` dev accounts
    of ``L2_DEV_BALANCE_ETH``), stopped on exit: yields ``(l1, l2, ...)``."""
    owned = None
    if log_dir is None:
        owned = tempfile.TemporaryDirectory(prefix="native-rollup-")
        log_dir = Path(owned.name)
    started: list[LocalNode] = []

    def on_sigterm(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwind through the finally below

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        started.append(start_node("l1", ["--silent", *l1_args], log_dir))
        # one genesis for every L2 node: the same timestamp, not each node's start time
        genesis_time = ["--timestamp", str(int(time.time()))] if l2_count > 1 else []
        for i in range(l2_count):
            started.append(
                start_node(
                    "l2" if l2_count == 1 else f"l2{'abcdefgh'[i]}",
                    [
                        "--genesis",
                        l2_genesis_path(),
                        "--no-mining",
                        "--silent",
                        "--accounts",
                        str(l2_accounts),
                        "--balance",
                        str(L2_DEV_BALANCE_ETH),
                        *genesis_time,
                    ],
                    log_dir,
                    auth=True,
                )
            )
        yield tuple(started)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for node in reversed(started):
            node.stop()
        if owned is not None:
            owned.cleanup()
