"""Filters over HTTP and subscriptions over WebSocket, driven by web3.py 8 and a raw socket.

Subscriptions: web3.py's ``WebSocketProvider`` receives ``newHeads`` (the header the node
serves for that block) and ``logs`` (the Counter's ``Incremented`` events, sent from another
connection), and ``newPendingTransactions`` under ``--no-mining``; a raw WebSocket checks the
exact notification shape, that the subscription id arrives before its first notification,
and that ``eth_unsubscribe`` stops them. Filters: web3.py's ``w3.eth.filter('latest')``,
``w3.eth.filter('pending')`` and ``contract.events.Incremented.create_filter``.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from web3 import AsyncWeb3, HTTPProvider, Web3, WebSocketProvider

from devtools.contracts import event_topic, load
from tests.procs import DEV_ADDRESSES, NodeProcess, rpc

pytestmark = pytest.mark.e2e

INCREMENTED_TOPIC = event_topic("Incremented(address,uint256)")
TIMEOUT = 30


def http_w3(node: NodeProcess) -> Web3:
    return Web3(HTTPProvider(node.url, request_kwargs={"timeout": 60}))


@pytest.fixture(scope="module")
def w3(shared_l1) -> Web3:
    return http_w3(shared_l1)


@pytest.fixture(scope="module")
def counter(w3):
    artifact = load("Counter")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(5).transact({"from": DEV_ADDRESSES[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def increment(w3: Web3, counter, sender: str = DEV_ADDRESSES[0]):
    tx_hash = counter.functions.increment().transact({"from": sender})
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)


async def next_message(w3: AsyncWeb3):
    async def first():
        async for message in w3.socket.process_subscriptions():
            return message

    return await asyncio.wait_for(first(), TIMEOUT)


async def raw_recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


# -- subscriptions (web3.py WebSocketProvider) ---------------------------------------------


async def test_new_heads_subscription(shared_l1, w3):
    async with AsyncWeb3(WebSocketProvider(shared_l1.ws_url)) as ws_w3:
        sub_id = await ws_w3.eth.subscribe("newHeads")
        receipt = await asyncio.to_thread(
            lambda: w3.eth.wait_for_transaction_receipt(
                w3.eth.send_transaction(
                    {"from": DEV_ADDRESSES[1], "to": DEV_ADDRESSES[2], "value": 1}
                ),
                timeout=60,
            )
        )
        message = await next_message(ws_w3)
        assert message["subscription"] == sub_id
        header = message["result"]
        assert header["number"] == receipt["blockNumber"]
        assert header["hash"] == receipt["blockHash"]

        # the same fields, values and spelling the node serves for the block
        block = rpc(shared_l1.url, "eth_getBlockByNumber", [hex(receipt["blockNumber"]), False])
        served = block["result"]
        for key in ("transactions", "uncles", "size", "totalDifficulty", "withdrawals"):
            served.pop(key)
        assert set(header.keys()) == set(served.keys())
        assert header["parentHash"].to_0x_hex() == served["parentHash"]
        assert header["stateRoot"].to_0x_hex() == served["stateRoot"]
        assert header["baseFeePerGas"] == int(served["baseFeePerGas"], 16)
        assert await ws_w3.eth.unsubscribe(sub_id) is True


async def test_logs_subscription_receives_counter_events(shared_l1, w3, counter):
    async with AsyncWeb3(WebSocketProvider(shared_l1.ws_url)) as ws_w3:
        sub_id = await ws_w3.eth.subscribe(
            "logs", {"address": counter.address, "topics": [INCREMENTED_TOPIC]}
        )
        other = await ws_w3.eth.subscribe("logs", {"address": DEV_ADDRESSES[3]})
        first = await asyncio.to_thread(increment, w3, counter)
        second = await asyncio.to_thread(increment, w3, counter, DEV_ADDRESSES[1])

        received = [await next_message(ws_w3), await next_message(ws_w3)]
        assert {m["subscription"] for m in received} == {sub_id}  # nothing for ``other``
        logs = [m["result"] for m in received]
        expected = [first["logs"][0], second["logs"][0]]
        for got, want in zip(logs, expected, strict=True):
            assert got["address"] == counter.address
            assert got["transactionHash"] == want["transactionHash"]
            assert got["blockHash"] == want["blockHash"]
            assert got["logIndex"] == want["logIndex"]
            assert got["topics"] == want["topics"]
            assert got["data"] == want["data"]
            assert got["removed"] is False
        decoded = [counter.events.Incremented().process_log(log) for log in logs]
        assert [d["args"]["by"] for d in decoded] == [DEV_ADDRESSES[0], DEV_ADDRESSES[1]]
        assert decoded[1]["args"]["value"] == decoded[0]["args"]["value"] + 1
        assert decoded[1]["args"]["value"] == counter.functions.number().call()
        assert await ws_w3.eth.unsubscribe(other) is True
        assert await ws_w3.eth.unsubscribe(sub_id) is True


async def test_pending_transactions_subscription(node_factory):
    node = node_factory("--no-mining")
    w3 = http_w3(node)
    async with AsyncWeb3(WebSocketProvider(node.ws_url)) as ws_w3:
        hashes = await ws_w3.eth.subscribe("newPendingTransactions")
        full = await ws_w3.eth.subscribe("newPendingTransactions", True)
        tx_hash = await asyncio.to_thread(
            w3.eth.send_transaction, {"from": DEV_ADDRESSES[0], "to": DEV_ADDRESSES[1], "value": 7}
        )
        received = {}
        for _ in range(2):
            message = await next_message(ws_w3)
            received[message["subscription"]] = message["result"]
        assert received[hashes] == tx_hash
        assert received[full]["hash"] == tx_hash
        assert received[full]["from"] == DEV_ADDRESSES[0]
        assert received[full]["value"] == 7
        assert received[full]["blockNumber"] is None
        assert rpc(node.url, "eth_getTransactionReceipt", [tx_hash.to_0x_hex()])["result"] is None


# -- subscriptions (raw socket: exact wire shapes) ------------------------------------------


async def test_raw_notification_shape_and_unsubscribe(shared_l1, w3):
    async with websockets.connect(shared_l1.ws_url) as ws:
        # pipelined: the subscription response comes before its first notification
        await ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            )
        )
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "evm_mine"}))
        first = await raw_recv(ws)
        assert first["id"] == 1 and first["result"].startswith("0x")
        sub_id = first["result"]
        rest = [await raw_recv(ws), await raw_recv(ws)]
        (note,) = [m for m in rest if "method" in m]
        assert set(note) == {"jsonrpc", "method", "params"}
        assert note["jsonrpc"] == "2.0" and note["method"] == "eth_subscription"
        assert set(note["params"]) == {"subscription", "result"}
        assert note["params"]["subscription"] == sub_id
        mined = rpc(
            shared_l1.url, "eth_getBlockByNumber", [note["params"]["result"]["number"], False]
        )
        assert note["params"]["result"]["hash"] == mined["result"]["hash"]

        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 3, "method": "eth_unsubscribe", "params": [sub_id]})
        )
        assert await raw_recv(ws) == {"jsonrpc": "2.0", "id": 3, "result": True}
        rpc(shared_l1.url, "evm_mine")
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 4, "method": "eth_unsubscribe", "params": [sub_id]})
        )
        reply = await raw_recv(ws)  # no notification for the mined block came first
        assert reply == {
            "jsonrpc": "2.0",
            "id": 4,
            "error": {"code": -32000, "message": "subscription not found"},
        }

        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 5, "method": "eth_subscribe", "params": ["bogus"]})
        )
        assert (await raw_recv(ws))["error"] == {
            "code": -32601,
            "message": 'no "bogus" subscription in eth namespace',
        }


async def test_closing_a_socket_ends_its_subscriptions(shared_l1):
    async with websockets.connect(shared_l1.ws_url) as ws:
        for i in range(3):
            await ws.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": ["newHeads"]}
                )
            )
        for _ in range(3):
            assert "result" in await raw_recv(ws)
    # the node keeps mining and serving other connections
    async with websockets.connect(shared_l1.ws_url) as ws:
        await ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            )
        )
        sub_id = (await raw_recv(ws))["result"]
        rpc(shared_l1.url, "evm_mine")
        assert (await raw_recv(ws))["params"]["subscription"] == sub_id
    assert rpc(shared_l1.url, "eth_blockNumber")["result"]


def test_subscribe_over_http_is_not_supported(shared_l1):
    for method in ("eth_subscribe", "eth_unsubscribe"):
        reply = rpc(shared_l1.url, method, ["newHeads"])
        assert reply["error"] == {"code": -32601, "message": "notifications not supported"}


# -- polled filters (web3.py over HTTP) ----------------------------------------------------


def test_block_filter(w3):
    block_filter = w3.eth.filter("latest")
    assert block_filter.get_new_entries() == []
    receipts = [
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": DEV_ADDRESSES[2], "to": DEV_ADDRESSES[3], "value": v}),
            timeout=60,
        )
        for v in (1, 2)
    ]
    assert block_filter.get_new_entries() == [r["blockHash"] for r in receipts]
    assert block_filter.get_new_entries() == []
    assert w3.eth.uninstall_filter(block_filter.filter_id) is True
    assert w3.eth.uninstall_filter(block_filter.filter_id) is False


def test_contract_event_filter(w3, counter):
    before = increment(w3, counter)
    event_filter = counter.events.Incremented.create_filter(from_block=before["blockNumber"])
    assert event_filter.get_new_entries() == []  # only blocks mined after it, as geth
    after = [increment(w3, counter), increment(w3, counter, DEV_ADDRESSES[1])]

    new = event_filter.get_new_entries()
    assert [e["transactionHash"] for e in new] == [r["transactionHash"] for r in after]
    assert [e["event"] for e in new] == ["Incremented", "Incremented"]
    assert [e["args"]["by"] for e in new] == [DEV_ADDRESSES[0], DEV_ADDRESSES[1]]
    assert new[1]["args"]["value"] == counter.functions.number().call()
    assert event_filter.get_new_entries() == []

    everything = event_filter.get_all_entries()
    assert [e["transactionHash"] for e in everything] == [
        r["transactionHash"] for r in [before, *after]
    ]
    # a filter lives on the node, not on a connection: another client can poll it
    other = Web3(HTTPProvider(w3.provider.endpoint_uri))
    assert other.eth.get_filter_logs(event_filter.filter_id) == w3.eth.get_filter_logs(
        event_filter.filter_id
    )


async def test_filter_polled_over_websocket(shared_l1, w3):
    filter_id = w3.eth.filter("latest").filter_id
    rpc(shared_l1.url, "evm_mine")
    async with AsyncWeb3(WebSocketProvider(shared_l1.ws_url)) as ws_w3:
        changes = await ws_w3.eth.get_filter_changes(filter_id)
    assert len(changes) == 1


def test_pending_transaction_filter(node_factory):
    node = node_factory("--no-mining")
    w3 = http_w3(node)
    pending_filter = w3.eth.filter("pending")
    sent = [
        w3.eth.send_transaction({"from": DEV_ADDRESSES[0], "to": DEV_ADDRESSES[1], "value": v})
        for v in (1, 2, 3)
    ]
    assert pending_filter.get_new_entries() == sent
    assert pending_filter.get_new_entries() == []
    assert rpc(node.url, "txpool_status")["result"] == {"pending": "0x3", "queued": "0x0"}
    w3.provider.make_request("evm_mine", [])
    assert pending_filter.get_new_entries() == []
    assert rpc(node.url, "txpool_status")["result"] == {"pending": "0x0", "queued": "0x0"}
