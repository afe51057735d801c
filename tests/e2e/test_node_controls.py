"""Test-node controls over JSON-RPC: snapshots, time travel, manual mining, account edits,
mining modes and reset, under anvil's names and the ``evm_``/``hardhat_`` aliases.

- ``evm_snapshot``/``evm_revert`` nest: reverting B restores B's state, reverting A then
  restores A's; a used-up (or unknown) id answers false. After a revert new blocks extend
  the reverted head and the reverted transactions are unknown.
- ``evm_increaseTime`` moves block time (a contract reading ``block.timestamp`` in
  ``eth_call`` sees it); ``evm_setNextBlockTimestamp(t)`` gives the next block exactly ``t``
  and refuses a ``t`` not after the head; ``evm_mine`` takes a timestamp; ``anvil_mine(n)``
  mines n blocks (with an interval: exact steps).
- ``anvil_setBalance/Nonce/Code/StorageAt`` change what the state queries answer and the
  next block builds on them.
- ``evm_setAutomine(false)`` holds transactions and ``true`` mines them;
  ``evm_setIntervalMining(1)`` produces blocks and ``0`` stops them.
- ``anvil_reset`` goes back to the genesis head and balances.
"""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from tests.procs import NodeProcess, rpc, sign_transfer, wait_until

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337
GWEI = 10**9
ETH = 10**18
GENESIS_BALANCE = 10_000 * ETH
TIMESTAMP_READER = "0x4260005260206000f3"  # returns block.timestamp

DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
DEV_KEYS = ["0x" + a.private_key.to_bytes().hex() for a in DEV]
DEV_ADDRESSES = [to_checksum_address(a.address) for a in DEV]


def fresh(label: str) -> str:
    return to_checksum_address(keccak(b"node-controls-" + label.encode())[12:])


def q(value: str) -> int:
    return int(value, 16)


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def send(node: NodeProcess, raw: str) -> str:
    return node.call("eth_sendRawTransaction", raw)


def head(node: NodeProcess) -> dict:
    return node.call("eth_getBlockByNumber", "latest", False)


def number(node: NodeProcess) -> int:
    return q(node.call("eth_blockNumber"))


def balance(node: NodeProcess, address: str, block: str = "latest") -> int:
    return q(node.call("eth_getBalance", address, block))


def nonce(node: NodeProcess, address: str, block: str = "latest") -> int:
    return q(node.call("eth_getTransactionCount", address, block))


def error_of(node: NodeProcess, method: str, *params) -> dict:
    answer = rpc(node.url, method, list(params))
    assert "error" in answer, f"{method} should fail, answered {answer.get('result')!r}"
    return answer["error"]


def call_timestamp(node: NodeProcess, reader: str, block: str = "latest") -> int:
    return q(node.call("eth_call", {"to": reader}, block))


# --------------------------------------------------------------------------- snapshots


def state_of(node: NodeProcess, watched: list[str]) -> dict:
    return {
        "head": head(node),
        "balances": [balance(node, a) for a in watched],
        "nonces": [nonce(node, a) for a in watched],
        "storage": node.call("eth_getStorageAt", watched[1], "0x1", "latest"),
    }


def test_snapshots_nest_and_revert(node_factory):
    node = node_factory()
    node.call("evm_mine")
    sender, to, edited = DEV_ADDRESSES[0], fresh("to"), fresh("edited")
    watched = [sender, to, edited]
    raws = [sign_transfer(DEV_KEYS[0], n, to, 100 + n) for n in range(4)]

    snap_a = node.call("evm_snapshot")
    at_a = state_of(node, watched)
    assert q(at_a["head"]["number"]) == 1
    assert at_a["balances"] == [GENESIS_BALANCE, 0, 0]

    tx1 = send(node, raws[0][0])
    node.call("anvil_setBalance", edited, hex(ETH))
    assert node.call("evm_increaseTime", 100) == 100  # a JSON number, as anvil
    snap_b = node.call("anvil_snapshot")
    assert snap_b != snap_a
    at_b = state_of(node, watched)
    assert q(at_b["head"]["number"]) == 2
    assert at_b["balances"][1:] == [100, ETH]
    assert at_b["nonces"][0] == 1

    tx2 = send(node, raws[1][0])
    tx3 = send(node, raws[2][0])
    node.call("anvil_mine", "0x2")
    node.call("anvil_setStorageAt", to, "0x1", word(7))
    node.call("anvil_setBalance", edited, hex(2 * ETH))
    assert number(node) == 6

    # Revert B: the state at B, later transactions and blocks unknown.
    before_revert = int(time.time())
    assert node.call("evm_revert", snap_b) is True
    assert state_of(node, watched) == at_b
    assert node.call("eth_getTransactionReceipt", tx1)["blockNumber"] == "0x2"
    for tx_hash in (tx2, tx3):
        assert node.call("eth_getTransactionReceipt", tx_hash) is None
        assert node.call("eth_getTransactionByHash", tx_hash) is None
    for n in range(3, 7):
        assert node.call("eth_getBlockByNumber", hex(n), False) is None
    # As anvil: the clock goes back to the snapshot head's time (the increase is undone).
    assert node.call("evm_increaseTime", 0) <= q(at_b["head"]["timestamp"]) - before_revert

    # New blocks build on the reverted head; a reverted transaction can be sent again.
    assert send(node, raws[1][0]) == tx2
    receipt = node.call("eth_getTransactionReceipt", tx2)
    assert receipt["blockNumber"] == "0x3"
    block_3 = node.call("eth_getBlockByNumber", "0x3", False)
    assert block_3["parentHash"] == at_b["head"]["hash"]
    assert block_3["transactions"] == [tx2]
    assert node.call("eth_getBlockByNumber", "0x4", False) is None
    assert node.call("eth_getTransactionReceipt", tx3) is None
    assert balance(node, to) == 100 + 101

    # Revert A: the state at A (B and everything after it gone).
    before_revert = int(time.time())
    assert node.call("anvil_revert", snap_a) is True
    assert state_of(node, watched) == at_a
    for tx_hash in (tx1, tx2, tx3):
        assert node.call("eth_getTransactionReceipt", tx_hash) is None
    assert node.call("eth_getBlockByNumber", "0x2", False) is None
    assert node.call("evm_increaseTime", 0) <= q(at_a["head"]["timestamp"]) - before_revert

    # Used-up and unknown snapshots answer false and change nothing.
    assert node.call("evm_revert", snap_b) is False
    assert node.call("evm_revert", snap_a) is False
    assert node.call("evm_revert", "0x99") is False
    assert state_of(node, watched) == at_a

    assert send(node, raws[0][0]) == tx1
    receipt = node.call("eth_getTransactionReceipt", tx1)
    assert receipt["blockNumber"] == "0x2"
    assert node.call("eth_getBlockByNumber", "0x2", False)["parentHash"] == at_a["head"]["hash"]
    assert balance(node, to) == 100
    assert balance(node, edited) == 0


def test_revert_restores_the_pending_pool(node_factory):
    node = node_factory("--no-mining")
    to = fresh("pool")
    raw0, tx0 = sign_transfer(DEV_KEYS[1], 0, to, 1)
    raw1, tx1 = sign_transfer(DEV_KEYS[1], 1, to, 2)
    send(node, raw0)
    snap = node.call("evm_snapshot")
    send(node, raw1)
    node.call("evm_mine")
    assert node.call("eth_getTransactionReceipt", tx1)["blockNumber"] == "0x1"
    assert node.call("evm_revert", snap) is True
    assert number(node) == 0
    assert node.call("txpool_status") == {"pending": "0x1", "queued": "0x0"}
    assert node.call("eth_getTransactionByHash", tx0)["blockNumber"] is None
    assert node.call("eth_getTransactionByHash", tx1) is None
    node.call("evm_mine")
    assert node.call("eth_getBlockByNumber", "0x1", False)["transactions"] == [tx0]
    assert balance(node, to) == 1


def test_revert_undoes_state_edits_without_blocks(node_factory):
    node = node_factory()
    edited = fresh("edit-only")
    node.call("anvil_setBalance", edited, hex(ETH))
    snap = node.call("evm_snapshot")
    node.call("anvil_setBalance", edited, hex(2 * ETH))
    node.call("anvil_setNonce", edited, "0x3")
    node.call("anvil_setCode", edited, TIMESTAMP_READER)
    node.call("anvil_setStorageAt", edited, "0x0", word(1))
    assert node.call("evm_revert", snap) is True
    assert number(node) == 0
    assert balance(node, edited) == ETH
    assert nonce(node, edited) == 0
    assert node.call("eth_getCode", edited, "latest") == "0x"
    assert node.call("eth_getStorageAt", edited, "0x0", "latest") == word(0)
    node.call("evm_mine")
    assert balance(node, edited) == ETH


# --------------------------------------------------------------------------- time


def test_time_travel(node_factory):
    node = node_factory()
    reader = fresh("reader")
    node.call("anvil_setCode", reader, TIMESTAMP_READER)

    now = int(time.time())
    assert node.call("evm_increaseTime", 3600) == 3600
    node.call("evm_mine")
    ts = q(head(node)["timestamp"])
    assert now + 3600 <= ts <= int(time.time()) + 3600 + 2
    assert call_timestamp(node, reader) == ts
    assert call_timestamp(node, reader) >= now + 3600
    assert node.call("anvil_increaseTime", "0x3c") == 3660
    node.call("evm_mine")
    assert q(head(node)["timestamp"]) >= now + 3660

    # The next block's timestamp, exactly; blocks after it keep increasing.
    target = q(head(node)["timestamp"]) + 1000
    assert node.call("evm_setNextBlockTimestamp", target) is None
    node.call("evm_mine")
    assert q(head(node)["timestamp"]) == target
    assert call_timestamp(node, reader) == target
    node.call("evm_mine")
    assert q(head(node)["timestamp"]) > target

    # ... also for a block an automined transaction makes (hex form, anvil alias).
    target = q(head(node)["timestamp"]) + 500
    assert node.call("anvil_setNextBlockTimestamp", hex(target)) is None
    raw, tx_hash = sign_transfer(DEV_KEYS[2], 0, fresh("t"), 1)
    send(node, raw)
    receipt = node.call("eth_getTransactionReceipt", tx_hash)
    block = node.call("eth_getBlockByNumber", receipt["blockNumber"], False)
    assert q(block["timestamp"]) == target
    assert call_timestamp(node, reader, receipt["blockNumber"]) == target

    # Not after the head: refused, and nothing is remembered for the next block.
    head_ts = q(head(node)["timestamp"])
    for bad in (head_ts, head_ts - 10):
        error = error_of(node, "evm_setNextBlockTimestamp", bad)
        assert error["code"] == -32602
        assert str(head_ts) in error["message"]
    node.call("evm_mine")
    assert q(head(node)["timestamp"]) > head_ts

    # evm_mine with a timestamp, as an object or a plain number.
    target = q(head(node)["timestamp"]) + 77
    assert node.call("evm_mine", {"timestamp": hex(target)}) == "0x0"
    assert q(head(node)["timestamp"]) == target
    node.call("evm_mine", hex(target + 3))
    assert q(head(node)["timestamp"]) == target + 3


def test_anvil_mine_mines_n_blocks(node_factory):
    node = node_factory()
    start = number(node)
    assert node.call("anvil_mine", "0x5") is None
    assert number(node) == start + 5
    stamps = [
        q(node.call("eth_getBlockByNumber", hex(n), False)["timestamp"])
        for n in range(start + 1, start + 6)
    ]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))

    before = q(head(node)["timestamp"])
    node.call("anvil_mine", "0x3", "0xa")
    assert number(node) == start + 8
    stamps = [
        q(node.call("eth_getBlockByNumber", hex(n), False)["timestamp"])
        for n in range(start + 6, start + 9)
    ]
    assert stamps == [before + 10, before + 20, before + 30]

    node.call("hardhat_mine", "0x2")
    assert number(node) == start + 10
    node.call("anvil_mine")
    assert number(node) == start + 11
    node.call("evm_mine", {"blocks": "0x3"})
    assert number(node) == start + 14
    assert all(
        node.call("eth_getBlockByNumber", hex(n), False)["transactions"] == []
        for n in range(start + 1, start + 15)
    )


# --------------------------------------------------------------------------- account edits


@pytest.mark.parametrize("prefix", ["anvil", "hardhat"])
def test_set_balance_nonce_code_storage(node_factory, prefix):
    node = node_factory()
    account = Account.create()
    payee = fresh("payee")

    assert node.call(f"{prefix}_setBalance", account.address, hex(ETH)) is None
    assert balance(node, account.address) == ETH
    assert node.call(f"{prefix}_setNonce", account.address, "0x5") is None
    assert nonce(node, account.address) == 5
    assert nonce(node, account.address, "pending") == 5
    assert number(node) == 0  # edits mine nothing

    # The next block builds on the edits: the set balance pays for a transaction at nonce 5.
    raw, tx_hash = sign_transfer("0x" + bytes(account.key).hex(), 5, payee, 12345)
    assert send(node, raw) == tx_hash
    receipt = node.call("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    assert receipt["blockNumber"] == "0x1"
    fee = q(receipt["gasUsed"]) * q(receipt["effectiveGasPrice"])
    assert balance(node, account.address) == ETH - 12345 - fee
    assert balance(node, payee) == 12345
    assert nonce(node, account.address) == 6
    # A nonce below the set one is now too low.
    raw, _ = sign_transfer("0x" + bytes(account.key).hex(), 4, payee, 1)
    assert "nonce too low" in error_of(node, "eth_sendRawTransaction", raw)["message"]

    code_at = fresh(f"code-{prefix}")
    assert node.call(f"{prefix}_setCode", code_at, TIMESTAMP_READER) is None
    assert node.call("eth_getCode", code_at, "latest") == TIMESTAMP_READER
    assert node.call("eth_getCode", code_at, "0x0") == "0x"
    assert call_timestamp(node, code_at) == q(head(node)["timestamp"])

    assert node.call(f"{prefix}_setStorageAt", code_at, "0x2", word(0xBEEF)) is True
    assert node.call("eth_getStorageAt", code_at, "0x2", "latest") == word(0xBEEF)
    assert node.call("eth_getStorageAt", code_at, "0x2", "0x0") == word(0)
    node.call("evm_mine")
    assert node.call("eth_getStorageAt", code_at, "0x2", "latest") == word(0xBEEF)
    assert node.call("eth_getCode", code_at, "latest") == TIMESTAMP_READER
    proof = node.call("eth_getProof", code_at, ["0x2"], "latest")
    assert proof["storageProof"][0]["value"] == hex(0xBEEF)

    # Taking a balance away makes a transaction unaffordable.
    assert node.call(f"{prefix}_setBalance", account.address, "0x0") is None
    raw, _ = sign_transfer("0x" + bytes(account.key).hex(), 6, payee, 1)
    assert "insufficient funds" in error_of(node, "eth_sendRawTransaction", raw)["message"]


# --------------------------------------------------------------------------- mining modes


def test_automine_toggle(node_factory):
    node = node_factory()
    assert node.call("anvil_getAutomine") is True
    assert node.call("evm_setAutomine", False) is True
    assert node.call("anvil_getAutomine") is False
    to = fresh("automine")
    hashes = []
    for n in range(3):
        raw, tx_hash = sign_transfer(DEV_KEYS[3], n, to, 10 + n)
        assert send(node, raw) == tx_hash
        hashes.append(tx_hash)
    time.sleep(0.5)  # the sleep is the test: with automine off nothing is mined meanwhile
    assert number(node) == 0
    assert all(node.call("eth_getTransactionReceipt", h) is None for h in hashes)
    assert node.call("txpool_status") == {"pending": "0x3", "queued": "0x0"}

    assert node.call("anvil_setAutomine", True) is True
    receipts = [node.wait_receipt(h) for h in hashes]
    assert all(r["status"] == "0x1" for r in receipts)
    assert node.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert balance(node, to) == 33
    raw, tx_hash = sign_transfer(DEV_KEYS[3], 3, to, 1)
    send(node, raw)
    assert node.call("eth_getTransactionReceipt", tx_hash) is not None  # at once again


def test_interval_mining_on_and_off(node_factory):
    node = node_factory()
    assert node.call("evm_setIntervalMining", 1) is True
    start = number(node)
    wait_until(lambda: number(node) >= start + 3, "three interval blocks")
    # genesis carries its file's timestamp, so only gaps between mined blocks count
    stamps = [
        q(node.call("eth_getBlockByNumber", hex(n), False)["timestamp"])
        for n in range(max(start, 1), start + 4)
    ]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(1 <= gap <= 2 for gap in gaps), f"slots of 1 s, got timestamps {stamps}"
    raw, tx_hash = sign_transfer(DEV_KEYS[4], 0, fresh("interval"), 5)
    send(node, raw)
    assert node.wait_receipt(tx_hash, timeout=10)["status"] == "0x1"

    assert node.call("anvil_setIntervalMining", "0x0") is True
    # a block being built as the call arrives may still land: a grace period, not a wait
    # for something that can be polled
    time.sleep(0.3)
    stopped_at = number(node)
    raw, tx_hash = sign_transfer(DEV_KEYS[4], 1, fresh("interval"), 6)
    send(node, raw)
    time.sleep(2.2)  # the sleep is the test: with interval mining off nothing is mined
    assert number(node) == stopped_at
    assert node.call("eth_getTransactionReceipt", tx_hash) is None
    node.call("evm_mine")
    assert node.call("eth_getTransactionReceipt", tx_hash)["blockNumber"] == hex(stopped_at + 1)


def test_automine_replaces_interval_mining(node_factory):
    node = node_factory()
    node.call("evm_setIntervalMining", 1)
    wait_until(lambda: number(node) >= 1, "an interval block")
    assert node.call("evm_setAutomine", True) is True
    assert node.call("anvil_getAutomine") is True
    time.sleep(0.3)  # grace for an interval block being built as the call arrived
    start = number(node)
    time.sleep(2.2)  # the sleep is the test: no interval block is mined any more
    assert number(node) == start  # automine: no transactions, no blocks


# --------------------------------------------------------------------------- reset


@pytest.mark.parametrize("method", ["anvil_reset", "hardhat_reset"])
def test_reset_goes_back_to_genesis(node_factory, method):
    node = node_factory()
    genesis = node.call("eth_getBlockByNumber", "0x0", False)
    to, edited = fresh("reset-to"), fresh("reset-edited")
    raw, tx_hash = sign_transfer(DEV_KEYS[5], 0, to, 999)
    send(node, raw)
    node.call("anvil_setBalance", edited, hex(ETH))
    node.call("anvil_setCode", edited, TIMESTAMP_READER)
    node.call("anvil_mine", "0x3")
    snap = node.call("evm_snapshot")
    node.call("evm_setAutomine", False)
    raw_pending, pending = sign_transfer(DEV_KEYS[5], 1, to, 1)
    send(node, raw_pending)
    node.call("evm_setAutomine", True)
    node.wait_receipt(pending)
    assert number(node) == 5

    assert node.call(method) is None
    assert number(node) == 0
    assert node.call("eth_getBlockByNumber", "latest", False) == genesis
    assert node.call("eth_getBlockByNumber", "0x1", False) is None
    assert balance(node, DEV_ADDRESSES[5]) == GENESIS_BALANCE
    assert nonce(node, DEV_ADDRESSES[5]) == 0
    assert balance(node, to) == 0
    assert balance(node, edited) == 0
    assert node.call("eth_getCode", edited, "latest") == "0x"
    assert node.call("eth_getTransactionReceipt", tx_hash) is None
    assert node.call("eth_getTransactionByHash", pending) is None
    assert node.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert node.call("evm_revert", snap) is False

    assert send(node, raw) == tx_hash
    receipt = node.call("eth_getTransactionReceipt", tx_hash)
    assert receipt["blockNumber"] == "0x1"
    assert node.call("eth_getBlockByNumber", "0x1", False)["parentHash"] == genesis["hash"]
    assert balance(node, to) == 999
