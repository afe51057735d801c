"""Node-side limits on a real process: the pool and transaction-size flags, the state-size
limit of ``--load-state``, and a ``--dump-state`` that cleans what a killed dump left.

- ``--txpool-max-queued-per-sender`` and ``--txpool-max-tx-size`` change the bounds;
  refusals are JSON-RPC errors with geth's words.
- ``--load-state`` of a gzip bomb beyond ``--max-state-size`` exits with a clear error at
  once, having decompressed no more than the limit.
- A temporary file that a killed ``--dump-state`` left next to its target is gone after the
  next dump; a finished dump leaves only the state file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zlib

import pytest
from eth_account import Account

from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from tests.procs import ROOT, free_port, rpc

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337
GWEI = 10**9
KEY = "0x" + derive_dev_accounts(DEFAULT_MNEMONIC, 1)[0].private_key.to_bytes().hex()
RECIPIENT = "0x" + "11" * 20
TX_SIZE_LIMIT = 128 * 1024


def signed(nonce: int, data: bytes = b"", gas: int = 21_000) -> str:
    tx = Account.sign_transaction(
        {
            "chainId": CHAIN_ID,
            "nonce": nonce,
            "to": RECIPIENT,
            "value": 0,
            "data": data,
            "gas": gas,
            "maxFeePerGas": 100 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        },
        KEY,
    )
    return "0x" + bytes(tx.raw_transaction).hex()


def send(node, raw: str) -> dict:
    return rpc(node.url, "eth_sendRawTransaction", [raw])


def test_pool_and_size_flags(node_factory):
    node = node_factory(
        "--no-mining", "--txpool-max-queued-per-sender", "2", "--txpool-max-tx-size", "200KiB"
    )
    assert "result" in send(node, signed(5))
    assert "result" in send(node, signed(6))
    refused = send(node, signed(7))["error"]
    assert refused["code"] == -32003
    assert refused["message"].startswith("account limit exceeded")
    assert "result" in send(node, signed(0))  # executable: not bounded by the queued limit

    big = signed(1, data=b"\x01" * 150_000, gas=7_000_000)  # above geth's 128 KiB, below 200
    assert "result" in send(node, big)
    junk = "0x02" + "ff" * 200 * 1024
    refused = send(node, junk)["error"]
    assert refused["message"] == f"oversized data: transaction size {200 * 1024 + 1}, limit 204800"


def test_default_transaction_size_is_geths(node_factory):
    node = node_factory("--no-mining")
    refused = send(node, signed(0, data=b"\x01" * TX_SIZE_LIMIT, gas=3_000_000))["error"]
    assert refused["message"].startswith("oversized data: transaction size")
    assert refused["message"].endswith(f"limit {TX_SIZE_LIMIT}")


def gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [compressor.compress(b'{"format":"native-devnet-state","pad":"')]
    parts += [compressor.compress(chunk) for _ in range(size // len(chunk))]
    parts.append(compressor.compress(b'"}') + compressor.flush())
    return b"".join(parts)


def test_load_state_file_beyond_the_limit_is_refused(tmp_path):
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip_bomb(64 << 20))  # 64 MiB of text in a few dozen kilobytes
    env = dict(os.environ, ETH_HASH_BACKEND="pysha3")
    done = subprocess.run(
        [sys.executable, "-m", "rpc.cli", "--port", str(free_port()), "--load-state", str(bomb)]
        + ["--max-state-size", "8MiB"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "--max-state-size" in done.stderr
    assert "larger than" in done.stderr


def test_dump_state_removes_what_a_killed_dump_left(node_factory, tmp_path):
    path = tmp_path / "state" / "chain.json"
    path.parent.mkdir()
    dead_pid = 2**22 + 4321  # above Linux's pid_max: no process has it
    stale = [
        path.with_name(f"chain.json.{dead_pid}.tmp"),  # this version's naming
        path.with_name("chain.json.q8v_2kd1.tmp"),  # the random names of earlier versions
    ]
    for leftover in stale:
        leftover.write_text('{"format":"native-devnet-st')  # cut off mid-write

    # A dump killed before it finishes leaves no new temporary file behind either.
    killed = node_factory("--dump-state", str(path))
    assert send(killed, signed(0))["result"]
    assert killed.stop(signal.SIGKILL) != 0

    node = node_factory("--dump-state", str(path))
    assert "result" in send(node, signed(0))
    assert node.stop(signal.SIGTERM) == 0
    assert json.loads(path.read_text())["head"]["number"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["chain.json"]
