"""Filters and subscription sessions in-process: a manual-mining ``Devnet`` driven through
``RpcServer.handle_one`` (the same dispatch HTTP and WebSocket use), with an injected clock
for filter expiry and a fake socket for the per-connection queue bound.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from eth_abi import encode
from eth_utils import keccak

from devtools.contracts import load, selector
from node.devnet import Devnet, SendRequest
from rpc import subscriptions
from rpc.server import RpcServer
from tests.procs import free_port, wait_until_async

INCREMENTED_TOPIC = "0x" + keccak(text="Incremented(address,uint256)").hex()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(server) -> FakeClock:
    fake = FakeClock()
    server.filters.timeout, server.filters.clock = 10.0, fake
    return fake


async def call(server: RpcServer, method: str, *params, session=None):
    response = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, session
    )
    assert response is not None
    if "error" in response:
        raise RuntimeError(response["error"])
    return response["result"]


async def error_of(server: RpcServer, method: str, *params) -> dict:
    response = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert "error" in response, response
    return response["error"]


async def send(devnet: Devnet, sender: bytes, **fields) -> bytes:
    fields.setdefault("gas", 200_000)
    return await devnet.send_transaction(SendRequest(sender=sender, **fields))


async def deploy_counter(devnet: Devnet, sender: bytes) -> bytes:
    artifact = load("Counter")
    code = bytes.fromhex(artifact.bytecode[2:]) + encode(["uint256"], [5])
    tx_hash = await send(devnet, sender, data=code, gas=1_000_000)
    built = await devnet.mine()
    (info,) = [r for r in built.receipts if r.transaction_hash == tx_hash]
    assert info.status == 1
    return info.contract_address


# -- polled filters -----------------------------------------------------------------------


async def test_block_filter_reports_each_new_block_once(server, devnet, clock):
    filter_id = await call(server, "eth_newBlockFilter")
    assert filter_id.startswith("0x") and len(filter_id) <= 34
    assert await call(server, "eth_getFilterChanges", filter_id) == []
    first, second = await devnet.mine(), await devnet.mine()
    assert await call(server, "eth_getFilterChanges", filter_id) == [
        "0x" + first.block.hash.hex(),
        "0x" + second.block.hash.hex(),
    ]
    assert await call(server, "eth_getFilterChanges", filter_id) == []
    assert await call(server, "eth_uninstallFilter", filter_id) is True
    assert await call(server, "eth_uninstallFilter", filter_id) is False
    assert await error_of(server, "eth_getFilterChanges", filter_id) == {
        "code": -32000,
        "message": "filter not found",
    }


async def test_block_filter_resumes_from_the_fork_point_after_a_revert(server, devnet, clock):
    snapshot = await devnet.snapshot()
    filter_id = await call(server, "eth_newBlockFilter")
    await devnet.mine()
    await devnet.mine()
    assert len(await call(server, "eth_getFilterChanges", filter_id)) == 2
    assert await devnet.revert(snapshot)
    replacement = await devnet.mine(timestamp=devnet.head.timestamp + 100)  # a new block 1
    assert await call(server, "eth_getFilterChanges", filter_id) == [
        "0x" + replacement.block.hash.hex()
    ]


async def test_pending_filter_reports_accepted_transactions(server, devnet, dev_accounts, clock):
    hashes_filter = await call(server, "eth_newPendingTransactionFilter")
    full_filter = await call(server, "eth_newPendingTransactionFilter", True)
    sender, receiver = dev_accounts[0].address, dev_accounts[1].address
    first = await send(devnet, sender, to=receiver, value=1)
    second = await send(devnet, sender, to=receiver, value=2)
    assert await call(server, "eth_getFilterChanges", hashes_filter) == [
        "0x" + first.hex(),
        "0x" + second.hex(),
    ]
    assert await call(server, "eth_getFilterChanges", hashes_filter) == []
    full = await call(server, "eth_getFilterChanges", full_filter)
    assert [t["hash"] for t in full] == ["0x" + first.hex(), "0x" + second.hex()]
    assert [t["value"] for t in full] == ["0x1", "0x2"]
    assert {t["from"] for t in full} == {"0x" + sender.hex()}
    assert full[0]["blockHash"] is None
    await devnet.mine()  # mining is not a new pending transaction
    assert await call(server, "eth_getFilterChanges", hashes_filter) == []


async def test_log_filter_changes_and_all_logs(server, devnet, dev_accounts, clock):
    sender = dev_accounts[0].address
    counter = await deploy_counter(devnet, sender)
    increment = bytes.fromhex(selector("increment()")[2:])
    await send(devnet, sender, to=counter, data=increment)
    old = await devnet.mine()

    criteria = {"fromBlock": "0x0", "address": "0x" + counter.hex(), "topics": [INCREMENTED_TOPIC]}
    filter_id = await call(server, "eth_newFilter", criteria)
    # Changes are new blocks only (geth); the history is what eth_getFilterLogs answers.
    assert await call(server, "eth_getFilterChanges", filter_id) == []
    await send(devnet, sender, to=counter, data=increment)
    await send(devnet, sender, to=counter, data=increment)
    new = await devnet.mine()
    await devnet.mine()  # an empty block adds nothing

    changes = await call(server, "eth_getFilterChanges", filter_id)
    assert [log["blockHash"] for log in changes] == ["0x" + new.block.hash.hex()] * 2
    assert [int(log["data"], 16) for log in changes] == [7, 8]
    assert all(log["topics"][0] == INCREMENTED_TOPIC for log in changes)
    assert await call(server, "eth_getFilterChanges", filter_id) == []

    everything = await call(server, "eth_getFilterLogs", filter_id)
    assert [log["blockNumber"] for log in everything] == [
        hex(old.block.header.block_number),
        hex(new.block.header.block_number),
        hex(new.block.header.block_number),
    ]
    assert everything == await call(server, "eth_getLogs", criteria)

    other = await call(server, "eth_newFilter", {"address": "0x" + "11" * 20})
    await send(devnet, sender, to=counter, data=increment)
    await devnet.mine()
    assert await call(server, "eth_getFilterChanges", other) == []


async def test_log_filter_respects_its_block_range(server, devnet, dev_accounts, clock):
    sender = dev_accounts[0].address
    counter = await deploy_counter(devnet, sender)
    increment = bytes.fromhex(selector("increment()")[2:])
    head = devnet.head.block_number
    filter_id = await call(
        server, "eth_newFilter", {"fromBlock": hex(head + 2), "toBlock": hex(head + 2)}
    )
    blocks = []
    for _ in range(3):
        await send(devnet, sender, to=counter, data=increment)
        blocks.append(await devnet.mine())
    changes = await call(server, "eth_getFilterChanges", filter_id)
    assert {log["blockNumber"] for log in changes} == {hex(head + 2)}
    assert await error_of(server, "eth_newFilter", {"fromBlock": "0x5", "toBlock": "0x4"}) == {
        "code": -32000,
        "message": "invalid from and to block combination",
    }


async def test_get_filter_logs_only_for_log_filters(server, clock):
    block_filter = await call(server, "eth_newBlockFilter")
    error = await error_of(server, "eth_getFilterLogs", block_filter)
    assert error["message"] == "filter not found"
    assert (await error_of(server, "eth_getFilterChanges", 7))["code"] == -32602


async def test_idle_filters_expire_and_polling_keeps_them_alive(server, devnet, clock):
    store = server.filters
    kept = await call(server, "eth_newBlockFilter")
    idle = await call(server, "eth_newPendingTransactionFilter")
    for _ in range(3):  # 27 s in total, never 10 s without a poll
        clock.now += 9
        await call(server, "eth_getFilterChanges", kept)
    assert (await error_of(server, "eth_getFilterChanges", idle))["message"] == "filter not found"
    assert len(store) == 1
    clock.now += 10.5
    assert store.expire(force=True) == [kept]
    assert len(store) == 0
    assert await call(server, "eth_uninstallFilter", kept) is False


async def test_filter_count_is_bounded(server, devnet):
    server.filters.max_filters = 2
    first = await call(server, "eth_newBlockFilter")
    await call(server, "eth_newBlockFilter")
    error = await error_of(server, "eth_newBlockFilter")
    assert error == {"code": -32000, "message": "too many filters installed (max 2)"}
    await call(server, "eth_uninstallFilter", first)
    await call(server, "eth_newBlockFilter")


async def test_filters_are_per_node_not_per_connection(server, devnet, clock):
    filter_id = await call(server, "eth_newBlockFilter")
    other_server = RpcServer(devnet, filter_store=server.filters)  # the node's other port
    await devnet.mine()
    assert len(await call(other_server, "eth_getFilterChanges", filter_id)) == 1


# -- subscription sessions ----------------------------------------------------------------


class StuckSocket:
    """A client that never reads: every send blocks."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed_with: tuple[int, bytes] | None = None

    async def send_str(self, data: str) -> None:
        self.sent.append(data)
        await asyncio.Event().wait()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed_with = (code, message)
        return True


async def test_http_has_no_subscriptions(server):
    error = await error_of(server, "eth_subscribe", "newHeads")
    assert error == {"code": -32601, "message": "notifications not supported"}


async def test_notifications_wait_for_the_subscription_response(server, devnet):
    socket = StuckSocket()
    session = subscriptions.Session(server.subscriptions, socket)
    try:
        with session.request_scope():
            sub_id = await call(server, "eth_subscribe", "newHeads", session=session)
            built = await devnet.mine()  # a block lands before the response is queued
            assert session.outbox.empty()
            await session.send('{"id":1}')
            assert session.outbox.qsize() == 1
        await asyncio.sleep(0)  # the sender writes the response (and the socket blocks)
        assert socket.sent == ['{"id":1}']
        assert session.outbox.qsize() == 1
        note = json.loads(session.outbox.get_nowait())
        assert note["method"] == "eth_subscription"
        assert note["params"]["subscription"] == sub_id
        assert note["params"]["result"]["hash"] == "0x" + built.block.hash.hex()
    finally:
        session.close()


async def test_a_slow_client_is_disconnected_when_its_queue_overflows(server, devnet):
    socket = StuckSocket()
    session = subscriptions.Session(server.subscriptions, socket, max_queued=3)
    sub_id = await call(server, "eth_subscribe", "newHeads", session=session)
    assert sub_id in server.subscriptions.subscriptions
    await asyncio.sleep(0)  # the sender takes the first message and blocks on it
    for _ in range(5):
        await devnet.mine()
    # closing the socket runs as its own task
    await wait_until_async(lambda: socket.closed_with, "the socket to be closed")
    assert session.closed
    assert socket.closed_with == (1008, b"notification queue overflow")
    assert server.subscriptions.subscriptions == {}


async def test_unsubscribe_and_unknown_kinds(server, devnet):
    session = subscriptions.Session(server.subscriptions, StuckSocket())
    try:
        sub_id = await call(
            server, "eth_subscribe", "logs", {"address": [], "topics": []}, session=session
        )
        assert await call(server, "eth_unsubscribe", sub_id, session=session) is True
        with pytest.raises(RuntimeError, match="subscription not found"):
            await call(server, "eth_unsubscribe", sub_id, session=session)
        with pytest.raises(RuntimeError, match='no "bogus" subscription in eth namespace'):
            await call(server, "eth_subscribe", "bogus", session=session)
        assert server.subscriptions.subscriptions == {}
    finally:
        session.close()


async def test_closing_the_socket_removes_its_subscriptions(server, devnet):
    port = free_port()
    await server.start("127.0.0.1", port)
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}") as ws:
            for i, params in enumerate((["newHeads"], ["logs", {}], ["newPendingTransactions"])):
                await ws.send(json.dumps({"id": i, "method": "eth_subscribe", "params": params}))
            replies = [json.loads(await ws.recv()) for _ in range(3)]
            assert set(server.subscriptions.subscriptions) == {r["result"] for r in replies}
        await wait_until_async(
            lambda: not server.subscriptions.subscriptions, "the subscriptions to be removed"
        )
    finally:
        await server.stop()
    assert server.subscriptions.on_block not in devnet.listeners
