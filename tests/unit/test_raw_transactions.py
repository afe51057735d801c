"""The raw-transaction getters tools call (geth's ``eth_getRawTransactionByHash``,
``…ByBlockNumberAndIndex``, ``…ByBlockHashAndIndex``): the signed bytes exactly as sent, for a
mined transaction (and, by hash, for one still in the pool), ``null`` for what is unknown."""

from __future__ import annotations

from rpc.server import RpcServer


async def result(server: RpcServer, method: str, *params):
    answer = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert "error" not in answer, answer
    return answer["result"]


async def test_raw_transactions_by_hash_and_by_position(devnet, dev_accounts, txs):
    server = RpcServer(devnet)
    tx = txs.dynamic(dev_accounts[0].private_key, 0, value=1)
    raw = "0x" + tx.encode().hex()
    tx_hash = await result(server, "eth_sendRawTransaction", raw)
    assert await result(server, "eth_getRawTransactionByHash", tx_hash) == raw  # pending
    await result(server, "evm_mine")
    block = await result(server, "eth_getBlockByNumber", "latest", False)
    assert await result(server, "eth_getRawTransactionByHash", tx_hash) == raw
    assert (
        await result(server, "eth_getRawTransactionByBlockNumberAndIndex", "latest", "0x0") == raw
    )
    assert (
        await result(server, "eth_getRawTransactionByBlockHashAndIndex", block["hash"], "0x0")
        == raw
    )
    assert await result(server, "debug_getRawTransaction", tx_hash) == raw
    assert (
        await result(server, "eth_getRawTransactionByBlockNumberAndIndex", "latest", "0x1") is None
    )
    assert (
        await result(server, "eth_getRawTransactionByBlockHashAndIndex", "0x" + "00" * 32, "0x0")
        is None
    )
    assert await result(server, "eth_getRawTransactionByHash", "0x" + "00" * 32) is None
