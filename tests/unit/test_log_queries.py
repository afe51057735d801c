"""Log queries (``eth_getLogs``, ``eth_getFilterLogs``, ``eth_getFilterChanges``) run on a
worker thread, not on the event loop nor the chain writer, and within the node's limits:
blocks scanned, logs returned and addresses/topics per position.

Regression test for the hardening issue: ``eth_getLogs`` over a long chain ran on the event
loop and held up every other request meanwhile.
"""

from __future__ import annotations

import threading

import pytest

from devtools.contracts import selector
from node import logs
from node.logs import LogFilter, LogLimits
from rpc import params as parse
from tests.unit.test_filters import call, deploy_counter, error_of, send

INCREMENT = bytes.fromhex(selector("increment()")[2:])


@pytest.fixture
async def counter_logs(devnet, dev_accounts) -> str:
    """A Counter with three increments in three blocks (one log each); its address."""
    sender = dev_accounts[0].address
    counter = await deploy_counter(devnet, sender)
    for _ in range(3):
        await send(devnet, sender, to=counter, data=INCREMENT)
        await devnet.mine()
    return "0x" + counter.hex()


@pytest.mark.parametrize("method", ["eth_getLogs", "eth_getFilterLogs", "eth_getFilterChanges"])
async def test_log_queries_run_on_a_worker_thread(
    server, devnet, dev_accounts, counter_logs, monkeypatch, method
):
    loop_thread = threading.current_thread()
    seen: list[threading.Thread] = []
    real = logs.logs_matching

    def recording(*args, **kwargs):
        seen.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(logs, "logs_matching", recording)
    criteria = {"fromBlock": "0x0", "address": counter_logs}
    if method == "eth_getLogs":
        found = await call(server, method, criteria)
    else:
        filter_id = await call(server, "eth_newFilter", criteria)
        if method == "eth_getFilterChanges":
            counter = bytes.fromhex(counter_logs[2:])
            await send(devnet, dev_accounts[0].address, to=counter, data=INCREMENT)
            await devnet.mine()
        found = await call(server, method, filter_id)
    assert len(found) == (1 if method == "eth_getFilterChanges" else 3)
    assert seen, "the query did not run"
    assert all(t is not loop_thread for t in seen), seen
    assert all(not t.name.startswith("chain-writer") for t in seen), seen


async def test_block_range_limit(server, devnet, counter_logs):
    devnet.log_limits = LogLimits(max_block_range=2)
    head = devnet.head.block_number
    found = await call(server, "eth_getLogs", {"fromBlock": hex(head - 1), "toBlock": hex(head)})
    assert len(found) == 2  # one increment per block
    error = await error_of(
        server, "eth_getLogs", {"fromBlock": hex(head - 2), "toBlock": hex(head)}
    )
    assert error == {
        "code": -32005,
        "message": f"query exceeds max block range 2 (blocks {head - 2} to {head})",
    }


async def test_result_count_limit(server, devnet, counter_logs):
    devnet.log_limits = LogLimits(max_results=3)
    assert len(await call(server, "eth_getLogs", {"fromBlock": "0x0"})) == 3
    devnet.log_limits = LogLimits(max_results=2)
    error = await error_of(server, "eth_getLogs", {"fromBlock": "0x0"})
    assert error == {"code": -32005, "message": "query returned more than 2 results"}
    filter_id = await call(server, "eth_newFilter", {"fromBlock": "0x0"})
    assert await error_of(server, "eth_getFilterLogs", filter_id) == error


async def test_addresses_and_topics_per_position_are_bounded(server):
    many = ["0x" + f"{i:040x}" for i in range(parse.MAX_LOG_ALTERNATIVES + 1)]
    message = "exceed max addresses or topics per search position (1000)"
    error = await error_of(server, "eth_getLogs", {"address": many})
    assert error == {"code": -32602, "message": message}
    topics = ["0x" + f"{i:064x}" for i in range(parse.MAX_LOG_ALTERNATIVES + 1)]
    error = await error_of(server, "eth_getLogs", {"topics": [topics]})
    assert error == {"code": -32602, "message": message}
    assert await call(server, "eth_getLogs", {"address": many[:-1]}) == []


async def test_the_node_answers_with_typed_logs(devnet, counter_logs):
    """``Devnet.logs`` speaks bytes and ints; only rpc/ turns them into hex."""
    counter = bytes.fromhex(counter_logs[2:])
    found = await devnet.logs(LogFilter(from_block=0, addresses=frozenset({counter})))
    assert [f.receipt.block_number for f in found] == sorted(f.receipt.block_number for f in found)
    assert len(found) == 3
    assert all(f.log.address == counter and f.offset == 0 for f in found)
    newest = found[-1].receipt.block_number
    assert (
        len(await devnet.logs(LogFilter(from_block=0, addresses=frozenset({counter})), newest - 1))
        == 1
    )
