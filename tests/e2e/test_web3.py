"""web3.py 8 against the node under test, through a plain ``HTTPProvider``.

Covers what a web3.py user does first: connect, read balances, send from an unlocked dev
account, sign locally and ``send_raw_transaction``, deploy and drive the Counter contract,
wait for receipts, query logs (address list + topics, and the contract-event API), batch
requests, full blocks, transactions, fee history, gas estimation and the priority fee.
Every test asserts the exact on-chain effect (balances to the wei, nonces, storage, logs),
cross-checked against raw JSON-RPC where that adds something.

Run against anvil with ``DEVNET_UNDER_TEST=anvil``.
"""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from devtools.contracts import event_topic, load, selector
from tests.procs import DEV_ADDRESSES, DEV_KEYS, DEV_MNEMONIC, NodeProcess, rpc

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337
DEV_BALANCE = 10_000 * 10**18
INCREMENTED_SIG = "Incremented(address,uint256)"
INCREMENTED_TOPIC = "0x38ac789ed44572701765277c4d0970f2db1c1a571ed39e84358095ae4eaa5420"
TOO_LARGE_SELECTOR = "0x677fd0e3"  # TooLarge(uint256,uint256)
ERROR_STRING_SELECTOR = "0x08c379a0"  # Error(string)


def _dev_addresses() -> list[str]:
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address
        for i in range(10)
    ]


ALL_DEV_ADDRESSES = _dev_addresses()


# --------------------------------------------------------------------------- fixtures


def make_w3(node: NodeProcess) -> Web3:
    return Web3(HTTPProvider(node.url, request_kwargs={"timeout": 60}))


@pytest.fixture(scope="module")
def w3(shared_l1) -> Web3:
    return make_w3(shared_l1)


@pytest.fixture(scope="module")
def counter_artifact():
    return load("Counter")


def deploy_counter(w3: Web3, artifact, sender: str, initial: int):
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(initial).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    assert receipt["status"] == 1, receipt
    assert receipt["contractAddress"] is not None
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi), receipt


def fresh_address() -> str:
    return Account.create().address


def address_topic(address: str) -> str:
    return "0x" + address.lower().removeprefix("0x").rjust(64, "0")


def balance_at(w3: Web3, address: str, block: int) -> int:
    return w3.eth.get_balance(address, block_identifier=block)


def next_base_fee(parent_base_fee: int, gas_used: int, gas_limit: int) -> int:
    """EIP-1559 base fee of the block after one with these values (elasticity 2, denom 8)."""
    target = gas_limit // 2
    if gas_used == target:
        return parent_base_fee
    if gas_used > target:
        delta = max(parent_base_fee * (gas_used - target) // target // 8, 1)
        return parent_base_fee + delta
    delta = parent_base_fee * (target - gas_used) // target // 8
    return parent_base_fee - delta


# --------------------------------------------------------------------------- connect / reads


def test_connect(w3, shared_l1):
    assert w3.is_connected()
    assert w3.eth.chain_id == CHAIN_ID
    accounts = w3.eth.accounts
    assert [to_checksum_address(a) for a in accounts] == ALL_DEV_ADDRESSES
    assert ALL_DEV_ADDRESSES[: len(DEV_ADDRESSES)] == DEV_ADDRESSES
    head = w3.eth.block_number
    assert isinstance(head, int) and head >= 0
    assert head == int(rpc(shared_l1.url, "eth_blockNumber")["result"], 16)
    assert isinstance(w3.client_version, str) and w3.client_version


def test_dev_balances_at_genesis(w3):
    for address in ALL_DEV_ADDRESSES:
        assert balance_at(w3, address, 0) == DEV_BALANCE, address
        assert w3.eth.get_transaction_count(address, 0) == 0
    # the last dev account is used by no test in this module: still untouched at the head
    assert w3.eth.get_balance(ALL_DEV_ADDRESSES[9]) == DEV_BALANCE
    assert w3.eth.get_balance(fresh_address()) == 0


# --------------------------------------------------------------------------- transactions


def test_send_transaction_unlocked_exact_balance_deltas(w3):
    sender = ALL_DEV_ADDRESSES[1]
    recipient = fresh_address()
    value = 123_456_789
    nonce_before = w3.eth.get_transaction_count(sender)

    tx_hash = w3.eth.send_transaction({"from": sender, "to": recipient, "value": value})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)

    assert receipt["status"] == 1
    assert receipt["transactionHash"] == tx_hash
    assert receipt["from"] == sender
    assert receipt["to"] == recipient
    assert receipt["gasUsed"] == 21_000
    assert receipt["contractAddress"] is None
    assert receipt["logs"] == []
    block = receipt["blockNumber"]
    cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert balance_at(w3, sender, block - 1) - balance_at(w3, sender, block) == value + cost
    assert balance_at(w3, recipient, block - 1) == 0
    assert balance_at(w3, recipient, block) == value
    assert w3.eth.get_balance(recipient) == value
    assert w3.eth.get_transaction_count(sender) == nonce_before + 1

    # effective gas price = base fee + min(tip, maxFee - base fee) for a 1559 tx
    tx = w3.eth.get_transaction(tx_hash)
    header = w3.eth.get_block(block)
    assert receipt["effectiveGasPrice"] >= header["baseFeePerGas"]
    if tx["type"] == 2:
        tip = min(tx["maxPriorityFeePerGas"], tx["maxFeePerGas"] - header["baseFeePerGas"])
        assert receipt["effectiveGasPrice"] == header["baseFeePerGas"] + tip

    assert tx["hash"] == tx_hash
    assert tx["from"] == sender
    assert tx["to"] == recipient
    assert tx["value"] == value
    assert tx["nonce"] == nonce_before
    assert tx["blockNumber"] == block
    assert tx["blockHash"] == receipt["blockHash"] == header["hash"]
    assert tx["transactionIndex"] == receipt["transactionIndex"]
    assert tx["chainId"] == CHAIN_ID
    assert tx["gas"] >= 21_000


def test_local_key_signing_and_send_raw_transaction(w3):
    account = Account.from_key(DEV_KEYS[2])
    assert account.address == DEV_ADDRESSES[2]
    recipient = fresh_address()
    value = 10**15 + 7
    nonce = w3.eth.get_transaction_count(account.address)
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    tip = w3.eth.max_priority_fee
    tx = {
        "chainId": w3.eth.chain_id,
        "nonce": nonce,
        "to": recipient,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 2 * base_fee + tip,
        "maxPriorityFeePerGas": tip,
        "type": 2,
    }
    signed = Account.sign_transaction(tx, account.key)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == signed.hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    assert receipt["status"] == 1
    block = receipt["blockNumber"]
    cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert receipt["gasUsed"] == 21_000
    assert (
        balance_at(w3, account.address, block - 1) - balance_at(w3, account.address, block)
        == value + cost
    )
    assert w3.eth.get_balance(recipient) == value
    assert w3.eth.get_transaction_count(account.address) == nonce + 1

    # the node reports exactly what was signed
    got = w3.eth.get_transaction(tx_hash)
    assert got["from"] == account.address
    assert got["nonce"] == nonce
    assert got["maxFeePerGas"] == tx["maxFeePerGas"]
    assert got["maxPriorityFeePerGas"] == tip
    assert got["gas"] == 21_000
    # r and s compared as numbers: geth sends quantities, anvil 32-byte words
    assert int.from_bytes(got["r"], "big") == signed.r
    assert int.from_bytes(got["s"], "big") == signed.s
    assert got["type"] == 2


def test_build_transaction_sign_and_send_contract_call(w3, counter_artifact):
    """build_transaction fills gas and fees from the node; the signed call executes."""
    counter, _ = deploy_counter(w3, counter_artifact, ALL_DEV_ADDRESSES[3], 40)
    account = Account.from_key(DEV_KEYS[2])
    nonce = w3.eth.get_transaction_count(account.address)
    tx = counter.functions.increment().build_transaction({"from": account.address, "nonce": nonce})
    assert tx["chainId"] == CHAIN_ID
    assert tx["to"] == counter.address
    assert tx["data"] == selector("increment()")
    assert tx["gas"] > 21_000
    assert tx["maxFeePerGas"] >= tx["maxPriorityFeePerGas"]
    signed = Account.sign_transaction(tx, account.key)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    assert receipt["status"] == 1
    assert receipt["gasUsed"] <= tx["gas"]
    assert counter.functions.number().call() == 41
    assert w3.eth.get_transaction_count(account.address) == nonce + 1
    (event,) = counter.events.Incremented().process_receipt(receipt)
    assert event["args"]["by"] == account.address
    assert event["args"]["value"] == 41


def test_contract_deploy_transact_and_call(w3, counter_artifact):
    sender = ALL_DEV_ADDRESSES[0]
    counter, deploy_receipt = deploy_counter(w3, counter_artifact, sender, 5)
    assert w3.eth.get_code(counter.address).to_0x_hex() == counter_artifact.deployed_bytecode
    assert w3.eth.get_storage_at(counter.address, 0) == (5).to_bytes(32, "big")
    assert counter.functions.number().call() == 5
    assert counter.functions.get().call() == 5
    # a deploy's receipt: to is null, contractAddress is set, no logs
    assert deploy_receipt["to"] is None
    assert deploy_receipt["logs"] == []

    tx_hash = counter.functions.increment().transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    assert receipt["status"] == 1
    assert receipt["to"] == counter.address
    assert counter.functions.number().call() == 6
    # the read at the previous block still sees the old value
    assert counter.functions.number().call(block_identifier=receipt["blockNumber"] - 1) == 5

    (log,) = receipt["logs"]
    assert log["address"] == counter.address
    assert [t.to_0x_hex() for t in log["topics"]] == [INCREMENTED_TOPIC, address_topic(sender)]
    assert int.from_bytes(log["data"], "big") == 6
    assert log["transactionHash"] == tx_hash
    assert log["blockNumber"] == receipt["blockNumber"]
    assert log["blockHash"] == receipt["blockHash"]
    assert log["removed"] is False
    (event,) = counter.events.Incremented().process_receipt(receipt)
    assert event["args"]["by"] == sender
    assert event["args"]["value"] == 6

    # payable entry point moves value into the contract
    deposit = counter.functions.deposit().transact({"from": sender, "value": 1234})
    assert w3.eth.wait_for_transaction_receipt(deposit, timeout=60)["status"] == 1
    assert w3.eth.get_balance(counter.address) == 1234


def test_contract_reverts_surface_as_web3_exceptions(w3, counter_artifact):
    counter, _ = deploy_counter(w3, counter_artifact, ALL_DEV_ADDRESSES[0], 1)
    with pytest.raises(ContractLogicError) as reason:
        counter.functions.failWithReason().call()
    assert reason.value.message == "execution reverted: counter says no"
    assert str(reason.value.data).startswith(ERROR_STRING_SELECTOR)

    with pytest.raises(ContractCustomError) as custom:
        counter.functions.setNumber(2_000_000).call()
    data = custom.value.data
    assert data == (
        TOO_LARGE_SELECTOR
        + (2_000_000).to_bytes(32, "big").hex()
        + (1_000_000).to_bytes(32, "big").hex()
    )
    # estimate_gas reverts the same way; state is untouched
    with pytest.raises(ContractLogicError):
        counter.functions.failWithReason().estimate_gas({"from": ALL_DEV_ADDRESSES[0]})
    assert counter.functions.number().call() == 1


# --------------------------------------------------------------------------- logs


def test_get_logs_address_list_and_topics(w3, counter_artifact):
    alice, bob = ALL_DEV_ADDRESSES[4], ALL_DEV_ADDRESSES[5]
    counter, deploy_receipt = deploy_counter(w3, counter_artifact, alice, 10)
    other, _ = deploy_counter(w3, counter_artifact, alice, 100)
    receipts = []
    for sender, contract in ((alice, counter), (bob, counter), (alice, counter), (bob, other)):
        tx_hash = contract.functions.increment().transact({"from": sender})
        receipts.append(w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60))
    assert all(r["status"] == 1 for r in receipts)
    assert event_topic(INCREMENTED_SIG) == INCREMENTED_TOPIC

    start = deploy_receipt["blockNumber"]
    # address as a list, topic0 only: the three increments of `counter`, in chain order
    logs = w3.eth.get_logs(
        {
            "fromBlock": start,
            "toBlock": "latest",
            "address": [counter.address],
            "topics": [INCREMENTED_TOPIC],
        }
    )
    assert [int.from_bytes(log["data"], "big") for log in logs] == [11, 12, 13]
    assert [log["transactionHash"] for log in logs] == [r["transactionHash"] for r in receipts[:3]]
    assert all(log["address"] == counter.address for log in logs)

    # topic0 + indexed sender: only bob's increment of `counter`
    (bob_log,) = w3.eth.get_logs(
        {
            "fromBlock": start,
            "toBlock": "latest",
            "address": [counter.address],
            "topics": [INCREMENTED_TOPIC, address_topic(bob)],
        }
    )
    assert int.from_bytes(bob_log["data"], "big") == 12
    assert bob_log["transactionHash"] == receipts[1]["transactionHash"]
    assert bob_log["topics"][1].to_0x_hex() == address_topic(bob)

    # a list of two addresses, bob as sender: one log from each contract
    both = w3.eth.get_logs(
        {
            "fromBlock": start,
            "toBlock": "latest",
            "address": [counter.address, other.address],
            "topics": [INCREMENTED_TOPIC, address_topic(bob)],
        }
    )
    assert [(log["address"], int.from_bytes(log["data"], "big")) for log in both] == [
        (counter.address, 12),
        (other.address, 101),
    ]
    # OR within a topic position
    either = w3.eth.get_logs(
        {
            "fromBlock": start,
            "toBlock": "latest",
            "address": counter.address,
            "topics": [None, [address_topic(alice), address_topic(bob)]],
        }
    )
    assert len(either) == 3
    # a range that ends before the increments has nothing
    assert (
        w3.eth.get_logs(
            {
                "fromBlock": start,
                "toBlock": start,
                "address": [counter.address],
            }
        )
        == []
    )

    # the contract-event API (eth_getLogs from block 0, filtered by address)
    events = counter.events.Incremented.get_logs(from_block=0)
    assert [(e["args"]["by"], e["args"]["value"]) for e in events] == [
        (alice, 11),
        (bob, 12),
        (alice, 13),
    ]
    assert [e["blockNumber"] for e in events] == [r["blockNumber"] for r in receipts[:3]]
    filtered = counter.events.Incremented.get_logs(from_block=0, argument_filters={"by": bob})
    assert [e["args"]["value"] for e in filtered] == [12]


# --------------------------------------------------------------------------- batch


def test_batch_requests(w3, counter_artifact):
    counter, receipt = deploy_counter(w3, counter_artifact, ALL_DEV_ADDRESSES[6], 77)
    probe = fresh_address()
    with w3.batch_requests() as batch:
        batch.add(w3.eth.get_block(0))
        batch.add(w3.eth.get_balance(ALL_DEV_ADDRESSES[9]))
        batch.add(w3.eth.get_balance(probe))
        batch.add(w3.eth.get_transaction_count(ALL_DEV_ADDRESSES[6]))
        batch.add(w3.eth.get_transaction_receipt(receipt["transactionHash"]))
        batch.add(counter.functions.number())
        batch.add_mapping({w3.eth.get_code: [counter.address, probe]})
        responses = batch.execute()

    assert len(responses) == 8
    genesis, rich, empty, nonce, batched_receipt, number, code, no_code = responses
    assert genesis["number"] == 0
    assert genesis["hash"] == w3.eth.get_block(0)["hash"]
    assert rich == DEV_BALANCE
    assert empty == 0
    assert nonce == w3.eth.get_transaction_count(ALL_DEV_ADDRESSES[6]) >= 1
    assert batched_receipt["contractAddress"] == counter.address
    assert batched_receipt["blockHash"] == receipt["blockHash"]
    assert number == 77
    assert code.to_0x_hex() == counter_artifact.deployed_bytecode
    assert no_code == b""


# --------------------------------------------------------------------------- blocks


def test_get_block_latest_full_transactions(w3):
    sender = ALL_DEV_ADDRESSES[7]
    recipient = fresh_address()
    tx_hash = w3.eth.send_transaction({"from": sender, "to": recipient, "value": 99})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    number = receipt["blockNumber"]

    block = w3.eth.get_block(number, full_transactions=True)
    parent = w3.eth.get_block(number - 1)
    assert block["number"] == number
    assert block["hash"] == receipt["blockHash"]
    assert block["parentHash"] == parent["hash"]
    # strictly increasing timestamps are checked in test_mining.py (anvil reuses a second)
    assert block["timestamp"] >= parent["timestamp"]
    assert block["gasLimit"] > 0
    assert block["baseFeePerGas"] == next_base_fee(
        parent["baseFeePerGas"], parent["gasUsed"], parent["gasLimit"]
    )
    for key in (
        "stateRoot",
        "transactionsRoot",
        "receiptsRoot",
        "logsBloom",
        "miner",
        "extraData",
        "mixHash",
        "nonce",
        "sha3Uncles",
        "difficulty",
        "size",
        "withdrawals",
        "withdrawalsRoot",
        "blobGasUsed",
        "excessBlobGas",
        "parentBeaconBlockRoot",
        "requestsHash",
        "uncles",
    ):
        assert key in block, key
    assert len(block["hash"]) == 32
    assert block["uncles"] == []
    assert block["withdrawals"] == []

    txs = block["transactions"]
    assert txs, "full_transactions=True must return transaction objects"
    mined = {tx["hash"]: tx for tx in txs}
    assert tx_hash in mined
    full = mined[tx_hash]
    assert full["from"] == sender
    assert full["to"] == recipient
    assert full["value"] == 99
    assert full["blockHash"] == block["hash"]
    assert full["blockNumber"] == number
    assert full["transactionIndex"] == receipt["transactionIndex"]
    assert [tx["transactionIndex"] for tx in txs] == list(range(len(txs)))
    # gasUsed of the block is the sum over its receipts
    total = sum(w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"] for tx in txs)
    assert block["gasUsed"] == total

    # the hash-only form lists the same hashes in the same order; 'latest' is the head
    hashes = w3.eth.get_block(number)["transactions"]
    assert list(hashes) == [tx["hash"] for tx in txs]
    latest = w3.eth.get_block("latest", full_transactions=True)
    assert latest["number"] == w3.eth.block_number >= number
    assert all("hash" in tx and "from" in tx for tx in latest["transactions"])
    assert w3.eth.get_block_transaction_count(number) == len(txs)
    by_hash = w3.eth.get_block(block["hash"])
    assert by_hash["number"] == number


def test_get_transaction_unknown_is_not_found(w3):
    from web3.exceptions import TransactionNotFound

    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction("0x" + "11" * 32)
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction_receipt("0x" + "11" * 32)


# --------------------------------------------------------------------------- fees and gas


def test_fee_history(w3, shared_l1):
    for _ in range(4):  # enough history for a 4-block window on a fresh node
        assert "result" in rpc(shared_l1.url, "evm_mine")
    history = w3.eth.fee_history(4, "latest", [10.0, 50.0])
    head = w3.eth.block_number
    # nothing else mines on this node during the call, so the window ends at the head
    assert history["oldestBlock"] == head - 3
    assert len(history["baseFeePerGas"]) == 5
    assert len(history["gasUsedRatio"]) == 4
    assert len(history["reward"]) == 4
    assert all(len(rewards) == 2 for rewards in history["reward"])
    for i, number in enumerate(range(head - 3, head + 1)):
        block = w3.eth.get_block(number)
        assert history["baseFeePerGas"][i] == block["baseFeePerGas"]
        assert history["gasUsedRatio"][i] == pytest.approx(block["gasUsed"] / block["gasLimit"])
        if not block["transactions"]:
            assert history["reward"][i] == [0, 0]
    last = w3.eth.get_block(head)
    assert history["baseFeePerGas"][4] == next_base_fee(
        last["baseFeePerGas"], last["gasUsed"], last["gasLimit"]
    )


def test_estimate_gas(w3, counter_artifact):
    sender = ALL_DEV_ADDRESSES[8]
    assert w3.eth.estimate_gas({"from": sender, "to": fresh_address(), "value": 1}) == 21_000
    counter, deploy_receipt = deploy_counter(w3, counter_artifact, sender, 3)
    estimate = counter.functions.increment().estimate_gas({"from": sender})
    assert estimate > 21_000
    # the estimate is enough: a tx with exactly that gas succeeds
    tx_hash = counter.functions.increment().transact({"from": sender, "gas": estimate})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    assert receipt["status"] == 1
    assert receipt["gasUsed"] <= estimate
    assert counter.functions.number().call() == 4
    factory = w3.eth.contract(abi=counter_artifact.abi, bytecode=counter_artifact.bytecode)
    deploy_estimate = factory.constructor(3).estimate_gas({"from": sender})
    assert deploy_estimate >= deploy_receipt["gasUsed"]


def test_max_priority_fee_and_gas_price(w3, shared_l1):
    tip = w3.eth.max_priority_fee
    assert isinstance(tip, int) and tip >= 0
    assert tip == int(rpc(shared_l1.url, "eth_maxPriorityFeePerGas")["result"], 16)
    gas_price = w3.eth.gas_price
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    assert gas_price >= base_fee
