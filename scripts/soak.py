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

This file holds the command line and the phases; the node process, the clients and the receipt
check are in ``scripts/soak_clients.py``.

Usage::

    .venv/bin/python scripts/soak.py                  # 50 clients, 10 min, 20 restarts, 10 000 blocks
    .venv/bin/python scripts/soak.py --clients 3 --minutes 0.2 --restarts 2 --blocks 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from eth_account import Account
from soak_clients import (
    CHAIN_ID,
    MAX_FEE,
    ROOT,
    TIP,
    Liveness,
    Node,
    Sender,
    Stats,
    Transport,
    WebSocketTransport,
    check_receipts,
    client,
    percentile,
    resync_nonce,
    rpc,
    rss_kib,
    wait_receipt,
)

COUNTER_ARTIFACT = ROOT / "contracts" / "out" / "Counter.json"
DEV_MNEMONIC = "test test test test test test test test test test test junk"

DEPLOY_GAS = 1_000_000
MINE_CHUNK = 500  # blocks per anvil_mine call (the node allows 10 000)
MINE_TIMEOUT = 600.0  # seconds for one anvil_mine call (a busy machine mines slowly)
WS_EVERY = 5  # every fifth client uses a WebSocket with subscriptions
RESTART_TRAFFIC = (0.5, 3.0)  # seconds of send traffic before each kill, drawn uniformly
SENDERS_IN_RESTARTS = 8  # clients sending during phase B


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
