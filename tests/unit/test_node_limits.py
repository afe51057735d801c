"""Node-side limits in-process: the pool's bounds, the transaction size cap, header
timestamps that stay uint64, the state-file size cap, stale temporary state files and the
bounded receipts cache.

A manual-mining ``Devnet`` is driven through ``RpcServer.handle_one`` (the dispatch HTTP and
WebSocket use), so each check sees the JSON-RPC error a client would.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import tracemalloc
import zlib

import pytest
from eth.constants import CREATE_CONTRACT_ADDRESS

from node import receipts as receipts_module
from node import statefile
from node.devnet import Devnet, MiningConfig, MiningMode, SendRequest
from node.errors import InvalidTransaction, TxRejection
from node.pool import MAX_QUEUED_PER_SENDER, PoolLimits, TxPool
from rpc.server import RpcServer
from tests.unit.conftest import GWEI

INVALID_PARAMS = -32602
TRANSACTION_REJECTED = -32003
MAX_UINT64 = 2**64 - 1
TX_SIZE_LIMIT = 128 * 1024
INITCODE_LIMIT = 48 * 1024


async def call(server: RpcServer, method: str, *params):
    response = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert "error" not in response, response
    return response["result"]


async def error_of(server: RpcServer, method: str, *params) -> dict:
    response = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert "error" in response, response
    return response["error"]


def raw_hex(tx) -> str:
    return "0x" + tx.encode().hex()


async def head_timestamp(server: RpcServer) -> int:
    return int((await call(server, "eth_getBlockByNumber", "latest", False))["timestamp"], 16)


# -- the pool -------------------------------------------------------------------------------


def counts_agree(pool: TxPool, nonce_of) -> None:
    """The pool's running counts equal a count from scratch."""
    pending = pool.pending(nonce_of)
    assert pool.pending_slots == sum(p.slots for p in pending)
    assert pool.queued_count == len(pool.queued(nonce_of))


async def test_one_sender_cannot_fill_the_pool_with_nonce_gap_transactions(
    server, devnet, txs, dev_accounts
):
    key = dev_accounts[0].private_key
    for nonce in range(1, MAX_QUEUED_PER_SENDER + 1):  # nonce 0 missing: all queued
        await call(server, "eth_sendRawTransaction", raw_hex(txs.dynamic(key, nonce)))
    error = await error_of(
        server,
        "eth_sendRawTransaction",
        raw_hex(txs.dynamic(key, MAX_QUEUED_PER_SENDER + 1)),
    )
    assert error["code"] == TRANSACTION_REJECTED
    assert error["message"].startswith("account limit exceeded")
    assert "--txpool-max-queued-per-sender" in error["message"]
    assert len(devnet.pool) == MAX_QUEUED_PER_SENDER

    # Replacing a queued transaction does not count twice.
    bumped = txs.dynamic(key, 5, max_fee=20 * GWEI, tip=2 * GWEI)
    await call(server, "eth_sendRawTransaction", raw_hex(bumped))
    assert len(devnet.pool) == MAX_QUEUED_PER_SENDER
    # Another sender is not affected, and the missing nonce makes them all executable.
    await call(
        server, "eth_sendRawTransaction", raw_hex(txs.dynamic(dev_accounts[1].private_key, 3))
    )
    await call(server, "eth_sendRawTransaction", raw_hex(txs.dynamic(key, 0)))
    assert devnet.pool.queued_count == 1  # only the other sender's
    await call(server, "eth_sendRawTransaction", raw_hex(txs.dynamic(key, 70)))


def test_global_queued_limit_is_txpool_is_full(txs, dev_accounts):
    pool = TxPool(limits=PoolLimits(max_queued=5, max_queued_per_sender=3))
    for account in dev_accounts[:2]:
        for nonce in (1, 2):
            pool.add(txs.dynamic(account.private_key, nonce), account.address, 0)
    pool.add(txs.dynamic(dev_accounts[2].private_key, 1), dev_accounts[2].address, 0)
    with pytest.raises(InvalidTransaction) as refused:
        pool.add(txs.dynamic(dev_accounts[3].private_key, 1), dev_accounts[3].address, 0)
    assert refused.value.kind is TxRejection.POOL_FULL
    assert str(refused.value).startswith("txpool is full")
    assert "--txpool-max-queued" in str(refused.value)
    # Executable transactions still get in.
    pool.add(txs.dynamic(dev_accounts[3].private_key, 0), dev_accounts[3].address, 0)


def test_executable_transactions_are_bounded_in_slots(txs, dev_accounts):
    pool = TxPool(limits=PoolLimits(max_pending_slots=4))
    alice, bob = dev_accounts[0], dev_accounts[1]
    big = txs.dynamic(alice.private_key, 0, data=b"\x01" * 40_000, gas=1_000_000)  # 2 slots
    pool.add(big, alice.address, 0)
    pool.add(txs.dynamic(alice.private_key, 1), alice.address, 0)
    pool.add(txs.dynamic(bob.private_key, 0), bob.address, 0)
    assert pool.pending_slots == 4
    with pytest.raises(InvalidTransaction) as refused:
        pool.add(txs.dynamic(bob.private_key, 1), bob.address, 0)
    assert refused.value.kind is TxRejection.POOL_FULL
    assert "--txpool-max-pending" in str(refused.value)
    # A replacement takes no new slot; a mined transaction frees its slots.
    pool.add(txs.dynamic(bob.private_key, 0, max_fee=20 * GWEI, tip=2 * GWEI), bob.address, 0)
    on_chain = {alice.address: 1}  # the big one was mined
    pool.prune(lambda sender: on_chain.get(sender, 0))
    assert big.hash not in pool and pool.pending_slots == 2
    pool.add(txs.dynamic(bob.private_key, 1), bob.address, 0)
    counts_agree(pool, lambda sender: on_chain.get(sender, 0))


def test_pool_counts_stay_exact_under_random_operations(txs, dev_accounts):
    rng = random.Random(7)
    senders = dev_accounts[:3]
    on_chain = {a.address: 0 for a in senders}
    pool = TxPool()
    signed = {}

    def tx(account, nonce, bump=0):
        key = (account.address, nonce, bump)
        if key not in signed:
            signed[key] = txs.dynamic(
                account.private_key, nonce, max_fee=(10 + 2 * bump) * GWEI, tip=(1 + bump) * GWEI
            )
        return signed[key]

    bumps: dict[tuple, int] = {}
    for _ in range(400):
        account = rng.choice(senders)
        action = rng.random()
        if action < 0.55:
            nonce = on_chain[account.address] + rng.randrange(6)
            if nonce in pool.by_sender.get(account.address, {}):
                bump = bumps[(account.address, nonce)] = bumps.get((account.address, nonce), 0) + 1
                pool.add(tx(account, nonce, bump), account.address, on_chain[account.address])
            else:
                bumps.pop((account.address, nonce), None)
                pool.add(tx(account, nonce, 0), account.address, on_chain[account.address])
        elif action < 0.75 and pool.by_hash:
            pool.remove(rng.choice(list(pool.by_hash)))  # dropped, anywhere in a run
        else:
            on_chain[account.address] += rng.randrange(3)  # mined (or nonce set)
            pool.prune(lambda sender: on_chain[sender])
        counts_agree(pool, lambda sender: on_chain.get(sender, 0))


# -- transaction size -----------------------------------------------------------------------


async def test_raw_transaction_above_128_kib_is_refused_before_decoding(server, devnet):
    junk = b"\x02" + b"\xff" * TX_SIZE_LIMIT  # not even a transaction
    error = await error_of(server, "eth_sendRawTransaction", "0x" + junk.hex())
    assert error["code"] == TRANSACTION_REJECTED
    assert error["message"] == (
        f"oversized data: transaction size {TX_SIZE_LIMIT + 1}, limit {TX_SIZE_LIMIT}"
    )


async def test_signed_transaction_above_128_kib_is_refused(server, devnet, txs, dev_accounts):
    big = txs.dynamic(dev_accounts[0].private_key, 0, data=b"\x01" * TX_SIZE_LIMIT, gas=5_000_000)
    error = await error_of(server, "eth_sendRawTransaction", raw_hex(big))
    assert error["message"].startswith("oversized data: transaction size")
    assert len(devnet.pool) == 0

    # eth_sendTransaction's built transaction has the same bound.
    sender = "0x" + dev_accounts[0].address.hex()
    request = {"from": sender, "to": "0x" + "11" * 20, "gas": hex(5_000_000)}
    error = await error_of(
        server, "eth_sendTransaction", dict(request, data="0x" + "01" * TX_SIZE_LIMIT)
    )
    assert error["message"].startswith("oversized data: transaction size")
    assert len(devnet.pool) == 0


async def test_deployments_up_to_the_initcode_limit_still_work(server, devnet, txs, dev_accounts):
    # Initcode that returns nothing, padded with STOPs after the RETURN to 48 KiB.
    init_code = bytes.fromhex("60006000f3").ljust(INITCODE_LIMIT, b"\x00")
    deploy = txs.create(dev_accounts[0].private_key, 0, init_code, gas=12_000_000)
    await call(server, "eth_sendRawTransaction", raw_hex(deploy))
    tx_hash = await devnet.send_transaction(
        SendRequest(
            sender=dev_accounts[1].address,
            to=CREATE_CONTRACT_ADDRESS,
            data=init_code,
            gas=12_000_000,
        )
    )
    built = await devnet.mine()
    assert {r.transaction_hash for r in built.receipts} == {deploy.hash, tx_hash}
    assert all(r.status == 1 for r in built.receipts)


# -- timestamps -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**64, hex(2**64), hex(2**256 - 1)])
async def test_next_block_timestamp_must_fit_uint64(server, devnet, value):
    error = await error_of(server, "evm_setNextBlockTimestamp", value)
    assert error["code"] == INVALID_PARAMS
    assert "too big" in error["message"]
    await call(server, "evm_mine")
    assert await head_timestamp(server) <= MAX_UINT64


async def test_mine_timestamps_must_fit_uint64_and_follow_the_parent(server, devnet):
    for options in ({"timestamp": 2**64}, hex(2**64)):
        error = await error_of(server, "evm_mine", options)
        assert error["code"] == INVALID_PARAMS
        assert "too big" in error["message"]
    parent = await head_timestamp(server)
    error = await error_of(server, "evm_mine", {"timestamp": parent})
    assert error["code"] == INVALID_PARAMS
    assert error["message"].startswith("Timestamp error")
    assert str(parent) in error["message"]
    error = await error_of(server, "anvil_mine", "0x2", hex(2**64))
    assert error["code"] == INVALID_PARAMS
    assert devnet.head.timestamp == parent  # nothing was mined


async def test_increase_time_refuses_negatives_and_overflow(server, devnet):
    for value in (-3600, "-0xe10"):
        error = await error_of(server, "evm_increaseTime", value)
        assert error["code"] == INVALID_PARAMS
    for value in (2**64, hex(2**64 - 1)):
        error = await error_of(server, "evm_increaseTime", value)
        assert error["code"] == INVALID_PARAMS
        assert "too big" in error["message"]
    assert devnet.time_offset == 0
    await call(server, "evm_mine")
    assert await head_timestamp(server) <= MAX_UINT64


async def test_the_largest_timestamp_is_the_last_one(server, devnet):
    await call(server, "evm_setNextBlockTimestamp", hex(MAX_UINT64))
    await call(server, "evm_mine")
    assert await head_timestamp(server) == MAX_UINT64
    number = devnet.head.block_number
    error = await error_of(server, "evm_mine")
    assert error["code"] == INVALID_PARAMS
    assert "too big" in error["message"]
    assert devnet.head.block_number == number


# -- state files ----------------------------------------------------------------------------


def gzip_bomb(size: int) -> bytes:
    """``size`` bytes of JSON-ish text that compress to almost nothing."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [compressor.compress(b'{"format":"native-devnet-state","pad":"')]
    for _ in range(size // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(b'"}') + compressor.flush())
    return b"".join(parts)


def test_decompression_stops_at_the_state_size_limit():
    limit = 4 << 20
    bomb = gzip_bomb(64 << 20)
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(statefile.StateFileError) as refused:
            statefile.decode_state_bytes(bomb, max_size=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "--max-state-size" in str(refused.value)
    assert peak < 3 * limit  # stopped at the cap, never after the whole bomb


def test_plain_state_above_the_limit_is_refused_and_within_it_loads():
    doc = {"format": statefile.FORMAT, "version": statefile.VERSION, "entries": []}
    raw = json.dumps(doc).encode()
    assert statefile.decode_state_bytes(raw, max_size=len(raw)) == doc
    assert statefile.decode_state_bytes(gzip.compress(raw), max_size=len(raw)) == doc
    with pytest.raises(statefile.StateFileError):
        statefile.decode_state_bytes(raw, max_size=len(raw) - 1)
    with pytest.raises(statefile.StateFileError):
        statefile.decode_state_bytes(gzip.compress(raw), max_size=len(raw) - 1)


def test_state_entries_are_bounded_by_the_size_limit():
    entries = [["0x", "0x"]] * 1000  # tiny entries cost far more as objects than as text
    raw = json.dumps({"format": statefile.FORMAT, "version": 1, "entries": entries}).encode()
    with pytest.raises(statefile.StateFileError) as refused:
        statefile.decode_state_bytes(raw, max_size=len(raw) * 4)
    assert "entries" in str(refused.value)


async def test_load_state_rpc_refuses_a_bomb_above_the_node_limit(genesis, dev_accounts):
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL), max_state_size=1 << 20)
    try:
        server = RpcServer(node)
        error = await error_of(server, "anvil_loadState", "0x" + gzip_bomb(8 << 20).hex())
        assert error["code"] == INVALID_PARAMS
        assert "--max-state-size" in error["message"]
        # A real dump loads under the same limit.
        dumped = await call(server, "anvil_dumpState")
        assert await call(server, "anvil_loadState", dumped) is True
    finally:
        await node.stop()


def test_stale_temporary_state_files_are_removed(tmp_path):
    target = tmp_path / "state.json"
    dead_pid = 2**22 + 12345  # above Linux's pid_max: no process has it
    stale = [tmp_path / f"state.json.{dead_pid}.tmp", tmp_path / "state.json.k3j9x_2a.tmp"]
    for path in stale:
        path.write_text("half a document")
    alive = tmp_path / f"state.json.{os.getppid()}.tmp"  # a running writer's: left alone
    alive.write_text("being written")
    other = tmp_path / "other.json.1.tmp"
    other.write_text("another target's")

    statefile.write_state_file(target, {"format": statefile.FORMAT, "entries": []})
    assert json.loads(target.read_text())["format"] == statefile.FORMAT
    assert not any(path.exists() for path in stale)
    assert alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["state.json", alive.name, other.name]
    )


# -- memory per block -----------------------------------------------------------------------


async def test_receipts_cache_is_bounded(genesis, dev_accounts, monkeypatch):
    monkeypatch.setattr(receipts_module, "MAX_CACHED_RECEIPT_BLOCKS", 8)
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    try:
        sender = dev_accounts[0].address
        for _ in range(20):
            await node.send_transaction(SendRequest(sender=sender, to=b"\x11" * 20, gas=21_000))
            await node.mine()
        chain = node.chain
        for number in range(node.head.block_number + 1):  # reads of old blocks too
            receipts = chain.receipts_of(chain.header_by_number(number))
            assert len(receipts) == (1 if number else 0)
        assert len(chain.receipts.cache) <= 8
    finally:
        await node.stop()


async def test_live_snapshots_are_bounded_and_reverting_frees_them(server, devnet, monkeypatch):
    monkeypatch.setattr("node.controls.MAX_SNAPSHOTS", 5)
    ids = [await call(server, "evm_snapshot") for _ in range(5)]
    error = await error_of(server, "evm_snapshot")
    assert error["code"] == -32005 and "too many snapshots" in error["message"]
    assert await call(server, "evm_revert", ids[2]) is True  # uses up ids[2:] (3 of them)
    for _ in range(3):
        await call(server, "evm_snapshot")
    assert (await error_of(server, "evm_snapshot"))["code"] == -32005


@pytest.mark.parametrize(
    "method, params",
    [("evm_mine", [{"blocks": hex(10_001)}]), ("anvil_mine", [hex(10_001)])],
)
async def test_one_mine_call_mines_at_most_ten_thousand_blocks(server, devnet, method, params):
    before = devnet.head.block_number
    error = await error_of(server, method, *params)
    assert error["code"] == INVALID_PARAMS and "at most 10000" in error["message"], error
    assert devnet.head.block_number == before
