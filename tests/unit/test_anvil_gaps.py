"""anvil's methods served instead of refused, and its answers where ours differed (issue 11),
in process over the JSON-RPC dispatch of a manual-mining devnet. Side by side with a real
anvil: tests/e2e/test_anvil_parity_gaps.py.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from eth_abi import encode

from rpc.eth import MAX_STORAGE_VALUES
from rpc.server import RpcServer

INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
MAX_UINT256 = 2**256 - 1
OTHER = "0x" + "ab" * 20
WORD_0 = "0x" + "00" * 32


async def request(server: RpcServer, method: str, *params) -> dict:
    return await server.handle_one(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )


async def call(server: RpcServer, method: str, *params):
    response = await request(server, method, *params)
    assert "error" not in response, response
    return response["result"]


async def error_of(server: RpcServer, method: str, *params) -> dict:
    response = await request(server, method, *params)
    assert "error" in response, response
    return response["error"]


def address_of(account) -> str:
    return "0x" + account.address.hex()


async def head(server: RpcServer) -> dict:
    return await call(server, "eth_getBlockByNumber", "latest", False)


# -- eth_getBlockReceipts("pending") ------------------------------------------------------


async def test_block_receipts_of_pending_are_null(server, dev_accounts):
    sender = address_of(dev_accounts[0])
    await call(server, "eth_sendTransaction", {"from": sender, "to": OTHER, "value": "0x1"})
    assert await call(server, "eth_getBlockReceipts", "pending") is None  # anvil: null
    assert await call(server, "eth_getBlockReceipts", "latest") == []


# -- gasPrice builds a legacy transaction ---------------------------------------------------


async def test_gas_price_without_access_list_is_a_legacy_transaction(server, dev_accounts):
    sender = address_of(dev_accounts[0])
    base = {"from": sender, "to": OTHER, "value": "0x1", "gas": "0x5208", "nonce": "0x0"}
    price = {"gasPrice": hex(5 * 10**9)}
    legacy = await call(server, "eth_signTransaction", {**base, **price})
    assert int(legacy[2:4], 16) >= 0xC0  # an RLP list: no type byte
    # anvil ignores EIP-1559 fields given with gasPrice: still legacy
    ignored = await call(server, "eth_signTransaction", {**base, **price, "maxFeePerGas": "0x1"})
    assert ignored == legacy
    typed = await call(server, "eth_signTransaction", {**base, **price, "accessList": []})
    assert typed.startswith("0x01")
    dynamic = await call(server, "eth_signTransaction", base)
    assert dynamic.startswith("0x02")

    tx_hash = await call(server, "eth_sendTransaction", {**base, **price})
    pooled = await call(server, "eth_getTransactionByHash", tx_hash)
    assert pooled["type"] == "0x0" and pooled["gasPrice"] == price["gasPrice"]
    assert "accessList" not in pooled and int(pooled["v"], 16) in (2 * 31337 + 35, 2 * 31337 + 36)
    await call(server, "evm_mine")
    receipt = await call(server, "eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1" and receipt["type"] == "0x0"


async def test_impersonated_gas_price_sends_a_legacy_transaction(server):
    await call(server, "anvil_setBalance", OTHER, hex(10**18))
    await call(server, "anvil_impersonateAccount", OTHER)
    tx_hash = await call(
        server,
        "eth_sendTransaction",
        {"from": OTHER, "to": "0x" + "00" * 19 + "01", "value": "0x5", "gasPrice": hex(10**9)},
    )
    await call(server, "evm_mine")
    receipt = await call(server, "eth_getTransactionReceipt", tx_hash)
    tx = await call(server, "eth_getTransactionByHash", tx_hash)
    assert receipt["status"] == "0x1" and receipt["type"] == tx["type"] == "0x0"
    assert receipt["from"] == tx["from"] == OTHER
    assert await call(server, "eth_getTransactionCount", OTHER, "latest") == "0x1"


# -- evm_revert and the next block's chosen fields ----------------------------------------


async def test_revert_takes_the_clock_back_and_drops_chosen_gas_limit_and_timestamp(server):
    await call(server, "evm_mine")
    before = await head(server)
    await call(server, "evm_setBlockGasLimit", hex(20_000_000))
    await call(server, "evm_setNextBlockTimestamp", int(before["timestamp"], 16) + 10**6)
    await call(server, "evm_increaseTime", 10**5)
    snapshot = await call(server, "evm_snapshot")
    assert await call(server, "evm_revert", snapshot) is True
    await call(server, "evm_mine")
    after = await head(server)
    assert after["gasLimit"] == before["gasLimit"]  # the chosen limit is dropped
    # neither the chosen timestamp nor the increase survive: the clock reads the head's time
    assert int(after["timestamp"], 16) - int(before["timestamp"], 16) < 1000


async def test_revert_keeps_the_chosen_base_fee_and_coinbase(server):
    snapshot = await call(server, "evm_snapshot")
    await call(server, "anvil_setNextBlockBaseFeePerGas", hex(12_345))
    await call(server, "anvil_setCoinbase", OTHER)
    assert await call(server, "evm_revert", snapshot) is True
    await call(server, "evm_mine")
    block = await head(server)
    assert block["baseFeePerGas"] == hex(12_345) and block["miner"] == OTHER


async def head_time(server: RpcServer) -> int:
    return int((await head(server))["timestamp"], 16)


async def test_the_clock_continues_from_a_chosen_timestamp_as_anvils(server):
    await call(server, "evm_mine")
    start = await head_time(server)
    await call(server, "evm_setNextBlockTimestamp", start + 10_500)
    await call(server, "evm_mine")
    await call(server, "evm_mine")
    assert 10_500 < await head_time(server) - start < 10_600  # not the wall clock's time
    await call(server, "evm_increaseTime", 3600)
    await call(server, "evm_mine")
    assert await head_time(server) - start >= 14_100  # the increase adds to the chosen time
    # a chosen time behind the clock takes the clock back
    start = await head_time(server)
    await call(server, "evm_increaseTime", 1000)
    await call(server, "evm_setNextBlockTimestamp", start + 5)
    await call(server, "evm_mine")
    await call(server, "evm_mine")
    assert await head_time(server) - start < 100
    # so does evm_mine's timestamp
    start = await head_time(server)
    await call(server, "evm_increaseTime", 1000)
    await call(server, "evm_mine", start + 50)
    await call(server, "evm_mine")
    assert 50 < await head_time(server) - start < 150


async def test_increase_time_answers_a_json_number(server):
    assert await call(server, "evm_increaseTime", 100) == 100
    assert await call(server, "anvil_increaseTime", "0x3c") == 160


# -- anvil_addBalance ---------------------------------------------------------------------


async def test_add_balance_adds_and_saturates(server):
    assert await call(server, "anvil_addBalance", OTHER, "0x10") is None
    assert await call(server, "hardhat_addBalance", OTHER, "0x20") is None
    assert await call(server, "eth_getBalance", OTHER, "latest") == "0x30"
    await call(server, "anvil_addBalance", OTHER, hex(MAX_UINT256))
    assert await call(server, "eth_getBalance", OTHER, "latest") == hex(MAX_UINT256)
    for params in ([OTHER], [OTHER, "0x" + "1" * 65], ["0x12", "0x1"]):
        assert (await error_of(server, "anvil_addBalance", *params))["code"] == INVALID_PARAMS


# -- anvil_metadata, interval mining, genesis time, network id ----------------------------


async def test_metadata_in_anvils_shape(server, devnet):
    first = await call(server, "anvil_metadata")
    assert set(first) == {
        "clientVersion",
        "clientSemver",
        "chainId",
        "instanceId",
        "latestBlockNumber",
        "latestBlockHash",
        "forkedNetwork",
        "snapshots",
    }
    assert first["clientVersion"] == await call(server, "web3_clientVersion")
    assert first["chainId"] == 31337 and first["forkedNetwork"] is None
    assert first["latestBlockNumber"] == 0 and first["snapshots"] == {}
    assert len(bytes.fromhex(first["instanceId"][2:])) == 32
    snapshot = await call(server, "evm_snapshot")
    await call(server, "evm_mine")
    block_1 = await head(server)
    later = await call(server, "hardhat_metadata")
    assert later["instanceId"] == first["instanceId"]
    assert later["latestBlockNumber"] == 1 and later["latestBlockHash"] == block_1["hash"]
    genesis_hash = (await call(server, "eth_getBlockByNumber", "0x0", False))["hash"]
    assert later["snapshots"] == {snapshot: [0, genesis_hash]}
    await call(server, "anvil_reset")
    reset = await call(server, "anvil_metadata")
    assert reset["instanceId"] != first["instanceId"] and reset["snapshots"] == {}


async def test_interval_mining_genesis_time_and_network_id(server, devnet):
    assert await call(server, "anvil_getIntervalMining") is None
    await call(server, "evm_setIntervalMining", 5)
    assert await call(server, "anvil_getIntervalMining") == 5
    await call(server, "evm_setIntervalMining", 0)
    assert await call(server, "anvil_getIntervalMining") is None
    genesis = await call(server, "eth_getBlockByNumber", "0x0", False)
    assert await call(server, "anvil_getGenesisTime") == int(genesis["timestamp"], 16)
    assert await call(server, "eth_networkId") == await call(server, "net_version") == "31337"


# -- anvil_mine_detailed ------------------------------------------------------------------


async def test_mine_detailed_answers_the_mined_blocks_with_transactions(server, dev_accounts):
    sender = address_of(dev_accounts[0])
    tx_hash = await call(server, "eth_sendTransaction", {"from": sender, "to": OTHER})
    mined = await call(server, "anvil_mine_detailed")
    (tx,) = mined[0]["transactions"]
    assert tx["hash"] == tx_hash and tx.pop("output") == "0x"
    assert mined == [await call(server, "eth_getBlockByNumber", "0x1", True)]
    timestamp = int(mined[0]["timestamp"], 16) + 100
    two = await call(server, "evm_mine_detailed", {"timestamp": timestamp, "blocks": 2})
    assert [b["number"] for b in two] == ["0x2", "0x3"]
    assert int(two[0]["timestamp"], 16) == timestamp
    too_many = {"blocks": 10**6}
    assert (await error_of(server, "anvil_mine_detailed", too_many))["code"] == INVALID_PARAMS
    assert (await head(server))["number"] == "0x3"  # refused before mining anything


RETURNS_42 = "0x602a60005260206000f3"  # MSTORE 42 at 0, RETURN 32 bytes
STORE_42_INITCODE = "0x6006600c60003960066000f3" + "602a60005500"  # deploys 602a60005500


def reverts_with(reason: str) -> str:
    """Runtime code reverting with ``Error(reason)`` (the data copied from the code)."""
    data = bytes.fromhex("08c379a0") + encode(["string"], [reason])
    return "0x" + f"60{len(data):02x}600c60003960{len(data):02x}6000fd" + data.hex()


async def test_mine_detailed_gives_each_transactions_output_and_revert_reason(server, dev_accounts):
    sender = address_of(dev_accounts[0])
    returns, reverts = "0x" + "00" * 19 + "a1", "0x" + "00" * 19 + "a2"
    await call(server, "anvil_setCode", returns, RETURNS_42)
    await call(server, "anvil_setCode", reverts, reverts_with("nope"))
    gas = {"from": sender, "gas": hex(100_000)}
    sent = [
        await call(server, "eth_sendTransaction", {**gas, "to": returns}),
        await call(server, "eth_sendTransaction", {**gas, "to": reverts}),
        await call(server, "eth_sendTransaction", {**gas, "data": STORE_42_INITCODE}),
    ]
    (block,) = await call(server, "anvil_mine_detailed")
    by_hash = {tx["hash"]: tx for tx in block["transactions"]}
    assert by_hash[sent[0]]["output"] == "0x" + "00" * 31 + "2a"
    assert "revertReason" not in by_hash[sent[0]]
    assert by_hash[sent[1]]["revertReason"] == "nope"
    error_data = "0x08c379a0" + encode(["string"], ["nope"]).hex()
    assert by_hash[sent[1]]["output"] == error_data
    assert by_hash[sent[2]]["output"] == "0x602a60005500"


# -- eth_getAccount, eth_getStorageValues -------------------------------------------------


async def test_get_account_in_geths_shape(server):
    await call(server, "anvil_setCode", OTHER, "0x6001600055")
    await call(server, "anvil_setStorageAt", OTHER, "0x0", "0x" + "00" * 31 + "07")
    await call(server, "anvil_addBalance", OTHER, "0x5")
    account = await call(server, "eth_getAccount", OTHER, "latest")
    proof = await call(server, "eth_getProof", OTHER, [], "latest")
    assert account == {
        "balance": "0x5",
        "nonce": "0x0",
        "codeHash": proof["codeHash"],
        "storageRoot": proof["storageHash"],
    }
    empty = await call(server, "eth_getAccount", "0x" + "00" * 19 + "99", "latest")
    assert empty["codeHash"] == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert empty["storageRoot"] == (
        "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    )


async def test_get_storage_values_reads_many_slots(server, dev_accounts):
    slot_1 = "0x" + "00" * 31 + "01"
    await call(server, "anvil_setStorageAt", OTHER, slot_1, "0x" + "00" * 31 + "2a")
    sender = address_of(dev_accounts[0])
    answer = await call(
        server,
        "eth_getStorageValues",
        {OTHER.upper().replace("0X", "0x"): [WORD_0, slot_1], sender: []},
    )
    assert answer == {OTHER: [WORD_0, "0x" + "00" * 31 + "2a"], sender: []}
    assert await call(server, "eth_getStorageValues", {}, "latest") == {}


@pytest.mark.parametrize(
    "requests, words",
    [
        ({OTHER: [WORD_0] * (MAX_STORAGE_VALUES + 1)}, "total slot count 1025 exceeds limit 1024"),
        ({"0x" + f"{i:040x}": [] for i in range(MAX_STORAGE_VALUES + 1)}, "accounts exceed"),
        ({OTHER: ["0x0"]}, "want 64"),
        ({OTHER: WORD_0}, "expected a list"),
        ([OTHER], "expected an object"),
        ({"0x12": [WORD_0]}, "requests key"),
    ],
)
async def test_get_storage_values_refuses_bad_and_oversized_requests(server, requests, words):
    error = await error_of(server, "eth_getStorageValues", requests, "latest")
    assert error["code"] == INVALID_PARAMS and words in error["message"]


# -- eth_sendTransactionSync / eth_sendRawTransactionSync ---------------------------------


async def test_sync_send_answers_the_receipt_once_a_block_takes_it(server, dev_accounts):
    sender = address_of(dev_accounts[0])
    waiting = asyncio.create_task(
        request(server, "eth_sendTransactionSync", {"from": sender, "to": OTHER, "value": "0x1"})
    )
    while not waiting.done() and (await call(server, "txpool_status"))["pending"] == "0x0":
        await asyncio.sleep(0.01)
    assert not waiting.done(), waiting.result()
    await call(server, "evm_mine")
    receipt = (await waiting)["result"]
    assert receipt == await call(server, "eth_getTransactionReceipt", receipt["transactionHash"])
    assert receipt["blockNumber"] == "0x1" and receipt["status"] == "0x1"


async def test_sync_send_times_out_with_anvils_error_and_leaves_the_tx_pooled(
    server, dev_accounts, txs
):
    raw = "0x" + txs.dynamic(dev_accounts[1].private_key, 0).encode().hex()
    error = await error_of(server, "eth_sendRawTransactionSync", raw, "0x64")  # 100 ms
    assert error == {"code": INTERNAL_ERROR, "message": "Transaction confirmation timeout"}
    assert (await call(server, "txpool_status"))["pending"] == "0x1"
    bad = await error_of(server, "eth_sendRawTransactionSync", raw, "soon")
    assert bad["code"] == INVALID_PARAMS


async def test_sync_send_signs_with_dev_keys_only_on_a_port_without_controls(devnet):
    public = RpcServer(devnet, controls=False)
    devnet.impersonated.add(bytes.fromhex(OTHER[2:]))
    error = await error_of(public, "eth_sendTransactionSync", {"from": OTHER, "to": OTHER}, "0x64")
    assert error["code"] == INVALID_PARAMS and "no key for" in error["message"]


async def test_the_new_reads_are_served_on_a_port_without_controls(devnet):
    public = RpcServer(devnet, controls=False)
    for method in ("anvil_metadata", "hardhat_metadata", "anvil_getGenesisTime"):
        assert "result" in await request(public, method), method
    assert await call(public, "anvil_getIntervalMining") is None
    refused = await error_of(public, "anvil_addBalance", OTHER, "0x1")  # a control
    assert "not available on this port" in refused["message"]


async def test_a_refused_sync_send_is_logged_with_its_reason(server, dev_accounts, txs, caplog):
    stale = txs.dynamic(dev_accounts[2].private_key, 0, max_fee=1, tip=1)  # below the base fee
    with caplog.at_level(logging.INFO, logger="native_devnet"):
        error = await error_of(server, "eth_sendRawTransactionSync", "0x" + stale.encode().hex())
    assert "max fee per gas less than block base fee" in error["message"]
    assert any(
        "eth_sendRawTransactionSync rejected: max fee per gas" in r.getMessage()
        for r in caplog.records
    )


async def test_chosen_timestamps_wait_with_one_listener_at_most(server, devnet):
    listeners = len(devnet.listeners)
    start = await head_time(server)
    for offset in range(1, 50):
        await call(server, "evm_setNextBlockTimestamp", start + 1000 + offset)
    assert len(devnet.listeners) == listeners + 1
    await call(server, "evm_mine")
    assert await head_time(server) == start + 1049
    assert len(devnet.listeners) == listeners
