"""The execute_ namespace answers from the chain's own EXECUTE market, and an L2 (which has
none) says so instead of failing inside."""

from __future__ import annotations

from node.devnet import Devnet, MiningConfig, MiningMode
from node.genesis import load_genesis
from rpc.server import RpcServer


async def ask(server: RpcServer, method: str) -> dict:
    return await server.handle_one({"jsonrpc": "2.0", "id": 1, "method": method, "params": []})


async def test_the_l1_has_a_market_and_the_l2_says_it_has_none(genesis):
    for chain_genesis, has_market in ((genesis, True), (load_genesis("genesis/l2.json"), False)):
        devnet = Devnet(chain_genesis, (), MiningConfig(MiningMode.MANUAL))
        try:
            answer = await ask(RpcServer(devnet), "execute_params")
        finally:
            await devnet.stop()
        if has_market:
            assert int(answer["result"]["cumulativeGasLimit"], 16) > 0
        else:
            assert answer["error"]["code"] == -32000
            assert "no EXECUTE market" in answer["error"]["message"]
