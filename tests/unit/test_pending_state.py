"""State reads at ``pending`` see the pool, as geth and anvil answer them: the state after
the pool's executable transactions, executed on top of the head in the pending block's
context (the block ``eth_getBlockByNumber("pending")`` shows). Before, they read the head.

The pending block is built once per (head, head state, executable pool transactions, next
block's fields and second) on a simulator thread, kept as one entry, and built again when a
transaction arrives or is dropped, or a block is mined.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from eth_hash.auto import keccak

import node.reads
from node.devnet import Devnet, MiningConfig, MiningMode, SendRequest
from node.genesis import GenesisAccount
from node.pending import PENDING_VIEWS
from node.simulator import SimulationLimits
from rpc.server import RpcServer
from tests.unit.conftest import with_alloc

# A counter: ``increment()`` (0xd09de08a) adds one to slot 0; any other call returns slot 0
# (``number()``, 0x8381f58a).
COUNTER_CODE = bytes.fromhex(
    "60003560e01c8063d09de08a14601b5760005460005260206000f35b60005460010160005500"
)
COUNTER = bytes.fromhex("00000000000000000000000000000000000c0de0")
COUNTER_HEX = "0x" + COUNTER.hex()
NUMBER = "0x8381f58a"
INCREMENT = bytes.fromhex("d09de08a")
RECIPIENT = bytes.fromhex("00000000000000000000000000000000000000b0")
RECIPIENT_HEX = "0x" + RECIPIENT.hex()
# Init code returning COUNTER_CODE (CODECOPY of what follows its 12 bytes, RETURN).
SIZE = len(COUNTER_CODE)
INIT_CODE = bytes([0x60, SIZE, 0x60, 12, 0x60, 0, 0x39, 0x60, SIZE, 0x60, 0, 0xF3]) + COUNTER_CODE
WORD_0 = "0x" + "00" * 32


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@pytest.fixture
async def devnet(genesis, dev_accounts):
    chain_genesis = with_alloc(
        genesis, {COUNTER: GenesisAccount(code=COUNTER_CODE, storage={0: 42})}
    )
    node = Devnet(chain_genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    yield node
    await node.stop()


async def call(server: RpcServer, method: str, *params):
    response = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert "error" not in response, response
    return response["result"]


async def error(server: RpcServer, method: str, *params) -> dict:
    response = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert "error" in response, response
    return response["error"]


def sender_of(devnet: Devnet) -> bytes:
    return next(iter(devnet.dev_accounts))


async def pool_transfer_and_increment(devnet: Devnet) -> list[bytes]:
    """The brief's case: a 9 wei transfer and an ``increment()`` wait in the pool."""
    sender = sender_of(devnet)
    return [
        await devnet.send_transaction(SendRequest(sender=sender, to=RECIPIENT, value=9)),
        await devnet.send_transaction(
            SendRequest(sender=sender, to=COUNTER, data=INCREMENT, gas=60_000)
        ),
    ]


async def test_plain_state_reads_at_pending_see_the_pool(server, devnet):
    sender = "0x" + sender_of(devnet).hex()
    await pool_transfer_and_increment(devnet)
    assert await call(server, "eth_getBalance", RECIPIENT_HEX, "pending") == "0x9"
    assert await call(server, "eth_getBalance", RECIPIENT_HEX, "latest") == "0x0"
    assert await call(server, "eth_getStorageAt", COUNTER_HEX, "0x0", "pending") == word(43)
    assert await call(server, "eth_getStorageAt", COUNTER_HEX, "0x0", "latest") == word(42)
    assert await call(server, "eth_getTransactionCount", sender, "pending") == "0x2"
    assert await call(server, "eth_getTransactionCount", sender, "latest") == "0x0"
    values = await call(server, "eth_getStorageValues", {COUNTER_HEX: [WORD_0]}, "pending")
    assert values == {COUNTER_HEX: [word(43)]}
    account = await call(server, "eth_getAccount", RECIPIENT_HEX, "pending")
    assert account["balance"] == "0x9"
    info = await call(server, "eth_getAccountInfo", RECIPIENT_HEX, "pending")
    assert info == {"balance": "0x9", "nonce": "0x0", "code": "0x"}
    # The sender paid the pool's gas at pending, not at latest.
    paid_latest = int(await call(server, "eth_getBalance", sender, "latest"), 16)
    paid_pending = int(await call(server, "eth_getBalance", sender, "pending"), 16)
    assert paid_pending < paid_latest - 9


async def test_code_of_a_contract_created_in_the_pool(server, devnet):
    sender = sender_of(devnet)
    created = keccak(b"\xd6\x94" + sender + b"\x80")[12:]  # CREATE at nonce 0
    await devnet.send_transaction(SendRequest(sender=sender, data=INIT_CODE, gas=200_000))
    assert await call(server, "eth_getCode", "0x" + created.hex(), "latest") == "0x"
    assert await call(server, "eth_getCode", "0x" + created.hex(), "pending") == (
        "0x" + COUNTER_CODE.hex()
    )


async def test_proof_at_pending_is_the_proof_of_the_block_once_mined(server, devnet):
    head_time = int((await call(server, "eth_getBlockByNumber", "latest", False))["timestamp"], 16)
    await call(server, "evm_setNextBlockTimestamp", hex(head_time + 100))  # same block, mined
    await pool_transfer_and_increment(devnet)
    proof = await call(server, "eth_getProof", COUNTER_HEX, [WORD_0], "pending")
    assert proof["storageProof"][0]["value"] == "0x2b"
    latest = await call(server, "eth_getProof", COUNTER_HEX, [WORD_0], "latest")
    assert latest["storageProof"][0]["value"] == "0x2a"
    assert latest["accountProof"][0] != proof["accountProof"][0]
    await devnet.mine()
    assert await call(server, "eth_getProof", COUNTER_HEX, [WORD_0], "latest") == proof


async def test_simulations_at_pending_see_the_pool(server, devnet):
    await pool_transfer_and_increment(devnet)
    read = {"to": COUNTER_HEX, "data": NUMBER}
    assert await call(server, "eth_call", read, "pending") == word(43)
    assert await call(server, "eth_call", read, "latest") == word(42)
    # RECIPIENT holds 9 wei only at pending: it can send 5 there, not at latest.
    spend = {"from": RECIPIENT_HEX, "to": COUNTER_HEX, "value": "0x5", "data": NUMBER}
    assert await call(server, "eth_call", spend, "pending") == word(43)
    assert "insufficient funds" in (await error(server, "eth_call", spend, "latest"))["message"]
    transfer = {"from": RECIPIENT_HEX, "to": "0x" + "00" * 19 + "e1", "value": "0x5"}
    assert await call(server, "eth_estimateGas", transfer, "pending") == hex(21_000)
    assert (
        "insufficient funds"
        in (await error(server, "eth_estimateGas", transfer, "latest"))["message"]
    )
    access = await call(server, "eth_createAccessList", spend, "pending")
    assert "error" not in access and int(access["gasUsed"], 16) > 21_000
    assert (
        "insufficient funds"
        in (await error(server, "eth_createAccessList", spend, "latest"))["message"]
    )


async def test_simulate_v1_and_trace_call_on_pending(server, devnet):
    await pool_transfer_and_increment(devnet)
    pending = await call(server, "eth_getBlockByNumber", "pending", False)
    options = {"blockStateCalls": [{"calls": [{"to": COUNTER_HEX, "data": NUMBER}]}]}
    simulated = await call(server, "eth_simulateV1", options, "pending")
    assert simulated[0]["calls"][0]["returnData"] == word(43)
    assert int(simulated[0]["number"], 16) == int(pending["number"], 16) + 1
    latest = await call(server, "eth_simulateV1", options, "latest")
    assert latest[0]["calls"][0]["returnData"] == word(42)
    traced = await call(
        server,
        "debug_traceCall",
        {"to": COUNTER_HEX, "data": NUMBER},
        "pending",
        {"tracer": "callTracer"},
    )
    assert traced["output"] == word(43)
    parity = await call(
        server, "trace_call", {"to": COUNTER_HEX, "data": NUMBER}, ["trace"], "pending"
    )
    assert parity["output"] == word(43)


async def test_pending_is_built_once_then_again_on_a_new_transaction_drop_or_block(
    server, devnet, monkeypatch
):
    threads: list[str] = []
    build = node.reads.build_pending_block

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return build(*args, **kwargs)

    monkeypatch.setattr(node.reads, "build_pending_block", recording)
    # The clock's second is part of the key: fix the next block's time for this test.
    head_time = int((await call(server, "eth_getBlockByNumber", "latest", False))["timestamp"], 16)
    await call(server, "evm_setNextBlockTimestamp", hex(head_time + 100))
    sender = sender_of(devnet)
    first = await devnet.send_transaction(SendRequest(sender=sender, to=RECIPIENT, value=9))
    read = ("eth_getBalance", RECIPIENT_HEX, "pending")
    answers = [await call(server, *read) for _ in range(3)]
    answers += await asyncio.gather(*(call(server, *read) for _ in range(5)))
    await call(server, "eth_getBlockByNumber", "pending", True)
    assert answers == ["0x9"] * 8
    assert len(threads) == 1 and threads[0].startswith("simulator")

    await devnet.send_transaction(SendRequest(sender=sender, to=RECIPIENT, value=3))
    assert await call(server, *read) == "0xc"
    assert len(threads) == 2

    # A dropped transaction leaves (and takes its nonce's successor out of the run).
    await call(server, "anvil_dropTransaction", "0x" + first.hex())
    assert await call(server, *read) == "0x0"
    assert len(threads) == 3

    await devnet.send_transaction(SendRequest(sender=sender, to=RECIPIENT, value=9, nonce=0))
    assert await call(server, *read) == "0xc"
    await devnet.mine()
    assert await call(server, "eth_getBalance", RECIPIENT_HEX, "latest") == "0xc"
    assert await call(server, *read) == "0xc"
    assert len(threads) == 5
    assert all(name.startswith("simulator") for name in threads)
    assert len(devnet.pending_blocks) <= PENDING_VIEWS


async def test_a_head_state_edit_rebuilds_the_pending_state(server, devnet):
    await pool_transfer_and_increment(devnet)
    assert await call(server, "eth_getBalance", RECIPIENT_HEX, "pending") == "0x9"
    await call(server, "anvil_setBalance", RECIPIENT_HEX, "0x100")
    assert await call(server, "eth_getBalance", RECIPIENT_HEX, "pending") == "0x109"


async def test_an_empty_pool_reads_the_head_state_at_pending(server, devnet):
    assert await call(server, "eth_getStorageAt", COUNTER_HEX, "0x0", "pending") == word(42)
    assert await call(server, "eth_call", {"to": COUNTER_HEX, "data": NUMBER}, "pending") == (
        word(42)
    )


async def test_a_pending_build_past_the_deadline_answers_the_timeout_and_is_not_kept(
    genesis, dev_accounts
):
    loop_code = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP: forever, until out of gas
    looping = bytes.fromhex("00000000000000000000000000000000000100f0")
    chain_genesis = with_alloc(genesis, {looping: GenesisAccount(code=loop_code)})
    devnet = Devnet(
        chain_genesis,
        dev_accounts,
        MiningConfig(MiningMode.MANUAL),
        limits=SimulationLimits(timeout=0.05),
    )
    server = RpcServer(devnet)
    try:
        sender = next(iter(devnet.dev_accounts))
        await devnet.send_transaction(SendRequest(sender=sender, to=looping, gas=16_000_000))
        failure = await error(server, "eth_getBalance", RECIPIENT_HEX, "pending")
        assert "execution aborted (timeout = 50ms)" in failure["message"]
        assert devnet.pending_blocks.builds == 1
        await error(server, "eth_getBalance", RECIPIENT_HEX, "pending")
        assert devnet.pending_blocks.builds == 2  # the failed build was not kept
        assert await call(server, "eth_getBalance", RECIPIENT_HEX, "latest") == "0x0"
    finally:
        await devnet.stop()


async def test_a_mined_block_with_the_pending_blocks_header_reads_the_chains_state(server, devnet):
    """The block mined from an unchanged pool can have the pending block's very header (same
    transactions, fields and second): reads at it are the chain's, edits after it included
    (found by the viem suite: anvil_setCode on that head was invisible at latest)."""
    head_time = int((await call(server, "eth_getBlockByNumber", "latest", False))["timestamp"], 16)
    await call(server, "evm_setNextBlockTimestamp", hex(head_time + 100))
    await devnet.send_transaction(SendRequest(sender=sender_of(devnet), to=RECIPIENT, value=9))
    assert await call(server, "eth_getBalance", RECIPIENT_HEX, "pending") == "0x9"
    pending_header = await devnet.pending_header()
    await devnet.mine()
    assert devnet.head.hash == pending_header.hash  # the very same header
    await call(server, "anvil_setCode", RECIPIENT_HEX, "0x6000")
    await call(server, "anvil_setBalance", RECIPIENT_HEX, "0x7")
    assert await call(server, "eth_getCode", RECIPIENT_HEX, "latest") == "0x6000"
    assert await call(server, "eth_getBalance", RECIPIENT_HEX, "latest") == "0x7"
    assert await call(server, "eth_getBalance", RECIPIENT_HEX, "pending") == "0x7"
