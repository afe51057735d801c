"""anvil's methods native-devnet now serves, and answers that differed, each checked side by
side with anvil 1.7.1 and compared field by field (issue 11):

- ``eth_getBlockReceipts("pending")`` is null.
- ``eth_sendTransaction``/``eth_signTransaction`` with ``gasPrice`` and no ``accessList``
  build a legacy (type 0) transaction, byte for byte anvil's; with ``accessList``, type 1.
- ``evm_revert`` and the next block's chosen fields: the clock goes back to the snapshot
  head's time, a chosen gas limit and next timestamp are dropped, a chosen base fee and the
  coinbase stay (what anvil does, probed field by field).
- ``anvil_addBalance``/``hardhat_addBalance``, ``anvil_metadata``/``hardhat_metadata``,
  ``anvil_getIntervalMining``, ``anvil_mine_detailed``/``evm_mine_detailed``,
  ``anvil_getGenesisTime``, ``eth_networkId``, ``eth_getAccount``, ``eth_getStorageValues``,
  ``eth_sendTransactionSync``/``eth_sendRawTransactionSync`` (EIP-7966).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address

from tests.procs import NodeProcess, rpc, sign_transfer, start_anvil, start_node

pytestmark = pytest.mark.requires_tools("anvil")

KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # dev account 1
OTHER = "0x00000000000000000000000000000000000000ab"
COINBASE = "0x00000000000000000000000000000000000000cc"
WORD_0 = "0x" + "00" * 32
# Block fields only native-devnet has (its EXECUTE market); everything else is anvil's.
OWN_BLOCK_FIELDS = {"executeBaseFeePerGas", "executeGasUsed"}


def start_both(tmp_path, *flags: str) -> list[NodeProcess]:
    return [start_anvil(list(flags), log_dir=tmp_path), start_node([*flags, "--silent"], tmp_path)]


@pytest.fixture
def manual(tmp_path):
    """A manual-mining anvil and node, stopped by PID at teardown."""
    nodes = start_both(tmp_path, "--no-mining")
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture
def automine(tmp_path):
    nodes = start_both(tmp_path)
    yield nodes
    for node in nodes:
        node.stop()


def error_of(node: NodeProcess, method: str, *params) -> dict:
    response = rpc(node.url, method, list(params))
    assert "error" in response, response
    return response["error"]


def head(node: NodeProcess, full: bool = False) -> dict:
    return node.call("eth_getBlockByNumber", "latest", full)


def sender(node: NodeProcess) -> str:
    return node.call("eth_accounts")[0]


# -- pending receipts ---------------------------------------------------------------------


def test_block_receipts_of_pending_are_null_as_anvil(manual):
    for node in manual:
        node.call("eth_sendTransaction", {"from": sender(node), "to": OTHER, "value": "0x1"})
        assert node.call("eth_getBlockReceipts", "pending") is None
        assert node.call("eth_getBlockReceipts", "latest") == []


# -- gasPrice: legacy transactions --------------------------------------------------------


def test_gas_price_builds_anvils_legacy_transaction(automine):
    answers = []
    for node in automine:
        base = {"from": sender(node), "to": OTHER, "value": "0x1"}
        price = {"gasPrice": hex(3 * 10**9)}
        legacy = node.call("eth_sendTransaction", {**base, **price})
        ignored = node.call("eth_sendTransaction", {**base, **price, "maxFeePerGas": "0x1"})
        typed = node.call("eth_sendTransaction", {**base, **price, "accessList": []})
        signed = node.call(
            "eth_signTransaction", {**base, **price, "gas": "0x5208", "nonce": "0x9"}
        )
        txs = [node.call("eth_getTransactionByHash", h) for h in (legacy, ignored, typed)]
        raw = node.call("eth_getRawTransactionByHash", legacy)
        receipt = node.wait_receipt(legacy)
        node.call("anvil_setBalance", OTHER, hex(10**18))
        node.call("anvil_impersonateAccount", OTHER)
        impersonated = node.call("eth_sendTransaction", {**base, **price, "from": OTHER})
        impersonated_receipt = node.wait_receipt(impersonated)
        assert impersonated_receipt["type"] == "0x0" and impersonated_receipt["from"] == OTHER
        answers.append((txs, raw, signed, receipt))
    (anvil_txs, anvil_raw, anvil_signed, anvil_receipt), (txs, raw, signed, receipt) = answers
    assert [t["type"] for t in anvil_txs] == [t["type"] for t in txs] == ["0x0", "0x0", "0x1"]
    # the same key, nonce, price, gas and chain: the same bytes and hash
    assert raw == anvil_raw and signed == anvil_signed
    assert txs[0]["hash"] == anvil_txs[0]["hash"]
    chain_free = {"blockHash", "blockNumber", "blockTimestamp"}
    for ours, theirs in zip(txs[:2], anvil_txs[:2], strict=True):
        assert set(ours) == set(theirs)
        for key in set(ours) - chain_free:
            assert ours[key] == theirs[key], key
    assert receipt["type"] == anvil_receipt["type"] == "0x0"
    assert receipt["effectiveGasPrice"] == anvil_receipt["effectiveGasPrice"] == hex(3 * 10**9)


# -- evm_revert and the next block's chosen fields ----------------------------------------


def mine_after_revert(node: NodeProcess, before_snapshot, after_snapshot) -> tuple[dict, dict]:
    """(head at the snapshot, the block mined after reverting to it)."""
    node.call("evm_mine")
    before_snapshot(node)
    snapshot = node.call("evm_snapshot")
    at_snapshot = head(node)
    after_snapshot(node)
    assert node.call("evm_revert", snapshot) is True
    node.call("evm_mine")
    return at_snapshot, head(node)


def nothing(node: NodeProcess) -> None:
    pass


def test_revert_drops_a_chosen_gas_limit_as_anvil(manual):
    for node in manual:
        at_snapshot, mined = mine_after_revert(
            node, lambda n: n.call("evm_setBlockGasLimit", hex(20_000_000)), nothing
        )
        assert mined["gasLimit"] == at_snapshot["gasLimit"] != hex(20_000_000)


def test_revert_drops_a_chosen_timestamp_and_takes_the_clock_back_as_anvil(manual):
    for node in manual:
        far = int(head(node)["timestamp"], 16) + 10**6
        at_snapshot, mined = mine_after_revert(
            node, lambda n, far=far: n.call("evm_setNextBlockTimestamp", far), nothing
        )
        assert int(mined["timestamp"], 16) - int(at_snapshot["timestamp"], 16) < 1000
        at_snapshot, mined = mine_after_revert(
            node, lambda n: n.call("evm_increaseTime", 10**5), nothing
        )
        assert int(mined["timestamp"], 16) - int(at_snapshot["timestamp"], 16) < 1000
        at_snapshot, mined = mine_after_revert(
            node, nothing, lambda n: n.call("evm_increaseTime", 10**5)
        )
        assert int(mined["timestamp"], 16) - int(at_snapshot["timestamp"], 16) < 1000


def test_the_clock_continues_from_a_chosen_timestamp_as_anvil(manual):
    """viem's setNextBlockTimestamp, then increaseTime and mine: the increase counts from the
    chosen time; a chosen time behind the clock (evm_setNextBlockTimestamp or evm_mine's)
    takes the clock back."""
    for node in manual:
        node.call("evm_mine")
        start = int(head(node)["timestamp"], 16)
        node.call("evm_setNextBlockTimestamp", start + 10_500)
        node.call("evm_mine")
        node.call("evm_increaseTime", 3600)
        node.call("evm_mine")
        assert 14_100 <= int(head(node)["timestamp"], 16) - start < 14_200
        for choose in ("evm_setNextBlockTimestamp", "evm_mine"):
            start = int(head(node)["timestamp"], 16)
            node.call("evm_increaseTime", 1000)
            node.call(choose, start + 5)
            if choose == "evm_setNextBlockTimestamp":
                node.call("evm_mine")
            node.call("evm_mine")
            assert int(head(node)["timestamp"], 16) - start < 100, choose


def test_revert_keeps_a_chosen_base_fee_and_the_coinbase_as_anvil(manual):
    def choose(node: NodeProcess) -> None:
        node.call("anvil_setNextBlockBaseFeePerGas", hex(54_321))
        node.call("anvil_setCoinbase", COINBASE)

    for node in manual:
        _, mined = mine_after_revert(node, nothing, choose)
        assert mined["baseFeePerGas"] == hex(54_321) and mined["miner"] == COINBASE


# -- anvil_addBalance, anvil_metadata, interval mining, genesis time, network id ----------


def test_add_balance_as_anvil(automine):
    answers = []
    for node in automine:
        results = [node.call("anvil_addBalance", OTHER, "0x10")]
        results.append(node.call("hardhat_addBalance", OTHER, "0x20"))
        results.append(node.call("eth_getBalance", OTHER, "latest"))
        node.call("anvil_addBalance", OTHER, "0x" + "ff" * 32)
        results.append(node.call("eth_getBalance", OTHER, "latest"))
        results.append(error_of(node, "anvil_addBalance", OTHER)["code"])
        answers.append(results)
    assert answers[0] == answers[1] == [None, None, "0x30", "0x" + "ff" * 32, -32602]


def test_metadata_as_anvil(manual):
    answers = []
    for node in manual:
        first_snapshot = node.call("evm_snapshot")
        node.call("evm_mine")
        second_snapshot = node.call("evm_snapshot")
        meta = node.call("anvil_metadata")
        assert node.call("hardhat_metadata") == meta
        genesis = node.call("eth_getBlockByNumber", "0x0", False)
        block_1 = head(node)
        assert meta["snapshots"] == {
            first_snapshot: [0, genesis["hash"]],
            second_snapshot: [1, block_1["hash"]],
        }
        assert meta["latestBlockNumber"] == 1 and meta["latestBlockHash"] == block_1["hash"]
        assert meta["chainId"] == 31337 and meta["forkedNetwork"] is None
        assert meta["clientVersion"] == node.call("web3_clientVersion")
        node.call("anvil_reset")
        assert node.call("anvil_metadata")["instanceId"] != meta["instanceId"]
        answers.append(meta)
    anvil_meta, meta = answers
    # anvil's clientCommitSha names its git build; a checkout of this node need not be one
    assert set(anvil_meta) - set(meta) == {"clientCommitSha"} and set(meta) <= set(anvil_meta)
    for key in meta:
        assert type(meta[key]) is type(anvil_meta[key]), key
    assert len(meta["instanceId"]) == len(anvil_meta["instanceId"]) == 66


def test_interval_mining_genesis_time_and_network_id_as_anvil(automine):
    answers = []
    for node in automine:
        results = [node.call("anvil_getIntervalMining")]
        node.call("evm_setIntervalMining", 5)
        results.append(node.call("anvil_getIntervalMining"))
        node.call("evm_setIntervalMining", 0)
        results.append(node.call("anvil_getIntervalMining"))
        genesis_time = int(node.call("eth_getBlockByNumber", "0x0", False)["timestamp"], 16)
        assert node.call("anvil_getGenesisTime") == genesis_time
        results.append(node.call("eth_networkId"))
        results.append(node.call("net_version"))
        answers.append(results)
    assert answers[0] == answers[1] == [None, 5, None, "31337", "31337"]


# -- anvil_mine_detailed ------------------------------------------------------------------


RETURNS_42 = "0x602a60005260206000f3"  # MSTORE 42 at 0, RETURN 32 bytes
STORE_42_INITCODE = "0x6006600c60003960066000f3" + "602a60005500"  # deploys 602a60005500


def reverts_with(reason: str) -> str:
    """Runtime code reverting with ``Error(reason)`` (the data copied from the code)."""
    data = bytes.fromhex("08c379a0") + encode(["string"], [reason])
    return "0x" + f"60{len(data):02x}600c60003960{len(data):02x}6000fd" + data.hex()


def test_mine_detailed_as_anvil(manual):
    answers = []
    for node in manual:
        dev = sender(node)
        returns, reverts = "0x" + "00" * 19 + "a1", "0x" + "00" * 19 + "a2"
        node.call("anvil_setCode", returns, RETURNS_42)
        node.call("anvil_setCode", reverts, reverts_with("nope"))
        gas = {"from": dev, "gas": hex(100_000)}
        sent = [
            node.call("eth_sendTransaction", {**gas, "to": returns}),
            node.call("eth_sendTransaction", {**gas, "to": reverts}),
            node.call("eth_sendTransaction", {**gas, "data": STORE_42_INITCODE}),
            node.call("eth_sendTransaction", {**gas, "to": OTHER, "value": "0x1"}),
        ]
        (block,) = node.call("anvil_mine_detailed")
        by_hash = {tx["hash"]: tx for tx in block["transactions"]}
        detail = [
            {k: by_hash[h].pop(k) for k in ("output", "revertReason") if k in by_hash[h]}
            for h in sent
        ]
        assert block == node.call("eth_getBlockByNumber", "0x1", True)
        timestamp = int(block["timestamp"], 16) + 100
        two = node.call("evm_mine_detailed", {"timestamp": timestamp, "blocks": 2})
        assert [b["number"] for b in two] == ["0x2", "0x3"]
        assert int(two[0]["timestamp"], 16) == timestamp
        answers.append((block, detail, [by_hash[h] for h in sent]))
    (anvil_block, anvil_detail, anvil_txs), (block, detail, txs) = answers
    assert detail == anvil_detail
    assert detail[0] == {"output": "0x" + "00" * 31 + "2a"}
    assert detail[1]["revertReason"] == "nope" and detail[2] == {"output": "0x602a60005500"}
    assert set(block) - OWN_BLOCK_FIELDS == set(anvil_block)
    for tx, anvil_tx in zip(txs, anvil_txs, strict=True):
        assert set(tx) == set(anvil_tx)
        for key in ("type", "chainId", "nonce", "to", "value", "input", "from", "accessList"):
            assert tx[key] == anvil_tx[key], key


# -- eth_getAccount, eth_getStorageValues -------------------------------------------------


def test_get_account_as_anvil(automine):
    answers = []
    for node in automine:
        node.call("anvil_setCode", OTHER, "0x6001600055")
        node.call("anvil_setStorageAt", OTHER, "0x0", "0x" + "00" * 31 + "07")
        node.call("anvil_setBalance", OTHER, "0x5")
        node.call("anvil_setNonce", OTHER, "0x3")
        answers.append(
            [
                node.call("eth_getAccount", OTHER, "latest"),
                node.call("eth_getAccount", "0x" + "00" * 19 + "99", "latest"),
            ]
        )
    assert answers[0] == answers[1]
    assert set(answers[1][0]) == {"balance", "nonce", "codeHash", "storageRoot"}


def test_get_storage_values_as_anvil(automine):
    slot_1 = "0x" + "00" * 31 + "01"
    answers = []
    for node in automine:
        node.call("anvil_setStorageAt", OTHER, slot_1, "0x" + "00" * 31 + "2a")
        dev = sender(node)
        answers.append(
            [
                node.call(
                    "eth_getStorageValues",
                    {OTHER: [WORD_0, slot_1, WORD_0], dev: [slot_1], COINBASE: []},
                    "latest",
                ),
                node.call("eth_getStorageValues", {}, "latest"),
                error_of(node, "eth_getStorageValues", {OTHER: [WORD_0] * 1025}, "latest"),
                error_of(node, "eth_getStorageValues", {OTHER: ["0x00"]}, "latest")["code"],
                error_of(node, "eth_getStorageValues", [OTHER], "latest")["code"],
            ]
        )
    assert answers[0] == answers[1]
    assert answers[1][0][OTHER] == [WORD_0, "0x" + "00" * 31 + "2a", WORD_0]
    assert answers[1][2] == {"code": -32602, "message": "total slot count 1025 exceeds limit 1024"}


# -- eth_sendTransactionSync, eth_sendRawTransactionSync ----------------------------------


def test_sync_sends_answer_the_receipt_as_anvil(automine):
    answers = []
    for node in automine:
        receipt = node.call(
            "eth_sendTransactionSync", {"from": sender(node), "to": OTHER, "value": "0x1"}
        )
        assert receipt == node.call("eth_getTransactionReceipt", receipt["transactionHash"])
        raw, tx_hash = sign_transfer(KEY_1, 0, to_checksum_address(OTHER), 1)
        raw_receipt = node.call("eth_sendRawTransactionSync", raw)
        assert raw_receipt["transactionHash"] == tx_hash and raw_receipt["status"] == "0x1"
        answers.append((receipt, raw_receipt))
    (anvil_receipt, anvil_raw), (receipt, raw_receipt) = answers
    for ours, theirs in ((receipt, anvil_receipt), (raw_receipt, anvil_raw)):
        # the Sync answer is each node's own receipt, with anvil's keys (blobGasPrice and
        # blockTimestamp included: tests/e2e/test_pending_state.py compares their values)
        assert set(theirs) == set(ours)
        for key in ("type", "status", "from", "to", "gasUsed", "logs", "contractAddress"):
            assert ours[key] == theirs[key], key
    assert raw_receipt["transactionHash"] == anvil_raw["transactionHash"]


def test_sync_send_under_manual_mining_times_out_as_anvil(manual):
    """No block comes: anvil's error after its 30 s wait (both wait it, side by side), and
    the transaction stays in the pool."""

    def send(node: NodeProcess) -> dict:
        payload = {"from": sender(node), "to": OTHER, "value": "0x1"}
        return rpc(node.url, "eth_sendTransactionSync", [payload], timeout=90)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(send, manual))
    assert answers[0]["error"] == answers[1]["error"]
    assert answers[1]["error"] == {"code": -32603, "message": "Transaction confirmation timeout"}
    for node in manual:
        assert node.call("txpool_status")["pending"] == "0x1"


def test_sync_send_under_manual_mining_answers_once_mined_as_anvil(manual):
    def send(node: NodeProcess) -> dict:
        raw, _ = sign_transfer(KEY_1, 0, to_checksum_address(OTHER), 1)
        return rpc(node.url, "eth_sendRawTransactionSync", [raw], timeout=90)

    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(send, node) for node in manual]
        for node, future in zip(manual, waiting, strict=True):
            while node.call("txpool_status")["pending"] == "0x0" and not future.done():
                time.sleep(0.01)
            assert not future.done(), future.result()
            node.call("evm_mine")
        answers = [future.result()["result"] for future in waiting]
    for node, receipt in zip(manual, answers, strict=True):
        assert receipt == node.call("eth_getTransactionReceipt", receipt["transactionHash"])
        assert receipt["blockNumber"] == "0x1"
    assert set(answers[0]) == set(answers[1])
