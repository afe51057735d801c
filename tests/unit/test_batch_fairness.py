"""A batch does not hold the event loop: between its requests other clients are served.

A batch of 1 000 cheap requests answered without yielding delayed every other client by
100 ms on a quiet machine and 846 ms on a busy one (the hostile-input corpus measured it).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from node.devnet import Devnet, MiningConfig, MiningMode
from rpc.server import RpcServer


@pytest.fixture
async def server(genesis, dev_accounts):
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    yield RpcServer(node)
    await node.stop()


async def test_a_single_request_is_answered_while_a_big_batch_runs(server):
    batch = json.dumps(
        [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1000)]
    ).encode()
    finished: list[str] = []

    async def run_batch() -> None:
        out = await server.handle_payload(batch)
        assert len(json.loads(out)) == 1000
        finished.append("batch")

    async def run_single() -> None:
        await asyncio.sleep(0)  # let the batch start first
        response = await server.handle_one({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
        assert "result" in response
        finished.append("single")

    await asyncio.gather(run_batch(), run_single())
    assert finished == ["single", "batch"]
