"""Small blocks on the event loop: a block of a few cheap pooled transactions (or an empty
one) is built right on the loop when the chain writer is idle; a bigger block, a block while
the writer is busy, and every other write still go to the chain-writer thread, in order."""

from __future__ import annotations

import asyncio
import threading

from node import devnet as devnet_module
from node.devnet import Devnet, MiningConfig, MiningMode


def record_threads(devnet: Devnet) -> list[str]:
    """The thread that builds each block of ``devnet``."""
    seen: list[str] = []
    original = devnet.chain.build_block

    def build_block(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    devnet.chain.build_block = build_block
    return seen


async def test_a_small_block_is_built_on_the_loop_a_big_one_on_the_writer(
    genesis, dev_accounts, txs
):
    devnet = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    await devnet.start()
    try:
        seen = record_threads(devnet)
        key = dev_accounts[0].private_key
        await devnet.submit(txs.dynamic(key, 0))
        built = await devnet.mine()
        assert len(built.receipts) == 1
        await devnet.mine_many(1)  # anvil_mine of one empty block
        for nonce in range(1, 2 + devnet_module.INLINE_BLOCK_TXS):
            await devnet.submit(txs.dynamic(key, nonce))
        built = await devnet.mine()
        assert len(built.receipts) == 1 + devnet_module.INLINE_BLOCK_TXS
        loop_thread = threading.current_thread().name
        assert seen[:2] == [loop_thread, loop_thread]
        assert seen[2].startswith("chain-writer")
        assert devnet.head.block_number == 3
    finally:
        await devnet.stop()


async def test_a_small_block_waits_for_a_busy_writer(genesis, dev_accounts, txs):
    devnet = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    await devnet.start()
    try:
        seen = record_threads(devnet)
        release = threading.Event()
        order: list[str] = []

        def slow_write() -> None:
            release.wait(30)
            order.append("write")

        busy = asyncio.ensure_future(devnet._on_writer(slow_write))
        await asyncio.sleep(0.05)  # the writer runs slow_write
        await devnet.submit(txs.dynamic(dev_accounts[0].private_key, 0))
        mined = asyncio.ensure_future(devnet.mine())
        await asyncio.sleep(0.05)
        assert not mined.done()  # queued behind the write, not built on the loop
        release.set()
        await busy
        built = await mined
        order.append("block")
        assert order == ["write", "block"]
        assert len(built.receipts) == 1
        assert seen == [seen[0]] and seen[0].startswith("chain-writer")
        assert devnet._writer_jobs == 0
    finally:
        release.set()
        await devnet.stop()


async def test_automine_answers_with_the_receipt_either_way(genesis, dev_accounts, txs):
    devnet = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.AUTO))
    await devnet.start()
    try:
        for nonce in range(3):
            raw = txs.dynamic(dev_accounts[1].private_key, nonce).encode()
            tx_hash = await asyncio.wait_for(devnet.send_raw_transaction(raw), 30)
            assert devnet.pool.by_hash.get(tx_hash) is None  # mined, not pooled
        assert devnet.head.block_number == 3
    finally:
        await devnet.stop()


async def test_on_a_chain_with_execute_only_plain_transfers_are_built_on_the_loop(
    genesis, dev_accounts, txs
):
    """A cheap L1 transaction may still reach EXECUTE (a whole L2 block re-executed, paid in
    execute gas): on the L1 a block runs on the loop only when no code runs in it."""
    assert genesis.execute.enabled
    devnet = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    await devnet.start()
    try:
        seen = record_threads(devnet)
        key = dev_accounts[0].private_key
        execute = b"\x00" * 18 + b"\x01\x01"  # EXECUTE's address: no code, a precompile
        await devnet.submit(txs.dynamic(key, 0))  # a transfer to an account without code
        await devnet.mine()
        await devnet.submit(txs.dynamic(key, 1, to=execute, data=b"\x00" * 64, gas=150_000))
        await devnet.mine()
        await devnet.submit(txs.dynamic(key, 2, to=b"\x00" * 19 + b"\x08", gas=100_000))
        await devnet.mine()
        loop_thread = threading.current_thread().name
        assert seen[0] == loop_thread
        assert seen[1].startswith("chain-writer") and seen[2].startswith("chain-writer")
        assert devnet.head.block_number == 3
    finally:
        await devnet.stop()
