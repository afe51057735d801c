"""``--data-dir``: what a node keeps across ``kill -9``, a clean SIGTERM and a restart.

- Crash: several threads send pre-signed raw transfers from different dev keys (automine)
  and record every receipt they see; after ``PERSISTENCE_SECONDS`` (default 2) the node is
  killed with SIGKILL by PID while traffic still flows. Restarted on the same data
  directory, every receipt a client saw is there in the same block, every block a watcher
  saw has the same hash, the header chain hash-links from head to genesis, balances and
  nonces are exactly what the restarted node's own blocks account for, past post-states
  are readable and prove against the next header's (delayed) state root, and the node
  keeps mining.
- SIGTERM: exit status 0; head, balances, code, storage, nonces, receipts and proofs are
  identical after the restart.
- ``--no-mining``: pending (and queued) transactions survive a restart, show in ``txpool_*``
  and ``eth_getTransactionByHash``, and ``evm_mine`` mines them.
- A data directory refuses a node started with another ``--chain-id`` or another genesis:
  the process exits non-zero and says why; the data directory is left as it was.

Sizes: ``PERSISTENCE_SECONDS`` (traffic before the kill), ``PERSISTENCE_SENDERS`` (threads).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from devtools.contracts import load
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from tests.procs import ROOT, NodeProcess, free_port, sign_transfer, wait_until

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337
GWEI = 10**9
ETH = 10**18
GENESIS_BALANCE = 10_000 * ETH
SECONDS = float(os.environ.get("PERSISTENCE_SECONDS", "2"))
SENDERS = int(os.environ.get("PERSISTENCE_SENDERS", "6"))
RECIPIENTS_PER_SENDER = 3
MAX_FEE = 100 * GWEI
TIP = GWEI

DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
DEV_KEYS = ["0x" + a.private_key.to_bytes().hex() for a in DEV]
DEV_ADDRESSES = [to_checksum_address(a.address) for a in DEV]


# --------------------------------------------------------------------------- helpers


def q(value: str) -> int:
    return int(value, 16)


def recipient(sender: int, j: int) -> str:
    return to_checksum_address(keccak(b"persistence-recipient" + bytes([sender, j]))[12:])


def transfer_value(sender: int, n: int) -> int:
    return 10**12 * (sender + 1) + n


def wait_receipt(node: NodeProcess, tx_hash: str, timeout: float = 15.0) -> dict:
    return node.wait_receipt(tx_hash, timeout)


def wait_pool_empty(node: NodeProcess, timeout: float = 20.0) -> None:
    wait_until(
        lambda: node.call("txpool_status") == {"pending": "0x0", "queued": "0x0"},
        "the pool to drain",
        timeout,
        interval=0.1,
    )


def balance(node: NodeProcess, address: str, block: str = "latest") -> int:
    return q(node.call("eth_getBalance", address, block))


def nonce(node: NodeProcess, address: str, block: str = "latest") -> int:
    return q(node.call("eth_getTransactionCount", address, block))


def all_blocks(node: NodeProcess) -> list[dict]:
    head = q(node.call("eth_blockNumber"))
    return [node.call("eth_getBlockByNumber", hex(n), True) for n in range(head + 1)]


def assert_hash_linked(blocks: list[dict]) -> None:
    """Every header's parentHash is the previous block's hash, down to genesis."""
    assert q(blocks[0]["number"]) == 0
    for n in range(len(blocks) - 1, 0, -1):
        assert q(blocks[n]["number"]) == n
        assert blocks[n]["parentHash"] == blocks[n - 1]["hash"], f"block {n} not linked"


def proof_root(proof: dict) -> str:
    """The state root an ``eth_getProof`` answer proves against: keccak of its root node."""
    return "0x" + keccak(bytes.fromhex(proof["accountProof"][0][2:])).hex()


def run_refused(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Start a node that must refuse to start; return its exit status and output."""
    env = dict(os.environ)
    env.setdefault("ETH_HASH_BACKEND", "pysha3")
    return subprocess.run(
        [sys.executable, "-m", "rpc.cli", "--port", str(free_port()), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


# --------------------------------------------------------------------------- kill -9 under load


class Traffic:
    """Sender threads (one dev key each) and a block watcher; records what clients saw."""

    def __init__(self, url: str, senders: int, per_sender: int) -> None:
        self.url = url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent: dict[str, tuple[int, int]] = {}  # tx hash -> (sender, nonce) answered OK
        self.seen_receipts: dict[str, dict] = {}  # tx hash -> receipt a client saw
        self.seen_blocks: dict[int, str] = {}  # number -> hash a client saw
        self.errors: list[str] = []
        self.txs: list[list[tuple[str, str, str, int]]] = []  # (raw, hash, to, value)
        for i in range(senders):
            batch = []
            for n in range(per_sender):
                to = recipient(i, n % RECIPIENTS_PER_SENDER)
                value = transfer_value(i, n)
                raw, tx_hash = sign_transfer(DEV_KEYS[i], n, to, value)
                batch.append((raw, tx_hash, to, value))
            self.txs.append(batch)
        self.threads = [
            threading.Thread(target=self._send, args=(i,), daemon=True) for i in range(senders)
        ] + [threading.Thread(target=self._watch, daemon=True)]

    def _call(self, session: requests.Session, method: str, *params):
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return session.post(self.url, json=body, timeout=10).json()

    def _send(self, i: int) -> None:
        session = requests.Session()
        for n, (raw, tx_hash, _, _) in enumerate(self.txs[i]):
            if self.stop.is_set():
                return
            try:
                answer = self._call(session, "eth_sendRawTransaction", raw)
                if "error" in answer:
                    with self.lock:
                        self.errors.append(f"sender {i} nonce {n}: {answer['error']}")
                    return
                assert answer["result"] == tx_hash
                with self.lock:
                    self.sent[tx_hash] = (i, n)
                receipt = self._call(session, "eth_getTransactionReceipt", tx_hash)["result"]
            except (requests.RequestException, ValueError):
                return  # the node is gone
            if receipt is not None:
                with self.lock:
                    self.seen_receipts[tx_hash] = receipt

    def _watch(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            try:
                block = self._call(session, "eth_getBlockByNumber", "latest", False)["result"]
            except (requests.RequestException, ValueError):
                return
            with self.lock:
                self.seen_blocks[q(block["number"])] = block["hash"]
            time.sleep(0.01)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)
            assert not t.is_alive()


def test_kill_9_under_traffic_loses_nothing_a_client_saw(node_factory, tmp_path):
    data_dir = tmp_path / "chain"
    node = node_factory("--data-dir", str(data_dir))
    per_sender = int(SECONDS * 100) + 100  # more than a sender can send before the kill
    traffic = Traffic(node.url, SENDERS, per_sender)
    traffic.start()
    time.sleep(SECONDS)  # the sleep is the test: PERSISTENCE_SECONDS of traffic, then the kill

    def receipts_seen() -> int:
        with traffic.lock:
            return len(traffic.seen_receipts)

    before_kill = receipts_seen()
    wait_until(lambda: receipts_seen() > before_kill, "traffic still flowing at the kill", 10)
    assert all(t.is_alive() for t in traffic.threads[:SENDERS]), traffic.errors
    assert node.stop(signal.SIGKILL) == -signal.SIGKILL
    traffic.join()
    assert traffic.errors == []
    seen = dict(traffic.seen_receipts)
    assert len(seen) >= 20, f"too little traffic before the kill: {len(seen)} receipts"

    restarted = node_factory("--data-dir", str(data_dir))
    assert "resuming the chain" in restarted.log()
    wait_pool_empty(restarted)  # transactions journaled but not mined before the kill
    blocks = all_blocks(restarted)
    head = len(blocks) - 1
    assert head >= max(q(r["blockNumber"]) for r in seen.values())

    # Every receipt a client saw is there, in the block it saw.
    for tx_hash, receipt in seen.items():
        again = restarted.call("eth_getTransactionReceipt", tx_hash)
        assert again is not None, f"receipt of {tx_hash} lost"
        assert again["blockHash"] == receipt["blockHash"]
        assert again["blockNumber"] == receipt["blockNumber"]
        assert again["transactionIndex"] == receipt["transactionIndex"]
        assert again["status"] == "0x1"
    # Every block a client saw is there, with the same hash.
    for number, block_hash in traffic.seen_blocks.items():
        assert blocks[number]["hash"] == block_hash, f"block {number} changed"
    assert_hash_linked(blocks)

    # Balances and nonces: exactly what the restarted node's blocks account for.
    received: dict[str, int] = {}
    paid: dict[str, int] = {}
    mined_count: dict[str, int] = {}
    received_at: list[dict[str, int]] = []  # running totals after each block
    mined_hashes = set()
    for block in blocks:
        receipts = restarted.call("eth_getBlockReceipts", block["number"])
        assert [r["transactionHash"] for r in receipts] == [
            t["hash"] for t in block["transactions"]
        ]
        for tx, receipt in zip(block["transactions"], receipts, strict=True):
            assert receipt["status"] == "0x1"
            to = to_checksum_address(tx["to"])
            sender = to_checksum_address(tx["from"])
            received[to] = received.get(to, 0) + q(tx["value"])
            fee = q(receipt["gasUsed"]) * q(receipt["effectiveGasPrice"])
            paid[sender] = paid.get(sender, 0) + q(tx["value"]) + fee
            mined_count[sender] = mined_count.get(sender, 0) + 1
            mined_hashes.add(tx["hash"])
        received_at.append(dict(received))
    assert set(seen) <= mined_hashes
    assert mined_hashes <= {h for batch in traffic.txs for _, h, _, _ in batch}
    for i in range(SENDERS):
        seen_sum = {recipient(i, j): 0 for j in range(RECIPIENTS_PER_SENDER)}
        for _raw, tx_hash, to, value in traffic.txs[i]:
            if tx_hash in seen:
                seen_sum[to] += value
        for j in range(RECIPIENTS_PER_SENDER):
            to = recipient(i, j)
            assert balance(restarted, to) == received.get(to, 0)
            assert received.get(to, 0) >= seen_sum[to]
        address = DEV_ADDRESSES[i]
        assert balance(restarted, address) == GENESIS_BALANCE - paid.get(address, 0)
        assert nonce(restarted, address) == mined_count.get(address, 0)
        # mined transactions are a prefix of the sender's nonces
        assert mined_count.get(address, 0) >= max(
            (n + 1 for h, (s, n) in traffic.sent.items() if s == i and h in seen), default=0
        )

    # Past post-states are readable and prove against the next header's (delayed) root.
    probe = recipient(0, 0)
    for number in sorted({1, head // 3, head // 2, head - 1}):
        tag = hex(number)
        assert balance(restarted, probe, tag) == received_at[number].get(probe, 0)
        proof = restarted.call("eth_getProof", probe, [], tag)
        assert q(proof["balance"]) == received_at[number].get(probe, 0)
        assert proof_root(proof) == blocks[number + 1]["stateRoot"]

    # And the node keeps mining on the restored head.
    sender_nonce = nonce(restarted, DEV_ADDRESSES[0], "pending")
    raw, tx_hash = sign_transfer(DEV_KEYS[0], sender_nonce, recipient(0, 0), 7)
    assert restarted.call("eth_sendRawTransaction", raw) == tx_hash
    receipt = wait_receipt(restarted, tx_hash)
    assert receipt["status"] == "0x1"
    assert q(receipt["blockNumber"]) == head + 1
    assert (
        restarted.call("eth_getBlockByNumber", receipt["blockNumber"], False)["parentHash"]
        == blocks[head]["hash"]
    )
    assert balance(restarted, recipient(0, 0)) == received.get(recipient(0, 0), 0) + 7


# --------------------------------------------------------------------------- clean restart


def snapshot_of(node: NodeProcess, addresses: list[str], contract: str, slots: list[int]) -> dict:
    head = node.call("eth_getBlockByNumber", "latest", False)
    return {
        "head": (head["number"], head["hash"], head["stateRoot"]),
        "genesis": node.call("eth_getBlockByNumber", "0x0", False)["hash"],
        "balances": [node.call("eth_getBalance", a, "latest") for a in addresses],
        "nonces": [node.call("eth_getTransactionCount", a, "latest") for a in addresses],
        "code": node.call("eth_getCode", contract, "latest"),
        "storage": [node.call("eth_getStorageAt", contract, hex(s), "latest") for s in slots],
        "proof": node.call("eth_getProof", contract, [hex(s) for s in slots], "latest"),
    }


def test_sigterm_restart_keeps_everything(node_factory, tmp_path):
    data_dir = tmp_path / "chain"
    node = node_factory("--data-dir", str(data_dir))
    hashes = []
    for n in range(3):
        raw, tx_hash = sign_transfer(DEV_KEYS[1], n, recipient(9, n), 10**15 + n)
        hashes.append(node.call("eth_sendRawTransaction", raw))
    counter = load("Counter")
    deploy = node.call(
        "eth_sendTransaction",
        {
            "from": DEV_ADDRESSES[2],
            "data": counter.deploy_data(["uint256"], [5]),
            "gas": hex(1_000_000),
        },
    )
    hashes.append(deploy)
    contract = wait_receipt(node, deploy)["contractAddress"]
    assert contract is not None
    node.call("anvil_setStorageAt", contract, "0x7", "0x" + "00" * 31 + "2a")
    node.call("anvil_setBalance", recipient(9, 9), hex(123 * ETH))
    node.call("anvil_setNonce", recipient(9, 9), "0x9")
    receipts = {h: wait_receipt(node, h) for h in hashes}
    addresses = [
        DEV_ADDRESSES[1],
        DEV_ADDRESSES[2],
        recipient(9, 0),
        recipient(9, 2),
        recipient(9, 9),
        contract,
    ]
    before = snapshot_of(node, addresses, contract, [0, 7])
    assert q(before["head"][0]) == 4
    assert before["storage"][1] == "0x" + "00" * 31 + "2a"
    assert before["balances"][2] == hex(10**15)
    assert before["balances"][4] == hex(123 * ETH)
    assert before["nonces"][4] == "0x9"

    assert node.stop(signal.SIGTERM) == 0
    restarted = node_factory("--data-dir", str(data_dir))
    assert snapshot_of(restarted, addresses, contract, [0, 7]) == before
    for tx_hash, receipt in receipts.items():
        assert restarted.call("eth_getTransactionReceipt", tx_hash) == receipt
    blocks = all_blocks(restarted)
    assert_hash_linked(blocks)

    # The set balance still pays for a transaction; the set nonce is still the next one.
    account = Account.create()
    restarted.call("anvil_setBalance", account.address, hex(ETH))
    raw, tx_hash = sign_transfer(account.key.hex(), 0, recipient(9, 9), 1)
    restarted.call("eth_sendRawTransaction", raw)
    receipt = wait_receipt(restarted, tx_hash)
    assert q(receipt["blockNumber"]) == 5
    assert balance(restarted, recipient(9, 9)) == 123 * ETH + 1


# --------------------------------------------------------------------------- pending pool


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_no_mining_pending_transactions_survive_restart(node_factory, tmp_path, sig):
    data_dir = tmp_path / "chain"
    node = node_factory("--no-mining", "--data-dir", str(data_dir))
    sent = []
    for n in (0, 1, 2, 4):  # 4 waits for 3: queued
        raw, tx_hash = sign_transfer(DEV_KEYS[3], n, recipient(8, 0), 1000 + n)
        assert node.call("eth_sendRawTransaction", raw) == tx_hash
        sent.append(tx_hash)
    assert node.call("txpool_status") == {"pending": "0x3", "queued": "0x1"}
    content = node.call("txpool_content")
    assert node.call("eth_blockNumber") == "0x0"
    node.stop(sig)
    assert node.proc.returncode == (0 if sig == signal.SIGTERM else -signal.SIGKILL)

    restarted = node_factory("--no-mining", "--data-dir", str(data_dir))
    assert restarted.call("txpool_status") == {"pending": "0x3", "queued": "0x1"}
    assert restarted.call("txpool_content") == content
    for n, tx_hash in zip((0, 1, 2, 4), sent, strict=True):
        tx = restarted.call("eth_getTransactionByHash", tx_hash)
        assert tx is not None and tx["hash"] == tx_hash
        assert q(tx["nonce"]) == n
        assert tx["blockNumber"] is None
        assert restarted.call("eth_getTransactionReceipt", tx_hash) is None
    assert restarted.call("eth_blockNumber") == "0x0"

    restarted.call("evm_mine")
    for tx_hash in sent[:3]:
        receipt = restarted.call("eth_getTransactionReceipt", tx_hash)
        assert receipt is not None and receipt["blockNumber"] == "0x1"
        assert receipt["status"] == "0x1"
    assert restarted.call("eth_getTransactionReceipt", sent[3]) is None
    assert restarted.call("txpool_status") == {"pending": "0x0", "queued": "0x1"}
    assert balance(restarted, recipient(8, 0)) == 1000 + 1001 + 1002

    # Filling the gap makes the restored queued one minable too.
    raw, gap = sign_transfer(DEV_KEYS[3], 3, recipient(8, 0), 1003)
    restarted.call("eth_sendRawTransaction", raw)
    restarted.call("evm_mine")
    assert restarted.call("eth_getTransactionReceipt", gap)["blockNumber"] == "0x2"
    assert restarted.call("eth_getTransactionReceipt", sent[3])["blockNumber"] == "0x2"
    assert restarted.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert balance(restarted, recipient(8, 0)) == sum(1000 + n for n in range(5))


def test_mined_transactions_leave_the_pool_journal(node_factory, tmp_path):
    """A transaction mined before the restart is not restored (nor re-sent) after it."""
    data_dir = tmp_path / "chain"
    node = node_factory("--no-mining", "--data-dir", str(data_dir))
    raw, tx_hash = sign_transfer(DEV_KEYS[4], 0, recipient(8, 1), 5)
    node.call("eth_sendRawTransaction", raw)
    node.call("evm_mine")
    assert node.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    node.stop(signal.SIGKILL)
    restarted = node_factory("--no-mining", "--data-dir", str(data_dir))
    assert restarted.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert restarted.call("eth_getTransactionReceipt", tx_hash)["blockNumber"] == "0x1"
    answer = restarted.call("eth_getTransactionByHash", tx_hash)
    assert answer["blockNumber"] == "0x1"


# --------------------------------------------------------------------------- wrong chain


def test_data_dir_refuses_another_chain_id_or_genesis(node_factory, tmp_path):
    data_dir = tmp_path / "chain"
    node = node_factory("--data-dir", str(data_dir))
    raw, tx_hash = sign_transfer(DEV_KEYS[5], 0, recipient(7, 0), 77)
    node.call("eth_sendRawTransaction", raw)
    head = node.call("eth_getBlockByNumber", "latest", False)
    assert node.stop(signal.SIGTERM) == 0

    other_id = run_refused("--data-dir", str(data_dir), "--chain-id", "999")
    assert other_id.returncode != 0
    assert "the stored chain has chain id 31337, not 999" in other_id.stderr + other_id.stdout
    assert "Traceback" not in other_id.stderr

    genesis = json.loads((ROOT / "genesis" / "l1.json").read_text())
    genesis["alloc"]["0x" + "ab" * 20] = {"balance": "0x1"}
    other_file = tmp_path / "other-genesis.json"
    other_file.write_text(json.dumps(genesis))
    other_genesis = run_refused("--data-dir", str(data_dir), "--genesis", str(other_file))
    assert other_genesis.returncode != 0
    output = other_genesis.stderr + other_genesis.stdout
    assert "the data directory holds a chain with genesis" in output
    assert "Traceback" not in other_genesis.stderr

    other_accounts = run_refused("--data-dir", str(data_dir), "--balance", "5")
    assert other_accounts.returncode != 0
    assert "the data directory holds a chain with genesis" in (
        other_accounts.stderr + other_accounts.stdout
    )

    # The refusals changed nothing: the right node still resumes the same chain.
    again = node_factory("--data-dir", str(data_dir))
    assert again.call("eth_getBlockByNumber", "latest", False) == head
    assert again.call("eth_getTransactionReceipt", tx_hash)["blockHash"] == head["hash"]
    assert balance(again, recipient(7, 0)) == 77


# --------------------------------------------------------------------------- controls on disk


def test_revert_edits_and_reset_are_durable(node_factory, tmp_path):
    """``evm_revert``, ``anvil_set*`` and ``anvil_reset`` on a data directory survive kill -9."""
    data_dir = tmp_path / "chain"
    node = node_factory("--data-dir", str(data_dir))
    genesis = node.call("eth_getBlockByNumber", "0x0", False)
    to = recipient(6, 0)
    raws = [sign_transfer(DEV_KEYS[6], n, to, 10 + n) for n in range(4)]
    node.call("eth_sendRawTransaction", raws[0][0])
    snap = node.call("evm_snapshot")
    kept = node.call("eth_getBlockByNumber", "latest", False)
    node.call("eth_sendRawTransaction", raws[1][0])
    node.call("eth_sendRawTransaction", raws[2][0])
    assert node.call("evm_revert", snap) is True
    node.call("anvil_setBalance", recipient(6, 1), hex(4 * ETH))
    node.call("anvil_setStorageAt", recipient(6, 1), "0x0", "0x" + "00" * 31 + "05")
    node.stop(signal.SIGKILL)

    restarted = node_factory("--data-dir", str(data_dir))
    assert restarted.call("eth_getBlockByNumber", "latest", False) == kept
    assert restarted.call("eth_getBlockByNumber", "0x2", False) is None
    assert restarted.call("eth_getTransactionReceipt", raws[1][1]) is None
    assert restarted.call("eth_getTransactionReceipt", raws[0][1])["blockNumber"] == "0x1"
    assert balance(restarted, to) == 10
    assert balance(restarted, recipient(6, 1)) == 4 * ETH
    assert restarted.call("eth_getStorageAt", recipient(6, 1), "0x0", "latest") == (
        "0x" + "00" * 31 + "05"
    )
    assert restarted.call("eth_sendRawTransaction", raws[1][0]) == raws[1][1]
    receipt = wait_receipt(restarted, raws[1][1])
    assert receipt["blockNumber"] == "0x2"
    assert restarted.call("eth_getBlockByNumber", "0x2", False)["parentHash"] == kept["hash"]
    assert balance(restarted, recipient(6, 1)) == 4 * ETH

    assert restarted.call("anvil_reset") is None
    assert restarted.call("eth_blockNumber") == "0x0"
    reset_genesis = restarted.call("eth_getBlockByNumber", "0x0", False)
    assert reset_genesis["stateRoot"] == genesis["stateRoot"]
    restarted.stop(signal.SIGKILL)
    again = node_factory("--data-dir", str(data_dir))
    assert again.call("eth_blockNumber") == "0x0"
    assert again.call("eth_getBlockByNumber", "0x0", False) == reset_genesis
    assert balance(again, to) == 0
    assert balance(again, recipient(6, 1)) == 0
    assert balance(again, DEV_ADDRESSES[6]) == GENESIS_BALANCE
    assert again.call("eth_getTransactionReceipt", raws[0][1]) is None


def test_reset_of_a_resumed_node_keeps_its_genesis(node_factory, tmp_path):
    data_dir = tmp_path / "chain"
    node = node_factory("--data-dir", str(data_dir))
    genesis = node.call("eth_getBlockByNumber", "0x0", False)
    node.call("evm_mine")
    assert node.stop(signal.SIGTERM) == 0
    stopped_in = int(time.time())
    # the resumed process starts in a later second (a genesis rebuilt from the clock would differ)
    wait_until(lambda: int(time.time()) > stopped_in, "the next second", interval=0.02)
    resumed = node_factory("--data-dir", str(data_dir))
    assert resumed.call("eth_getBlockByNumber", "0x0", False) == genesis
    assert resumed.call("anvil_reset") is None
    assert resumed.call("eth_getBlockByNumber", "0x0", False)["hash"] == genesis["hash"]
