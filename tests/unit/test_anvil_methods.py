"""The anvil test-node methods added for parity with anvil 1.7.1, in-process, answers compared
with what anvil 1.7.1 answered to the same calls:

- ``anvil_setNextBlockBaseFeePerGas ["0x77359400"]`` → ``null``; ``eth_gasPrice`` at once
  ``0xb2d05e00`` (the fee + 1 gwei tip); the next block has base fee ``0x77359400``, the block
  after it ``0x684ee180`` (EIP-1559 from the chosen fee, empty parent).
- ``evm_setBlockGasLimit`` and ``anvil_setBlockGasLimit ["0x2625a00"]`` → ``true``; every
  later block has that limit; ``anvil_nodeInfo``'s ``environment.gasLimit`` shows it at once.
- ``anvil_setCoinbase [addr]`` → ``null``; ``eth_coinbase`` answers it at once; later blocks'
  ``miner`` is it.
- ``anvil_dropTransaction [hash]`` → the hash, or ``null`` for an unknown hash;
  ``anvil_dropAllTransactions []`` and ``anvil_removePoolTransactions [sender]`` → ``null``.
- ``anvil_setLoggingEnabled [true]`` → ``null`` (``"0x1"`` is invalid params).
- ``anvil_setMinGasPrice ["0x1"]`` → -32602 ``anvil_setMinGasPrice is not supported when
  EIP-1559 is active``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from node.devnet import Devnet, MiningConfig, MiningMode
from rpc.exposure import is_control
from rpc.server import RpcServer

GWEI = 10**9


@pytest.fixture
async def server(genesis, dev_accounts):
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    await node.start()
    yield RpcServer(node)
    await node.stop()
    logging.getLogger("native_devnet").setLevel(logging.NOTSET)


async def call(server: RpcServer, method: str, *params: Any) -> Any:
    answer = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    if "error" in answer:
        raise AssertionError(f"{method}: {answer['error']}")
    return answer["result"]


async def error(server: RpcServer, method: str, *params: Any) -> dict:
    answer = await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert "error" in answer, answer
    return answer["error"]


async def block(server: RpcServer, tag: str = "latest") -> dict:
    return await call(server, "eth_getBlockByNumber", tag, False)


async def send(server: RpcServer, sender: str, value: int = 1) -> str:
    return await call(
        server,
        "eth_sendTransaction",
        {"from": sender, "to": "0x" + "11" * 20, "value": hex(value)},
    )


def hexaddr(account) -> str:
    return "0x" + account.address.hex()


async def test_next_block_base_fee_is_chosen_and_later_blocks_follow_eip1559(server):
    assert await call(server, "anvil_setNextBlockBaseFeePerGas", "0x77359400") is None
    assert await call(server, "eth_gasPrice") == "0xb2d05e00"  # as anvil: fee + 1 gwei
    info = await call(server, "anvil_nodeInfo")
    assert info["environment"]["baseFee"] == "0x77359400"
    await call(server, "evm_mine")
    assert (await block(server))["baseFeePerGas"] == "0x77359400"
    await call(server, "evm_mine")
    assert (await block(server))["baseFeePerGas"] == "0x684ee180"  # anvil's next fee too
    too_big = await error(server, "anvil_setNextBlockBaseFeePerGas", hex(2**64))
    assert too_big["code"] == -32602


async def test_a_zero_base_fee_and_the_least_gas_limit_build_blocks(server):
    await call(server, "anvil_setNextBlockBaseFeePerGas", "0x0")
    await call(server, "evm_setBlockGasLimit", hex(5000))
    for _ in range(3):
        await call(server, "evm_mine")
    latest = await block(server)
    assert (latest["baseFeePerGas"], latest["gasLimit"]) == ("0x0", hex(5000))
    # anvil takes any limit; below py-evm's and geth's 5 000 no block could follow here.
    too_low = await error(server, "evm_setBlockGasLimit", hex(4999))
    assert too_low == {"code": -32602, "message": "gasLimit: 4999 is below the minimum 5000"}


async def test_a_base_fee_below_the_rule_still_builds_and_includes_transactions(
    server, dev_accounts
):
    await call(server, "anvil_setNextBlockBaseFeePerGas", 7)  # anvil takes JSON numbers
    await send(server, hexaddr(dev_accounts[0]))
    await call(server, "evm_mine")
    latest = await block(server)
    assert latest["baseFeePerGas"] == "0x7"
    assert len(latest["transactions"]) == 1


async def test_block_gas_limit_stays_pinned_at_the_new_value(server, dev_accounts):
    assert await call(server, "evm_setBlockGasLimit", "0x2625a00") is True
    info = await call(server, "anvil_nodeInfo")
    assert info["environment"]["gasLimit"] == "0x2625a00"  # as anvil, at once
    await call(server, "evm_mine")
    await call(server, "evm_mine")
    assert (await block(server))["gasLimit"] == "0x2625a00"
    assert await call(server, "anvil_setBlockGasLimit", hex(50_000)) is True  # anvil's alias
    # A transaction above the coming limit is refused at once, as anvil refuses it.
    refused = await error(
        server,
        "eth_sendTransaction",
        {"from": hexaddr(dev_accounts[0]), "to": "0x" + "11" * 20, "gas": hex(60_000)},
    )
    assert "exceeds block gas limit" in refused["message"]
    await send(server, hexaddr(dev_accounts[0]))
    await call(server, "evm_mine")
    latest = await block(server)
    assert latest["gasLimit"] == hex(50_000)
    assert len(latest["transactions"]) == 1
    await call(server, "evm_mine")
    assert (await block(server))["gasLimit"] == hex(50_000)
    too_big = await error(server, "evm_setBlockGasLimit", "0x10000000000000000")
    assert too_big["code"] == -32602


async def test_coinbase_of_every_later_block(server):
    coinbase = "0x" + "11" * 20
    assert await call(server, "anvil_setCoinbase", coinbase) is None
    assert await call(server, "eth_coinbase") == coinbase
    await call(server, "evm_mine")
    assert (await block(server))["miner"] == coinbase
    await call(server, "evm_mine")
    assert (await block(server))["miner"] == coinbase
    # devnet_setNextBlockFields still overrides it for one block.
    other = "0x" + "22" * 20
    await call(server, "devnet_setNextBlockFields", {"coinbase": other})
    await call(server, "evm_mine")
    assert (await block(server))["miner"] == other
    await call(server, "evm_mine")
    assert (await block(server))["miner"] == coinbase


async def test_drop_one_transaction(server, dev_accounts):
    first = await send(server, hexaddr(dev_accounts[0]))
    await send(server, hexaddr(dev_accounts[1]))
    assert await call(server, "anvil_dropTransaction", first) == first
    assert await call(server, "anvil_dropTransaction", first) is None
    assert await call(server, "anvil_dropTransaction", "0x" + "11" * 32) is None
    assert await call(server, "txpool_status") == {"pending": "0x1", "queued": "0x0"}
    assert await call(server, "eth_getTransactionByHash", first) is None
    assert (await error(server, "anvil_dropTransaction", "0x11"))["code"] == -32602


async def test_remove_one_senders_transactions_and_drop_all(server, dev_accounts):
    alice, bob = hexaddr(dev_accounts[0]), hexaddr(dev_accounts[1])
    for value in (1, 2, 3):
        await send(server, alice, value)
    kept = await send(server, bob)
    assert await call(server, "anvil_removePoolTransactions", alice) is None
    assert await call(server, "txpool_status") == {"pending": "0x1", "queued": "0x0"}
    assert await call(server, "eth_getTransactionCount", alice, "pending") == "0x0"
    assert (await call(server, "eth_getTransactionByHash", kept))["hash"] == kept
    assert await call(server, "anvil_removePoolTransactions", "0x" + "09" * 20) is None
    assert await call(server, "anvil_dropAllTransactions") is None
    assert await call(server, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    await call(server, "evm_mine")
    assert (await block(server))["transactions"] == []


async def test_logging_switch(server):
    logger = logging.getLogger("native_devnet")
    logger.setLevel(logging.DEBUG)  # as a verbose node's
    assert await call(server, "anvil_setLoggingEnabled", False) is None
    assert await call(server, "anvil_setLoggingEnabled", False) is None
    assert not logger.isEnabledFor(logging.INFO)
    assert not logging.getLogger("native_devnet.rpc").isEnabledFor(logging.INFO)
    assert logging.getLogger("native_devnet.rpc").isEnabledFor(logging.WARNING)
    assert await call(server, "hardhat_setLoggingEnabled", True) is None
    assert logger.level == logging.DEBUG  # back as it was
    assert (await error(server, "anvil_setLoggingEnabled", "0x1"))["code"] == -32602


async def test_logging_switch_turns_a_silent_nodes_lines_on(server):
    logger = logging.getLogger("native_devnet")
    logger.setLevel(logging.WARNING)  # as --silent leaves the node's lines
    assert await call(server, "anvil_setLoggingEnabled", True) is None
    assert logger.isEnabledFor(logging.INFO)


async def test_min_gas_price_is_refused_as_anvil_refuses_it(server):
    refused = await error(server, "anvil_setMinGasPrice", "0x1")
    assert refused == {
        "code": -32602,
        "message": "anvil_setMinGasPrice is not supported when EIP-1559 is active",
    }


def test_the_new_methods_are_test_node_controls():
    for name in (
        "anvil_setNextBlockBaseFeePerGas",
        "evm_setBlockGasLimit",
        "anvil_setBlockGasLimit",
        "anvil_setCoinbase",
        "anvil_dropTransaction",
        "anvil_dropAllTransactions",
        "anvil_removePoolTransactions",
        "anvil_setLoggingEnabled",
        "anvil_setMinGasPrice",
    ):
        assert is_control(name), name


async def test_sign_transaction_fills_signs_and_does_not_submit(server, dev_accounts):
    alice = dev_accounts[0]
    raw = await call(
        server,
        "eth_signTransaction",
        {"from": hexaddr(alice), "to": "0x" + "11" * 20, "value": "0x1"},
    )
    assert isinstance(raw, str) and raw.startswith("0x02")  # anvil: the raw type-2 tx as hex
    tx = server.devnet.chain.decode_transaction(bytes.fromhex(raw[2:]))
    assert tx.sender == alice.address
    assert (tx.nonce, tx.gas, tx.value, tx.chain_id) == (0, 21_000, 1, 31337)
    assert tx.max_priority_fee_per_gas == GWEI
    assert await call(server, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert await call(server, "eth_sendRawTransaction", raw) == "0x" + tx.hash.hex()


async def test_sign_transaction_needs_a_dev_key(server):
    refused = await error(
        server, "eth_signTransaction", {"from": "0x" + "01" * 20, "to": "0x" + "11" * 20}
    )
    assert refused == {"code": -32602, "message": "No Signer available"}  # anvil's answer
    await call(server, "anvil_impersonateAccount", "0x" + "01" * 20)
    refused = await error(
        server, "eth_signTransaction", {"from": "0x" + "01" * 20, "to": "0x" + "11" * 20}
    )
    assert refused["message"] == "No Signer available"  # impersonation signs nothing


async def test_a_chain_with_chosen_fields_dumps_loads_and_keeps_building(server):
    await call(server, "anvil_setNextBlockBaseFeePerGas", "0x5")
    await call(server, "evm_setBlockGasLimit", "0x2625a00")
    await call(server, "evm_mine")
    dumped = await call(server, "anvil_dumpState")
    await call(server, "evm_mine")
    assert await call(server, "anvil_loadState", dumped) is True
    assert await call(server, "eth_blockNumber") == "0x1"
    await call(server, "evm_mine")
    latest = await block(server)
    assert latest["gasLimit"] == "0x2625a00"
    assert latest["baseFeePerGas"] == "0x5"  # EIP-1559 from 5 wei: an empty block keeps 5


async def test_senders_of_receipts_read_back_from_the_store(server, dev_accounts):
    """An impersonated transaction's receipt names the impersonated account, a signed one its
    signer, also once the receipts cache no longer holds the block (read from the store)."""
    impersonated = "0x" + "01" * 20
    await call(server, "anvil_setBalance", impersonated, hex(10**18))
    await call(server, "anvil_impersonateAccount", impersonated)
    signer = "0x" + dev_accounts[0].address.hex()
    hashes = [
        await call(server, "eth_sendTransaction", {"from": sender, "to": "0x" + "11" * 20})
        for sender in (impersonated, signer)
    ]
    await call(server, "evm_mine")
    server.devnet.chain.receipts.cache = type(server.devnet.chain.receipts.cache)(1)
    await call(server, "evm_mine")  # the cache now holds the later block only
    receipts = [await call(server, "eth_getTransactionReceipt", h) for h in hashes]
    assert [r["from"] for r in receipts] == [impersonated, signer]
    assert [r["blockNumber"] for r in receipts] == ["0x1", "0x1"]
