"""Soak benchmark: many clients for minutes, then kill -9 / restart cycles, on one ``--data-dir``.

Loopback only, bounded in count and time, and it stops by itself (every node it starts is
stopped by PID, also on Ctrl-C).

0. A node with ``--data-dir`` (a temporary directory unless given) and one funded dev account
   per client; ``--blocks`` empty blocks are mined with ``anvil_mine``, then a ``Counter``
   contract (contracts/out) is deployed so calls, logs and subscriptions have something to see.
1. Phase A, ``--minutes`` long: ``--clients`` asyncio clients, each with its own sender
   account (so its own nonce range), mix ``eth_sendRawTransaction`` (transfers and
   ``Counter.increment()``, signed before the request is timed; each client then polls for its
   receipt), ``eth_call`` (``Counter.get()``), ``eth_getLogs`` (the counter's events over the
   last blocks) and ``eth_blockNumber``. Clients 0, 5, 10… speak over a WebSocket on which
   it holds ``newHeads`` and ``logs`` subscriptions: each newHeads number must follow the
   previous one, each logs notification must be for the counter.
2. Phase B: ``--restarts`` cycles of traffic from the senders, a ``kill -9`` of the node at a
   random moment, a restart on the same data directory and a check that every receipt any
   client saw before the kill is still there, in the same block.

Printed at the end: errors (count, by kind; requests cut off by a kill are counted apart as
expected), lost receipts, RSS (VmRSS from /proc/PID/status) at start, after the pre-mine, at
the end of phase A and at the end, p50/p99 latency per method and phase, blocks, tx/s.
Exit status 0 only with no errors and no lost receipts.

Usage::

    .venv/bin/python scripts/soak.py                  # 50 clients, 10 min, 20 restarts, 10 000 blocks
    .venv/bin/python scripts/soak.py --clients 3 --minutes 0.2 --restarts 2 --blocks 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from eth_account import Account
from eth_utils import keccak, to_checksum_address

ROOT = Path(__file__).resolve().parent.parent
COUNTER_ARTIFACT = ROOT / "contracts" / "out" / "Counter.json"
DEV_MNEMONIC = "test test test test test test test test test test test junk"

CHAIN_ID = 31337
GWEI = 10**9
MAX_FEE = 100 * GWEI
TIP = GWEI
TRANSFER_GAS = 21_000
INCREMENT_GAS = 100_000
DEPLOY_GAS = 1_000_000
MINE_CHUNK = 500  # blocks per anvil_mine call (the node allows 10 000)
MINE_TIMEOUT = 600.0  # seconds for one anvil_mine call (a busy machine mines slowly)
LOGS_WINDOW = 50  # eth_getLogs looks this many blocks back
REQUEST_TIMEOUT = 30.0  # seconds; a request slower than this is an error
RECEIPT_TIMEOUT = 30.0
STARTUP_TIMEOUT = 120.0
RECEIPT_CHECK_BATCH = 500  # receipts checked per batch request after a restart
WS_EVERY = 5  # every fifth client uses a WebSocket with subscriptions
RESTART_TRAFFIC = (0.5, 3.0)  # seconds of send traffic before each kill, drawn uniformly
SENDERS_IN_RESTARTS = 8  # clients sending during phase B

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


# --------------------------------------------------------------------------- the run


async def premine(session: aiohttp.ClientSession, node: Node, stats: Stats, blocks: int) -> None:
    done = 0
    while done < blocks:
        step = min(MINE_CHUNK, blocks - done)
        await rpc(session, node.url, stats, "anvil_mine", hex(step), timeout=MINE_TIMEOUT)
        done += step
        print(f"  pre-mined {done}/{blocks} blocks", flush=True)


async def deploy_counter(
    session: aiohttp.ClientSession, node: Node, stats: Stats, deployer: Sender
) -> str:
    artifact = json.loads(COUNTER_ARTIFACT.read_text())
    bytecode = artifact["bytecode"]
    bytecode = bytecode["object"] if isinstance(bytecode, dict) else bytecode
    init = bytes.fromhex(bytecode[2:]) + (5).to_bytes(32, "big")  # constructor(uint256 5)
    signed = Account.sign_transaction(
        {
            "chainId": CHAIN_ID,
            "nonce": deployer.nonce,
            "to": None,
            "value": 0,
            "data": init,
            "gas": DEPLOY_GAS,
            "maxFeePerGas": MAX_FEE,
            "maxPriorityFeePerGas": TIP,
        },
        deployer.key,
    )
    tx_hash = await rpc(
        session,
        node.url,
        stats,
        "eth_sendRawTransaction",
        "0x" + bytes(signed.raw_transaction).hex(),
    )
    transport = Transport(session, node, stats)
    receipt = await wait_receipt(transport, tx_hash)
    return receipt["contractAddress"]


def dev_senders(count: int) -> list[Sender]:
    Account.enable_unaudited_hdwallet_features()
    senders = []
    for i in range(count):
        account = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        senders.append(Sender("0x" + bytes(account.key).hex(), account.address))
    return senders


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    work_dir = Path(tempfile.mkdtemp(prefix="soak-"))  # the node's log, and its data by default
    data_dir = args.data_dir or work_dir / "chain"
    log_path = work_dir / "node.log"
    senders = dev_senders(args.clients + 1)
    deployer, senders = senders[-1], senders[:-1]
    node = Node(data_dir, args.clients + 1, log_path)
    stats = Stats(phase="setup")
    live = Liveness()
    rss: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            startup = await node.start(session)
            live.up.set()
            rss["start"] = rss_kib(node.pid)
            print(
                f"node pid {node.pid} on {node.url}, data dir {data_dir}, log {log_path}, "
                f"started in {startup:.1f}s",
                flush=True,
            )
            mined_at = time.monotonic()
            await premine(session, node, stats, args.blocks)
            premine_seconds = time.monotonic() - mined_at
            rss["after pre-mine"] = rss_kib(node.pid)
            counter = await deploy_counter(session, node, stats, deployer)
            head_before = int(await rpc(session, node.url, stats, "eth_blockNumber"), 16)

            # -- phase A ----------------------------------------------------------------
            stats.phase = "A"
            print(f"phase A: {args.clients} clients for {args.minutes} min", flush=True)
            transports: list[Transport] = []
            for i in range(args.clients):
                if i % WS_EVERY == 0:
                    ws = WebSocketTransport(session, node, stats, counter)
                    await ws.open()
                    transports.append(ws)
                else:
                    transports.append(Transport(session, node, stats))
            for sender in senders:
                await resync_nonce(transports[0], sender)  # a reused data dir has history
            started_a = time.monotonic()
            until = started_a + args.minutes * 60
            await asyncio.gather(
                *(
                    client(
                        transports[i], senders[i], counter, until, live, random.Random(rng.random())
                    )
                    for i in range(args.clients)
                )
            )
            seconds_a = max(time.monotonic() - started_a, 1e-9)
            for transport in transports:
                await transport.close()
            rss["end of phase A"] = rss_kib(node.pid)
            head_after_a = int(await rpc(session, node.url, stats, "eth_blockNumber"), 16)
            stats.lost += await check_receipts(session, node, stats.receipts)

            # -- phase B ----------------------------------------------------------------
            stats.phase = "B"
            print(f"phase B: {args.restarts} kill -9 / restart cycles", flush=True)
            restart_seconds = []
            started_b = time.monotonic()
            sending = senders[: min(SENDERS_IN_RESTARTS, args.clients)]
            http = Transport(session, node, stats)
            for sender in sending:
                await resync_nonce(http, sender)
            stop_b = asyncio.Event()
            far = time.monotonic() + 24 * 3600

            async def sender_loop(sender: Sender) -> None:
                seed = random.Random(rng.random())
                task = asyncio.create_task(
                    client(http, sender, counter, far, live, seed, only_sends=True)
                )
                await stop_b.wait()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            loops = [asyncio.create_task(sender_loop(s)) for s in sending]
            for cycle in range(args.restarts):
                await asyncio.sleep(rng.uniform(*RESTART_TRAFFIC))  # traffic until a random moment
                seen = dict(stats.receipts)
                live.down()
                node.kill(signal.SIGKILL)
                restart_seconds.append(await node.start(session))
                fresh_rss = rss_kib(node.pid)
                lost = await check_receipts(session, node, seen)
                stats.lost += lost
                live.up.set()
                print(
                    f"  cycle {cycle + 1}: killed, restarted in {restart_seconds[-1]:.1f}s "
                    f"(RSS {fresh_rss / 1024:.0f} MiB), {len(seen)} receipts checked "
                    f"(RSS {rss_kib(node.pid) / 1024:.0f} MiB), {len(lost)} lost",
                    flush=True,
                )
            stop_b.set()
            await asyncio.gather(*loops)
            seconds_b = max(time.monotonic() - started_b, 1e-9)
            stats.lost += await check_receipts(session, node, stats.receipts)
            head_end = int(await rpc(session, node.url, stats, "eth_blockNumber"), 16)
            rss["end"] = rss_kib(node.pid)
        finally:
            node.kill(signal.SIGTERM)
            if args.keep:
                print(f"kept {work_dir}")
            else:
                shutil.rmtree(work_dir, ignore_errors=True)

    # -- report ---------------------------------------------------------------------------
    lost = sorted(set(stats.lost))
    print()
    print(f"errors: {sum(stats.errors.values())}")
    for kind, count in stats.errors.most_common():
        print(f"  {count:6d}  {kind}  (e.g. {stats.error_examples[kind]})")
    print(f"interrupted by a deliberate kill (expected): {sum(stats.interrupted.values())}")
    print(f"lost receipts: {len(lost)}" + (f" e.g. {lost[:3]}" if lost else ""))
    print("RSS: " + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in rss.items()))
    print(
        f"blocks: {head_before} after pre-mine ({args.blocks} in {premine_seconds:.0f}s), "
        f"{head_after_a} after phase A, {head_end} at the end"
    )
    print(
        f"phase A: {seconds_a:.0f}s, {stats.mined['A']} transactions mined, "
        f"{stats.mined['A'] / seconds_a:.1f} tx/s; notifications {dict(stats.notifications)}"
    )
    print(
        f"phase B: {seconds_b:.0f}s, {stats.mined['B']} transactions mined, "
        f"{stats.mined['B'] / seconds_b:.1f} tx/s; restart median "
        f"{statistics.median(restart_seconds) if restart_seconds else 0:.1f}s "
        f"max {max(restart_seconds, default=0):.1f}s"
    )
    print("latency ms (phase, method: count p50 p99 max):")
    for (phase, method), values in sorted(stats.latencies.items()):
        print(
            f"  {phase} {method:36s} {len(values):7d} {percentile(values, 0.5) * 1000:8.1f} "
            f"{percentile(values, 0.99) * 1000:8.1f} {max(values) * 1000:8.1f}"
        )
    return 0 if not stats.errors and not lost else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--minutes", type=float, default=10.0, help="phase A length (default 10)")
    p.add_argument("--restarts", type=int, default=20, help="kill -9 / restart cycles (default 20)")
    p.add_argument("--blocks", type=int, default=10_000, help="blocks pre-mined (default 10 000)")
    p.add_argument("--data-dir", type=Path, help="the node's data directory (default: temporary)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (log, chain)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = p.parse_args()
    if args.clients < 1 or args.minutes < 0 or args.restarts < 0 or args.blocks < 0:
        p.error("counts and durations must be positive")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
