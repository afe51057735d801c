"""Benchmark any Ethereum JSON-RPC endpoint with raw keep-alive HTTP and print one JSON object.

All measurements go over a single reused ``http.client.HTTPConnection`` (web3.py adds about
1.8 ms per call, so it is not used here), in this order:

1. Sequential ``eth_sendRawTransaction`` throughput under automine: ``--txs`` EIP-1559 transfers
   are signed before the clock starts, then sent one by one (each waits for its response); the
   clock stops once the last transaction's receipt is available. Every transfer must land: the
   sender's nonce has to advance by exactly ``--txs``. Send latency median/p95 come with it.
2. ``eth_call`` latency against a tiny hand-assembled contract (deployed with a signed raw
   transaction) whose runtime returns storage slot 0; each result is checked.
3. Bare ``eth_blockNumber`` latency.
4. Empty blocks: ``--mine-blocks`` blocks in one ``anvil_mine`` request, then as many
   ``anvil_mine`` requests of one block each; milliseconds per block for both.
5. Chain growth: ``anvil_mine`` in chunks of ``--chunk`` blocks until the head reaches
   ``--height`` (ms per block of the first and last chunk), then measure 1 again at that height.
   ``--grow-budget SECONDS`` stops the growth early (anvil's blocks get slower as its chain
   grows: about 20 ms each at block 6 000 on a 2-core Xeon); ``height`` says where it got to.
6. With ``--pid`` (the node's process, on this machine): VmRSS from ``/proc/<pid>/status``
   before 4 and after 5, reported as MB of growth per 1000 empty blocks.

``--mine-blocks 0`` skips 4, ``--height 0`` skips 5. The defaults are the sizes of issue 12
(500 transfers, 1000 blocks, a 20 000-block chain); ``--quick`` gives small ones for a smoke
test. Explicit size flags win over both.

Usage::

    .venv/bin/python scripts/bench.py --url http://127.0.0.1:8545
    .venv/bin/python scripts/bench.py --url http://127.0.0.1:8545 --quick --pid 12345

State the sizes when quoting figures, and measure against a fresh node: some peers (anvil)
slow down as their chain grows.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_account import Account

DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
GWEI = 10**9
TRANSFER_GAS = 21_000
DEPLOY_GAS = 200_000
RECEIPT_TIMEOUT_S = 900.0  # anvil takes minutes to mine 500 blocks on a long chain
MAX_MINE_CHUNK = 10_000  # native-devnet's MAX_MINE_BLOCKS per anvil_mine
RECIPIENTS = tuple("0x" + byte * 20 for byte in ("11", "22", "33", "44"))

# Value stored in slot 0 by the init code and returned by the runtime.
STORED_VALUE = 0x1234ABCD
# Runtime returning storage slot 0 as one 32-byte word.
RUNTIME = bytes.fromhex(
    "".join(
        [
            "6000",  # PUSH1 0
            "54",  # SLOAD
            "6000",  # PUSH1 0
            "52",  # MSTORE
            "6020",  # PUSH1 32
            "6000",  # PUSH1 0
            "f3",  # RETURN
        ]
    )
)


class RpcError(RuntimeError):
    """A JSON-RPC error response or an unusable HTTP answer."""


class RpcClient:
    """Minimal JSON-RPC client over one persistent HTTP/1.1 connection."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only plain http:// URLs are supported, got {url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self._timeout = timeout
        self._conn = self._connect()
        self._next_id = 0

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _post(self, body: bytes) -> bytes:
        self._conn.request(
            "POST", self._path, body=body, headers={"Content-Type": "application/json"}
        )
        response = self._conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RpcError(f"HTTP {response.status}: {payload[:200]!r}")
        return payload

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        """Send one request and return its ``result``; raise ``RpcError`` on an error reply.

        A connection the server closed while idle is reopened once, before anything was read.
        """
        self._next_id += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params or []}
        ).encode()
        try:
            payload = self._post(body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self._conn.close()
            self._conn = self._connect()
            payload = self._post(body)
        reply = json.loads(payload)
        if "error" in reply:
            raise RpcError(f"{method}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        self._conn.close()


@dataclass(frozen=True)
class ChainInfo:
    """What the benchmark needs to know about the node before it starts."""

    client: str
    chain_id: int
    nonce: int
    base_fee: int
    head: int


def discover(rpc: RpcClient, sender: str) -> ChainInfo:
    latest = rpc.call("eth_getBlockByNumber", ["latest", False])
    try:
        client = rpc.call("web3_clientVersion")
    except RpcError as exc:  # optional method: report it, do not give up
        client = f"unknown ({exc})"
    return ChainInfo(
        client=client,
        chain_id=int(rpc.call("eth_chainId"), 16),
        nonce=int(rpc.call("eth_getTransactionCount", [sender, "pending"]), 16),
        base_fee=int(latest.get("baseFeePerGas") or "0x0", 16),
        head=int(latest["number"], 16),
    )


def ms_stats(samples_s: list[float]) -> dict[str, float | int]:
    """Median and nearest-rank p95 of durations given in seconds, reported in milliseconds."""
    ordered = sorted(samples_s)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "median": round(statistics.median(ordered) * 1000, 3),
        "p95": round(p95 * 1000, 3),
        "n": len(ordered),
    }


def sign_tx(account: Any, info: ChainInfo, nonce: int, **fields: Any) -> str:
    """Sign an EIP-1559 transaction with generous fees; return its raw hex."""
    tx = {
        "type": 2,
        "chainId": info.chain_id,
        "nonce": nonce,
        "maxPriorityFeePerGas": GWEI,
        "maxFeePerGas": 2 * info.base_fee + GWEI,
        "value": 0,
        "data": b"",
        **fields,
    }
    return "0x" + account.sign_transaction(tx).raw_transaction.hex()


def presign_transfers(account: Any, info: ChainInfo, count: int) -> list[str]:
    return [
        sign_tx(
            account,
            info,
            info.nonce + i,
            to=RECIPIENTS[i % len(RECIPIENTS)],
            value=1,
            gas=TRANSFER_GAS,
        )
        for i in range(count)
    ]


def wait_receipt(rpc: RpcClient, tx_hash: str, timeout: float = RECEIPT_TIMEOUT_S) -> dict:
    """Poll ``eth_getTransactionReceipt`` until it is non-null; no sleep on the first try."""
    deadline = time.perf_counter() + timeout
    while True:
        receipt = rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt
        if time.perf_counter() > deadline:
            raise RpcError(f"no receipt for {tx_hash} after {timeout} s")
        time.sleep(0.001)


def bench_send_raw(rpc: RpcClient, account: Any, info: ChainInfo, count: int) -> dict[str, Any]:
    """Measure 1: sequential eth_sendRawTransaction throughput, receipt of the last included."""
    raw_txs = presign_transfers(account, info, count)
    latencies: list[float] = []
    last_hash = ""
    start = time.perf_counter()
    for raw in raw_txs:
        t0 = time.perf_counter()
        last_hash = rpc.call("eth_sendRawTransaction", [raw])
        latencies.append(time.perf_counter() - t0)
    receipt = wait_receipt(rpc, last_hash)
    elapsed = time.perf_counter() - start

    if int(receipt["status"], 16) != 1:
        raise RpcError(f"last transfer {last_hash} failed: {receipt}")
    nonce_after = int(rpc.call("eth_getTransactionCount", [account.address, "latest"]), 16)
    if nonce_after != info.nonce + count:
        raise RpcError(f"nonce advanced by {nonce_after - info.nonce}, expected {count}")
    head_after = int(rpc.call("eth_blockNumber"), 16)
    send_stats = ms_stats(latencies)
    del send_stats["n"]
    return {
        "send_raw_tx_per_s": round(count / elapsed, 1),
        "send_raw_seconds": round(elapsed, 3),
        "send_latency_ms": send_stats,
        "blocks_mined": head_after - info.head,
    }


def init_code(value: int, runtime: bytes) -> bytes:
    """Init code: SSTORE ``value`` into slot 0, then CODECOPY and RETURN ``runtime``."""
    store = bytes([0x7F]) + value.to_bytes(32, "big") + bytes.fromhex("600055")  # PUSH1 0 SSTORE
    copy_len = 12  # PUSH1 len PUSH1 off PUSH1 0 CODECOPY PUSH1 len PUSH1 0 RETURN
    offset = len(store) + copy_len
    size = len(runtime)
    copy = bytes([0x60, size, 0x60, offset, 0x60, 0x00, 0x39, 0x60, size, 0x60, 0x00, 0xF3])
    assert len(copy) == copy_len and offset < 256 and size < 256
    return store + copy + runtime


def deploy_contract(rpc: RpcClient, account: Any, info: ChainInfo, nonce: int) -> str:
    raw = sign_tx(account, info, nonce, gas=DEPLOY_GAS, data=init_code(STORED_VALUE, RUNTIME))
    receipt = wait_receipt(rpc, rpc.call("eth_sendRawTransaction", [raw]))
    if int(receipt["status"], 16) != 1 or not receipt.get("contractAddress"):
        raise RpcError(f"deployment failed: {receipt}")
    code = rpc.call("eth_getCode", [receipt["contractAddress"], "latest"])
    if bytes.fromhex(code[2:]) != RUNTIME:
        raise RpcError(f"deployed code mismatch: {code}")
    return receipt["contractAddress"]


def bench_eth_call(rpc: RpcClient, address: str, count: int) -> dict[str, float | int]:
    """Measure 2: eth_call latency; every result must be the stored value."""
    call = {"to": address, "data": "0x"}
    samples: list[float] = []
    for _ in range(count + 1):  # the first, untimed call warms up
        t0 = time.perf_counter()
        result = rpc.call("eth_call", [call, "latest"])
        samples.append(time.perf_counter() - t0)
        if int(result, 16) != STORED_VALUE:
            raise RpcError(f"eth_call returned {result}, expected {STORED_VALUE:#x}")
    return ms_stats(samples[1:])


def bench_block_number(rpc: RpcClient, count: int) -> dict[str, float | int]:
    """Measure 3: bare eth_blockNumber latency."""
    samples: list[float] = []
    for _ in range(count):
        t0 = time.perf_counter()
        rpc.call("eth_blockNumber")
        samples.append(time.perf_counter() - t0)
    return ms_stats(samples)


def head_number(rpc: RpcClient) -> int:
    return int(rpc.call("eth_blockNumber"), 16)


def mine(rpc: RpcClient, blocks: int) -> float:
    """One ``anvil_mine`` request of ``blocks`` empty blocks; its duration in seconds.

    The head has to advance by exactly ``blocks`` (checked after the clock stops).
    """
    before = head_number(rpc)
    t0 = time.perf_counter()
    rpc.call("anvil_mine", [hex(blocks)])
    elapsed = time.perf_counter() - t0
    after = head_number(rpc)
    if after != before + blocks:
        raise RpcError(f"anvil_mine {blocks}: head went from {before} to {after}")
    return elapsed


def ms_per_block(seconds: float, blocks: int) -> float:
    return round(seconds * 1000 / blocks, 3)


def bench_mine(rpc: RpcClient, blocks: int) -> dict[str, float]:
    """Measure 4: ``blocks`` empty blocks in one anvil_mine, then one anvil_mine per block."""
    batch = mine(rpc, blocks)
    before = head_number(rpc)
    t0 = time.perf_counter()
    for _ in range(blocks):
        rpc.call("anvil_mine", ["0x1"])
    single = time.perf_counter() - t0
    after = head_number(rpc)
    if after != before + blocks:
        raise RpcError(f"{blocks} x anvil_mine 1: head went from {before} to {after}")
    return {
        "mine_batch_ms_per_block": ms_per_block(batch, blocks),
        "mine_single_ms_per_block": ms_per_block(single, blocks),
    }


def grow_chain(
    rpc: RpcClient, height: int, chunk: int, budget: float = 0.0
) -> dict[str, float | int]:
    """Measure 5a: anvil_mine in chunks until the head is at ``height``.

    With a ``budget`` (seconds, 0 for none) growth stops after the chunk that used it up;
    ``height`` then says where the chain got to (``height_target`` where it was going).
    """
    start_head = head_number(rpc)
    head = start_head
    chunks: list[tuple[int, float]] = []
    spent = 0.0
    while head < height and not (budget and spent >= budget):
        blocks = min(chunk, height - head)
        seconds = mine(rpc, blocks)
        chunks.append((blocks, seconds))
        spent += seconds
        head += blocks
    report: dict[str, float | int] = {
        "grow_blocks": head - start_head,
        "height": head,
        "height_target": height,
    }
    if chunks:
        report["grow_seconds"] = round(spent, 3)
        report["grow_first_chunk_ms_per_block"] = ms_per_block(chunks[0][1], chunks[0][0])
        report["grow_last_chunk_ms_per_block"] = ms_per_block(chunks[-1][1], chunks[-1][0])
    return report


def rss_kb(pid: int) -> int:
    """The resident set size of process ``pid`` in kB (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RpcError(f"process {pid} has no VmRSS (did it exit?)")


def rss_growth(start_kb: int, end_kb: int, blocks: int) -> dict[str, float | int]:
    """Measure 6: RSS before and after ``blocks`` empty blocks, and MB per 1000 of them."""
    report: dict[str, float | int] = {
        "rss_mb_start": round(start_kb / 1024, 1),
        "rss_mb_end": round(end_kb / 1024, 1),
        "rss_empty_blocks": blocks,
    }
    if blocks > 0:
        report["rss_mb_per_1000_blocks"] = round((end_kb - start_kb) / 1024 * 1000 / blocks, 3)
    return report


def run(args: argparse.Namespace) -> dict[str, Any]:
    account = Account.from_key(args.key)
    rpc = RpcClient(args.url, timeout=args.request_timeout)
    try:
        info = discover(rpc, account.address)
        report: dict[str, Any] = {
            "url": args.url,
            "client": info.client,
            "chain_id": info.chain_id,
            "sizes": {
                name: getattr(args, name)
                for name in ("txs", "calls", "pings", "mine_blocks", "height", "chunk")
            },
        }
        report.update(bench_send_raw(rpc, account, info, args.txs))
        address = deploy_contract(rpc, account, info, info.nonce + args.txs)
        report["eth_call_ms"] = bench_eth_call(rpc, address, args.calls)
        report["block_number_ms"] = bench_block_number(rpc, args.pings)

        rss_start = rss_kb(args.pid) if args.pid else None
        blocks_start = head_number(rpc)
        if args.mine_blocks:
            report.update(bench_mine(rpc, args.mine_blocks))
        if args.height:
            report.update(grow_chain(rpc, args.height, args.chunk, args.grow_budget))
        if rss_start is not None:  # only empty blocks since the first sample
            report.update(rss_growth(rss_start, rss_kb(args.pid), head_number(rpc) - blocks_start))
        if args.height:
            at_height = discover(rpc, account.address)
            again = bench_send_raw(rpc, account, at_height, args.txs)
            report["height_send_raw_tx_per_s"] = again["send_raw_tx_per_s"]
            report["height_send_latency_ms"] = again["send_latency_ms"]
            report["height_over_start_tx_per_s"] = round(
                again["send_raw_tx_per_s"] / report["send_raw_tx_per_s"], 3
            )
        return report
    finally:
        rpc.close()


# Sizes: (issue 12's full size, --quick size).
SIZES: dict[str, tuple[int, int, str]] = {
    "txs": (500, 50, "transfers to send (measures 1 and 5)"),
    "calls": (300, 50, "eth_calls to time (measure 2)"),
    "pings": (500, 100, "eth_blockNumber calls to time (measure 3)"),
    "mine_blocks": (1000, 50, "empty blocks mined in one request, then one by one (measure 4)"),
    "height": (20_000, 300, "chain height at which measure 1 is repeated (measure 5)"),
    "chunk": (1000, 100, "blocks per anvil_mine request while growing the chain"),
}


def add_size_flags(parser: argparse.ArgumentParser) -> None:
    """``--quick`` and one flag per entry of ``SIZES`` (``None`` until resolved)."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for a smoke test ("
        + ", ".join(f"{name} {quick}" for name, (_, quick, _) in SIZES.items())
        + ")",
    )
    for name, (full, _, text) in SIZES.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, default=None, help=f"{text}; full size {full}")


def add_budget_flag(parser: argparse.ArgumentParser, default: float = 0.0) -> None:
    parser.add_argument(
        "--grow-budget",
        type=float,
        default=default,
        metavar="SECONDS",
        help="stop growing the chain (measure 5) once this many seconds of anvil_mine are "
        f"spent, and measure at the height reached (default {default:g}; 0: no budget)",
    )


def resolve_sizes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill unset sizes from the --quick or the full preset; check their bounds."""
    for name, (full, quick, _) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    for name in ("txs", "calls", "pings", "chunk"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("mine_blocks", "height"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be at least 0")
    if getattr(args, "grow_budget", 0) < 0:
        parser.error("--grow-budget must be at least 0")
    if args.chunk > MAX_MINE_CHUNK:
        parser.error(f"--chunk must be at most {MAX_MINE_CHUNK} (native-devnet's anvil_mine)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default="http://127.0.0.1:8545", help="JSON-RPC endpoint")
    parser.add_argument("--key", default=DEV_KEY, help="private key of a funded account")
    parser.add_argument("--pid", type=int, help="the node's process id, to sample its VmRSS")
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=900.0,
        help="seconds one request may take (an anvil_mine chunk on a slow node)",
    )
    add_size_flags(parser)
    add_budget_flag(parser)
    args = parser.parse_args(argv)
    resolve_sizes(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except (RpcError, OSError, http.client.HTTPException, ValueError, KeyError) as exc:
        print(json.dumps({"url": args.url, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
