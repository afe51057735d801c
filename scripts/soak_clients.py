"""The soak benchmark's moving parts (``scripts/soak.py`` runs them): the node process it starts
and kills by PID, timed JSON-RPC requests and their bookkeeping, the clients (HTTP or one
WebSocket with ``newHeads`` and ``logs`` subscriptions) and the receipt check after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account
from eth_utils import keccak, to_checksum_address

ROOT = Path(__file__).resolve().parent.parent

CHAIN_ID = 31337
GWEI = 10**9
MAX_FEE = 100 * GWEI
TIP = GWEI
TRANSFER_GAS = 21_000
INCREMENT_GAS = 100_000
LOGS_WINDOW = 50  # eth_getLogs looks this many blocks back
REQUEST_TIMEOUT = 30.0  # seconds; a request slower than this is an error
RECEIPT_TIMEOUT = 30.0
STARTUP_TIMEOUT = 120.0
RECEIPT_CHECK_BATCH = 500  # receipts checked per batch request after a restart

INCREMENT = keccak(b"increment()")[:4]
GET = keccak(b"get()")[:4]
INCREMENTED_TOPIC = "0x" + keccak(b"Incremented(address,uint256)").hex()

# --------------------------------------------------------------------------- the node


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Node:
    """The node process, always on loopback, started and killed by PID."""

    def __init__(self, data_dir: Path, accounts: int, log_path: Path) -> None:
        self.port = free_port()
        self.args = [
            sys.executable,
            "-m",
            "rpc.cli",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            "--accounts",
            str(accounts),
            "--silent",
        ]
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, session: aiohttp.ClientSession) -> float:
        """Start the process and wait until it answers; returns the seconds it took."""
        env = dict(os.environ, ETH_HASH_BACKEND=os.environ.get("ETH_HASH_BACKEND", "pysha3"))
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        started = time.monotonic()
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        while time.monotonic() - started < STARTUP_TIMEOUT:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                async with session.post(
                    self.url, json=request("eth_chainId"), timeout=aiohttp.ClientTimeout(total=2)
                ) as resp:
                    if "result" in await resp.json():
                        return time.monotonic() - started
            await asyncio.sleep(0.05)  # polling for readiness
        raise RuntimeError(f"node did not answer within {STARTUP_TIMEOUT}s; see {self.log_path}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# --------------------------------------------------------------------------- bookkeeping


_ids = itertools.count(1)


def request(method: str, *params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params)}


class RpcFailure(Exception):
    """A JSON-RPC error or a transport failure, named by kind."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass
class Stats:
    """What every client saw: latencies per phase and method, errors, receipts."""

    phase: str = "A"
    latencies: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    interrupted: Counter = field(default_factory=Counter)  # cut off by a deliberate kill
    receipts: dict[str, tuple[int, str]] = field(default_factory=dict)  # hash → (block, hash)
    mined: Counter = field(default_factory=Counter)  # phase → transactions with a receipt
    notifications: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, detail[:300])


class Liveness:
    """Whether the node is meant to be up; requests failing while it is down are expected."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.generation = 0  # bumped at each kill

    def down(self) -> None:
        self.generation += 1
        self.up.clear()


async def rpc(
    session: aiohttp.ClientSession,
    url: str,
    stats: Stats,
    method: str,
    *params: Any,
    timeout: float = REQUEST_TIMEOUT,
) -> Any:
    """One timed HTTP request; its result, or RpcFailure."""
    body = request(method, *params)
    started = time.monotonic()
    try:
        async with session.post(
            url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            if resp.status != 200:
                raise RpcFailure(f"{method}: HTTP {resp.status}", (await resp.text())[:200])
            answer = await resp.json()
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise RpcFailure(f"{method}: {type(exc).__name__}", str(exc)) from None
    stats.latencies[(stats.phase, method)].append(time.monotonic() - started)
    if "error" in answer:
        raise RpcFailure(f"{method}: {answer['error'].get('code')}", answer["error"].get("message"))
    return answer["result"]


# --------------------------------------------------------------------------- clients


@dataclass
class Sender:
    key: str
    address: str
    nonce: int = 0

    def sign(self, to: str, value: int, data: bytes, gas: int) -> tuple[str, str]:
        signed = Account.sign_transaction(
            {
                "chainId": CHAIN_ID,
                "nonce": self.nonce,
                "to": to_checksum_address(to),
                "value": value,
                "data": data,
                "gas": gas,
                "maxFeePerGas": MAX_FEE,
                "maxPriorityFeePerGas": TIP,
            },
            self.key,
        )
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()


class Transport:
    """Requests over HTTP (a keep-alive session) or over one WebSocket (responses routed by id,
    notifications checked as they come)."""

    def __init__(self, session: aiohttp.ClientSession, node: Node, stats: Stats) -> None:
        self.session, self.node, self.stats = session, node, stats

    async def call(self, method: str, *params: Any) -> Any:
        return await rpc(self.session, self.node.url, self.stats, method, *params)

    async def close(self) -> None:
        return None


class WebSocketTransport(Transport):
    def __init__(
        self, session: aiohttp.ClientSession, node: Node, stats: Stats, counter: str
    ) -> None:
        super().__init__(session, node, stats)
        self.counter = counter
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.waiting: dict[int, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None
        self.subscriptions: dict[str, str] = {}  # subscription id → kind
        self.last_head: int | None = None

    async def open(self) -> None:
        self.ws = await self.session.ws_connect(self.node.ws_url, max_msg_size=0, heartbeat=None)
        self.reader = asyncio.create_task(self._read())
        heads = await self.call("eth_subscribe", "newHeads")
        self.subscriptions[heads] = "newHeads"
        logs = await self.call(
            "eth_subscribe", "logs", {"address": self.counter, "topics": [INCREMENTED_TOPIC]}
        )
        self.subscriptions[logs] = "logs"

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            payload = json.loads(message.data)
            if "id" in payload and payload["id"] in self.waiting:
                self.waiting.pop(payload["id"]).set_result(payload)
            elif payload.get("method") == "eth_subscription":
                self._notified(payload["params"])
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(RpcFailure("websocket: closed", str(self.ws.close_code)))

    def _notified(self, params: dict[str, Any]) -> None:
        kind = self.subscriptions.get(params["subscription"], "unknown")
        self.stats.notifications[kind] += 1
        result = params["result"]
        if kind == "newHeads":
            number = int(result["number"], 16)
            if self.last_head is not None and number != self.last_head + 1:
                self.stats.error("websocket: newHeads gap", f"after {self.last_head} came {number}")
            self.last_head = number
        elif kind == "logs" and result["address"].lower() != self.counter.lower():
            self.stats.error("websocket: foreign log", json.dumps(result)[:200])

    async def call(self, method: str, *params: Any) -> Any:
        assert self.ws is not None
        body = request(method, *params)
        future = asyncio.get_running_loop().create_future()
        self.waiting[body["id"]] = future
        started = time.monotonic()
        try:
            await self.ws.send_str(json.dumps(body))
            answer = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except (TimeoutError, aiohttp.ClientError, OSError, ConnectionError) as exc:
            self.waiting.pop(body["id"], None)
            raise RpcFailure(f"{method}: ws {type(exc).__name__}", str(exc)) from None
        self.stats.latencies[(self.stats.phase, f"{method} (ws)")].append(
            time.monotonic() - started
        )
        if "error" in answer:
            raise RpcFailure(
                f"{method}: {answer['error'].get('code')}", answer["error"].get("message")
            )
        return answer["result"]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 10)


async def wait_receipt(transport: Transport, tx_hash: str) -> dict[str, Any]:
    deadline = time.monotonic() + RECEIPT_TIMEOUT
    while time.monotonic() < deadline:
        receipt = await transport.call("eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return receipt
        await asyncio.sleep(0.02)  # polling: the next block may take a moment under load
    raise RpcFailure("receipt: timeout", tx_hash)


async def send_one(transport: Transport, sender: Sender, counter: str, rng: random.Random) -> None:
    """One signed transaction (a transfer or an increment), then its receipt."""
    if rng.random() < 0.5:
        raw, tx_hash = sender.sign(counter, 0, INCREMENT, INCREMENT_GAS)
    else:
        raw, tx_hash = sender.sign("0x" + keccak(sender.key.encode())[:20].hex(), 1, b"", 21_000)
    sent = await transport.call("eth_sendRawTransaction", raw)
    if sent != tx_hash:
        raise RpcFailure("eth_sendRawTransaction: wrong hash", f"{sent} != {tx_hash}")
    sender.nonce += 1
    receipt = await wait_receipt(transport, tx_hash)
    if receipt["status"] != "0x1":
        raise RpcFailure("receipt: failed transaction", tx_hash)
    stats = transport.stats
    stats.receipts[tx_hash] = (int(receipt["blockNumber"], 16), receipt["blockHash"])
    stats.mined[stats.phase] += 1


async def one_operation(
    transport: Transport, sender: Sender, counter: str, rng: random.Random
) -> None:
    roll = rng.random()
    if roll < 0.4:
        await send_one(transport, sender, counter, rng)
    elif roll < 0.7:
        result = await transport.call(
            "eth_call", {"to": counter, "data": "0x" + GET.hex()}, "latest"
        )
        if len(result) != 66:
            raise RpcFailure("eth_call: wrong shape", result)
    elif roll < 0.9:
        head = int(await transport.call("eth_blockNumber"), 16)
        logs = await transport.call(
            "eth_getLogs",
            {
                "address": counter,
                "topics": [INCREMENTED_TOPIC],
                "fromBlock": hex(max(0, head - LOGS_WINDOW)),
                "toBlock": hex(head),
            },
        )
        if not isinstance(logs, list):
            raise RpcFailure("eth_getLogs: wrong shape", str(logs)[:200])
    else:
        await transport.call("eth_getBalance", sender.address, "latest")


async def resync_nonce(transport: Transport, sender: Sender) -> None:
    sender.nonce = int(
        await transport.call("eth_getTransactionCount", sender.address, "pending"), 16
    )


async def client(
    transport: Transport,
    sender: Sender,
    counter: str,
    until: float,
    live: Liveness,
    rng: random.Random,
    only_sends: bool = False,
) -> None:
    """Loop until ``until``: one operation at a time; a failure is an error unless the node
    was killed meanwhile (then wait for the restart and resync the nonce)."""
    stats = transport.stats
    while time.monotonic() < until:
        await live.up.wait()
        generation = live.generation
        try:
            if only_sends:
                await send_one(transport, sender, counter, rng)
            else:
                await one_operation(transport, sender, counter, rng)
        except RpcFailure as exc:
            if live.generation != generation or not live.up.is_set():
                stats.interrupted[exc.kind] += 1
                await live.up.wait()
                with contextlib.suppress(RpcFailure):
                    await resync_nonce(transport, sender)
                continue
            stats.error(exc.kind, str(exc))
            with contextlib.suppress(RpcFailure):
                await resync_nonce(transport, sender)


# --------------------------------------------------------------------------- checks


async def check_receipts(
    session: aiohttp.ClientSession, node: Node, seen: dict[str, tuple[int, str]]
) -> list[str]:
    """Hashes among ``seen`` whose receipt is missing or moved to another block."""
    lost = []
    hashes = list(seen)
    for start in range(0, len(hashes), RECEIPT_CHECK_BATCH):
        chunk = hashes[start : start + RECEIPT_CHECK_BATCH]
        body = [request("eth_getTransactionReceipt", h) for h in chunk]
        async with session.post(
            node.url, json=body, timeout=aiohttp.ClientTimeout(total=120)
        ) as resp:
            answers = {a["id"]: a for a in await resp.json()}
        for item, tx_hash in zip(body, chunk, strict=True):
            receipt = answers[item["id"]].get("result")
            if (
                receipt is None
                or (
                    int(receipt["blockNumber"], 16),
                    receipt["blockHash"],
                )
                != seen[tx_hash]
            ):
                lost.append(tx_hash)
    return lost


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
