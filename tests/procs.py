"""Real processes for end-to-end tests: free loopback ports, node start/stop by PID, the
external tools tests need, and waiting for a condition.

Set ``DEVNET_UNDER_TEST=anvil`` to run the same tests against anvil (a check that the
tests describe standard behaviour, not just ours).

A test that needs Foundry (forge, cast, anvil), solcjs, Node (with ethers, viem,
puppeteer-core) or Chromium gets its path from
``require_tool`` (or declares ``@pytest.mark.requires_tools(...)``, see tests/conftest.py):
a missing tool fails the test with what to install, it never skips. A test waiting for
something to happen polls for it with ``wait_until`` rather than sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from eth_account import Account

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
SOLC = ROOT / "scripts" / "solc"  # forge's compiler (foundry.toml): runs solcjs under Node

NPM_INSTALL = "run `make npm` (or `npm install`) in the repo root"
# what each tool needs installed; forge, cast, anvil and solcjs are pinned in package.json
TOOL_INSTALL = {
    "forge": NPM_INSTALL,
    "cast": NPM_INSTALL,
    "anvil": NPM_INSTALL,
    "solcjs": NPM_INSTALL,
    "node": "install Node.js (it also brings npm, which `make npm` runs)",
    "ethers": NPM_INSTALL,
    "viem": NPM_INSTALL,
    "puppeteer-core": NPM_INSTALL,
    "chromium": "install Chromium from the system's packages: `apt-get install -y chromium` "
    "(.ci/run does it when it is missing)",
}
NPM_PACKAGES = ("ethers", "viem", "puppeteer-core")  # the JS client tests' libraries


def foundry_bin(tool: str) -> Path:
    """Where the native binary of a Foundry tool installed from npm is (not the Node shim)."""
    return NODE_MODULES / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool


def find_tool(tool: str) -> Path | None:
    """The path of ``tool`` (a name in ``TOOL_INSTALL``), or None when it is not installed."""
    if tool in ("forge", "cast", "anvil"):
        path = foundry_bin(tool)
        return path if os.access(path, os.X_OK) else None
    if tool == "solcjs":
        path = NODE_MODULES / "solc"
        return path if (path / "package.json").is_file() else None
    if tool == "node":
        found = shutil.which("node")
        return Path(found) if found else None
    if tool in NPM_PACKAGES:
        path = NODE_MODULES / tool
        return path if (path / "package.json").is_file() else None
    if tool == "chromium":
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        return Path(found) if found else None
    raise ValueError(f"unknown tool {tool!r}; known: {', '.join(TOOL_INSTALL)}")


def require_tool(tool: str) -> Path:
    """The path of ``tool``; fails the calling test, saying how to install it, when missing.

    CI installs every tool, so a missing one is a broken setup to report, not a reason to skip.
    """
    path = find_tool(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: {TOOL_INSTALL[tool]}", pytrace=False)
    return path


T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    what: str,
    timeout: float = 30.0,
    interval: float = 0.05,
) -> T:
    """Poll ``condition()`` until it returns something true and return that; fail the test
    with ``what`` if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def wait_until_async(
    condition: Callable[[], T],
    what: str,
    timeout: float = 30.0,
    interval: float = 0.01,
) -> T:
    """``wait_until`` for a test on an event loop: yields to the loop between polls, so the
    tasks that make the condition true get to run."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


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
        return wait_until(
            lambda: self.call("eth_getTransactionReceipt", tx_hash),
            f"a receipt for {tx_hash}",
            timeout,
            interval=0.02,
        )

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
        cmd = [str(require_tool("anvil")), "--port", str(port), "--silent", *args]
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


def sign_transfer(
    key: str, nonce: int, to: str, value: int, chain_id: int = 31337
) -> tuple[str, str]:
    """(raw 0x hex, tx hash 0x hex) of an EIP-1559 transfer paying 100 gwei at most, 1 gwei tip."""
    signed = Account.sign_transaction(
        {
            "chainId": chain_id,
            "nonce": nonce,
            "to": to,
            "value": value,
            "gas": 21_000,
            "maxFeePerGas": 100 * 10**9,
            "maxPriorityFeePerGas": 10**9,
        },
        key,
    )
    return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()


def run_native_rollup(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``native-rollup ARGS`` as a process from the repo root; the caller checks the outcome."""
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
