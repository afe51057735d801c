"""The ``pending`` block is the block the node would mine next, as geth and anvil answer it:
number head + 1, the parent the head, the pool's executable transactions in inclusion order
(executed, so gas used and roots are real), and geth's null ``hash``, ``nonce`` and ``miner``
(it is not sealed). The keys are anvil 1.7.1's (recorded with ``--no-mining`` and a pooled
transfer). ``latest`` reads and ``pending`` balances are unchanged.
"""

from __future__ import annotations

from node.devnet import Devnet, SendRequest
from rpc.server import RpcServer

# eth_getBlockByNumber("pending", false) on anvil 1.7.1 --no-mining with one pooled transfer.
ANVIL_PENDING_KEYS = {
    "hash", "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot",
    "receiptsRoot", "logsBloom", "difficulty", "number", "gasLimit", "gasUsed", "timestamp",
    "extraData", "mixHash", "nonce", "baseFeePerGas", "withdrawalsRoot", "blobGasUsed",
    "excessBlobGas", "parentBeaconBlockRoot", "requestsHash", "totalDifficulty", "size",
    "uncles", "transactions", "withdrawals",
}  # fmt: skip
EXECUTE_HEADER_KEYS = {"executeGasUsed", "executeBaseFeePerGas"}  # this L1's own header fields
RECIPIENT = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")


async def call(server: RpcServer, method: str, *params):
    response = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert "error" not in response, response
    return response["result"]


async def pool_transfers(devnet: Devnet, count: int) -> list[str]:
    sender = next(iter(devnet.dev_accounts))
    hashes = []
    for i in range(count):
        request = SendRequest(sender=sender, to=RECIPIENT, value=i + 1, gas=21_000)
        hashes.append("0x" + (await devnet.send_transaction(request)).hex())
    return hashes


async def test_pending_block_is_head_plus_one_with_the_pool(server, devnet):
    latest = await call(server, "eth_getBlockByNumber", "latest", False)
    hashes = await pool_transfers(devnet, 2)
    pending = await call(server, "eth_getBlockByNumber", "pending", False)
    assert set(pending) - EXECUTE_HEADER_KEYS == ANVIL_PENDING_KEYS
    assert int(pending["number"], 16) == int(latest["number"], 16) + 1
    assert pending["parentHash"] == latest["hash"]
    assert pending["hash"] is None and pending["nonce"] is None and pending["miner"] is None
    assert pending["transactions"] == hashes
    assert int(pending["gasUsed"], 16) == 2 * 21_000
    assert int(pending["timestamp"], 16) > int(latest["timestamp"], 16)
    assert await call(server, "eth_getBlockTransactionCountByNumber", "pending") == "0x2"
    full = await call(server, "eth_getBlockByNumber", "pending", True)
    assert [tx["hash"] for tx in full["transactions"]] == hashes
    assert full["transactions"][0]["from"] == "0x" + next(iter(devnet.dev_accounts)).hex()

    # latest is untouched, and mining the pool gives the block pending showed.
    assert await call(server, "eth_getBlockByNumber", "latest", False) == latest
    await devnet.mine()
    mined = await call(server, "eth_getBlockByNumber", "latest", False)
    assert mined["transactions"] == hashes
    assert mined["gasUsed"] == pending["gasUsed"]
    assert mined["transactionsRoot"] == pending["transactionsRoot"]
    assert mined["receiptsRoot"] == pending["receiptsRoot"]


async def test_pending_block_with_an_empty_pool(server, devnet):
    latest = await call(server, "eth_getBlockByNumber", "latest", False)
    pending = await call(server, "eth_getBlockByNumber", "pending", False)
    assert int(pending["number"], 16) == int(latest["number"], 16) + 1
    assert pending["transactions"] == []
    assert await call(server, "eth_getBlockTransactionCountByNumber", "pending") == "0x0"
    assert int(pending["baseFeePerGas"], 16) == devnet.next_base_fee()
