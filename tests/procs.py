"""Real processes for end-to-end tests: free loopback ports, node start/stop by PID, tool paths.

Set ``DEVNET_UNDER_TEST=anvil`` to run the same tests against anvil (a check that the
tests describe standard behaviour, not just ours).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"


def foundry_bin(tool: str) -> Path:
    """The native binary of a Foundry tool installed from npm (not the Node shim)."""
    return NODE_MODULES / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool


FORGE = foundry_bin("forge")
CAST = foundry_bin("cast")
ANVIL = foundry_bin("anvil")
SOLC = ROOT / "scripts" / "solc"

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
]
DEV_ADDRESSES = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(url: str, method: str, params: list | None = None, timeout: float = 30.0) -> dict:
    """One raw JSON-RPC call; returns the whole response object (result or error)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    req = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def post_raw(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:  # non-2xx still carries a JSON-RPC body
        return exc.code, exc.read()


@dataclass
class NodeProcess:
    """A node started as a real process on a free loopback port, stopped by its PID."""

    port: int
    proc: subprocess.Popen
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, method: str, *params):
        resp = rpc(self.url, method, list(params))
        if "error" in resp:
            raise RuntimeError(f"{method}: {resp['error']}")
        return resp["result"]

    def wait_receipt(self, tx_hash: str, timeout: float = 10.0) -> dict:
        """Poll until the transaction has a receipt (anvil may answer before it has one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            receipt = self.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            time.sleep(0.02)
        raise AssertionError(f"no receipt for {tx_hash} within {timeout}s")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def under_test() -> str:
    return os.environ.get("DEVNET_UNDER_TEST", "native-devnet")


def start_anvil(args: list[str] | None = None, log_dir: Path | None = None) -> NodeProcess:
    """anvil itself on a free port (a peer to compare with), whatever is under test."""
    return start_node(args, log_dir, program="anvil")


def start_node(
    args: list[str] | None = None,
    log_dir: Path | None = None,
    startup_timeout: float = 60.0,
    program: str | None = None,
) -> NodeProcess:
    """Start the node under test (or ``program``) with ``args`` on a free port and wait
    until it answers."""
    args = list(args or [])
    port = free_port()
    if (program or under_test()) == "anvil":
        cmd = [str(ANVIL), "--port", str(port), "--silent", *args]
    else:
        cmd = [sys.executable, "-m", "rpc.cli", "--port", str(port), *args]
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    log_path = log_dir / f"node-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    env = dict(os.environ)
    env.setdefault("ETH_HASH_BACKEND", "pysha3")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    node = NodeProcess(port=port, proc=proc, log_path=log_path, args=cmd)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with {proc.returncode}:\n{node.log()}")
        try:
            if "result" in rpc(node.url, "eth_chainId", timeout=2):
                return node
        except OSError:
            pass
        time.sleep(0.1)
    node.stop()
    raise RuntimeError(f"node did not answer within {startup_timeout}s:\n{node.log()}")
