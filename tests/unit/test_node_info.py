"""``anvil_nodeInfo`` in anvil 1.7.1's shape: the same keys, quantities as hex strings, and the
timestamp and chain id as JSON numbers, as anvil writes them. (anvil's answer on a fresh node:
``{"currentBlockNumber": "0x0", "currentBlockTimestamp": 1, "currentBlockHash": "0x…",
"hardFork": …, "transactionOrder": "fees", "environment": {"baseFee": "0x3b9aca00",
"chainId": 31337, "gasLimit": "0x1c9c380", "gasPrice": "0x77359400"}, "forkConfig": {…}}``.)
"""

from __future__ import annotations

import pytest

from node.devnet import Devnet, MiningConfig, MiningMode
from rpc.server import RpcServer


@pytest.fixture
async def server(genesis, dev_accounts):
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.AUTO))
    yield RpcServer(node)
    await node.stop()


async def test_node_info_has_anvils_keys_and_types(server):
    answer = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": "anvil_nodeInfo", "params": []}
    )
    info = answer["result"]
    head = server.devnet.head
    assert info["currentBlockNumber"] == hex(head.block_number)
    assert info["currentBlockTimestamp"] == head.timestamp  # a number, as anvil
    assert info["currentBlockHash"] == "0x" + head.hash.hex()
    assert info["transactionOrder"] == "fees"
    env = info["environment"]
    assert env["baseFee"] == hex(server.devnet.next_base_fee())
    assert env["chainId"] == server.devnet.chain_id  # a number, as anvil
    assert env["gasLimit"] == hex(head.gas_limit)
    assert int(env["gasPrice"], 16) > int(env["baseFee"], 16)
    assert info["forkConfig"] == {
        "forkUrl": None,
        "forkBlockNumber": None,
        "forkRetryBackoff": None,
    }
