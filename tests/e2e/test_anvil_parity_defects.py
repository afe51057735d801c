"""Wrong answers found by trying the node side by side with anvil 1.7.1 (issue 11), each
checked on both nodes:

- ``eth_sendTransaction`` with an ``authorizationList`` mines a type-4 (EIP-7702 set-code)
  transaction: the authority's code becomes ``0xef0100 || delegate`` and the call runs the
  delegate's code (it was silently dropped and a type-2 transaction mined).
- ``eth_createAccessList`` keeps the storage slots of every address touched, the recipient's
  included; only address-only entries of the sender, recipient and precompiles are left out.
- The ``pending`` block is head + 1 with the pool's transactions (it was the latest block).
- viem's ``increaseTime`` / ``setNextBlockTimestamp`` then ``mine()`` send
  ``anvil_mine [blocks, interval]``; the interval adds to the clock's offset (it does not
  replace it), and an exact next timestamp still wins.
"""

from __future__ import annotations

import pytest
from eth_account import Account

from tests.procs import NodeProcess, rpc, start_anvil, start_node

pytestmark = pytest.mark.requires_tools("anvil")


@pytest.fixture
def both(tmp_path):
    """A manual-mining anvil and a manual-mining node, stopped by PID at teardown."""
    nodes = [
        start_anvil(["--no-mining"], log_dir=tmp_path),
        start_node(["--no-mining", "--silent"], log_dir=tmp_path),
    ]
    yield nodes
    for node in nodes:
        node.stop()


# Runtime ``PUSH1 0x2a PUSH1 0 SSTORE STOP`` behind an init code that returns it.
STORE_42_INITCODE = "0x6006600c60003960066000f3" + "602a60005500"
AUTHORITY_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # account 1


def delegate_by_send_transaction(node: NodeProcess) -> tuple[dict, dict, str, str, str]:
    """Deploy the delegate, then let dev account 0 send a set-code transaction carrying
    account 1's signed authorization to it; answers (transaction, receipt, authority's code, delegate, authority's slot 0)."""
    sender = node.call("eth_accounts")[0]
    deployed = node.call("eth_sendTransaction", {"from": sender, "data": STORE_42_INITCODE})
    node.call("evm_mine")
    delegate = node.wait_receipt(deployed)["contractAddress"]
    authority = Account.from_key(AUTHORITY_KEY)
    chain_id = int(node.call("eth_chainId"), 16)
    auth = authority.sign_authorization({"chainId": chain_id, "address": delegate, "nonce": 0})
    authorization = {
        "chainId": hex(auth.chain_id),
        "address": "0x" + auth.address.hex(),
        "nonce": hex(auth.nonce),
        "yParity": hex(auth.y_parity),
        "r": hex(auth.r),
        "s": hex(auth.s),
    }
    tx_hash = node.call(
        "eth_sendTransaction",
        {"from": sender, "to": authority.address, "authorizationList": [authorization]},
    )
    node.call("evm_mine")
    receipt = node.wait_receipt(tx_hash)
    tx = node.call("eth_getTransactionByHash", tx_hash)
    code = node.call("eth_getCode", authority.address, "latest")
    slot = node.call("eth_getStorageAt", authority.address, "0x0", "latest")
    return tx, receipt, code, delegate, slot


def test_send_transaction_with_authorization_list_sets_code_as_anvil(both):
    answers = [delegate_by_send_transaction(node) for node in both]
    for tx, receipt, code, delegate, slot in answers:
        assert receipt["status"] == "0x1"
        assert receipt["type"] == tx["type"] == "0x4"
        assert code == "0xef0100" + delegate[2:].lower()
        assert int(slot, 16) == 42  # the call ran the delegate's code in the authority
        assert len(tx["authorizationList"]) == 1
    (anvil_tx, *_), (devnet_tx, *_) = answers
    assert anvil_tx["authorizationList"] == devnet_tx["authorizationList"]
    assert sorted(anvil_tx) == sorted(devnet_tx)


# Runtime ``PUSH1 0 SLOAD STOP``: reads its own slot 0.
READ_OWN_SLOT_INITCODE = "0x6004600c60003960046000f3" + "60005400"


def access_list_of_self_reader(node: NodeProcess) -> dict:
    sender = node.call("eth_accounts")[0]
    deployed = node.call("eth_sendTransaction", {"from": sender, "data": READ_OWN_SLOT_INITCODE})
    node.call("evm_mine")
    reader = node.wait_receipt(deployed)["contractAddress"]
    answer = node.call("eth_createAccessList", {"from": sender, "to": reader}, "latest")
    return {"reader": reader, **answer}


def test_create_access_list_keeps_the_recipients_slots_as_anvil(both):
    anvil, devnet = (access_list_of_self_reader(node) for node in both)
    assert anvil["accessList"] == [{"address": anvil["reader"], "storageKeys": ["0x" + "00" * 32]}]
    assert devnet == anvil


def test_send_transaction_with_authorization_list_needs_to_as_anvil(both):
    for node in both:
        sender = node.call("eth_accounts")[0]
        authorization = {
            "chainId": "0x7a69", "address": "0x" + "11" * 20, "nonce": "0x0",
            "yParity": "0x0", "r": "0x1", "s": "0x1",
        }  # fmt: skip
        answer = rpc(
            node.url,
            "eth_sendTransaction",
            [{"from": sender, "authorizationList": [authorization]}],
        )
        assert answer["error"]["code"] == -32602, answer
        assert '"to"' in answer["error"]["message"], answer


def head_timestamp(node: NodeProcess) -> int:
    return int(node.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def clock_steps(node: NodeProcess) -> list[int]:
    """The timestamp deltas of viem's time-travel-then-mine flows."""
    start = head_timestamp(node)
    node.call("evm_increaseTime", 3600)
    node.call("anvil_mine", "0x1", "0x1")
    after_increase = head_timestamp(node)
    node.call("evm_setNextBlockTimestamp", after_increase + 1000)
    node.call("anvil_mine", "0x1", "0x0")
    after_exact = head_timestamp(node)
    node.call("evm_setNextBlockTimestamp", after_exact + 500)
    node.call("anvil_mine", "0x1", "0x1")
    after_exact_interval = head_timestamp(node)
    return [
        after_increase - start,
        after_exact - after_increase,
        after_exact_interval - after_exact,
    ]


def test_increase_time_then_mine_with_interval_as_anvil(both):
    anvil, devnet = both
    expected = clock_steps(anvil)
    got = clock_steps(devnet)
    assert expected[1:] == [1000, 500]
    assert 3601 <= expected[0] <= 3603
    assert got[1:] == expected[1:]
    assert 3601 <= got[0] <= 3603, got


def pending_view(node: NodeProcess) -> dict:
    sender = node.call("eth_accounts")[0]
    recipient = node.call("eth_accounts")[1]
    hashes = [
        node.call("eth_sendTransaction", {"from": sender, "to": recipient, "value": hex(v)})
        for v in (1, 2)
    ]
    latest = node.call("eth_getBlockByNumber", "latest", False)
    pending = node.call("eth_getBlockByNumber", "pending", False)
    full = node.call("eth_getBlockByNumber", "pending", True)
    return {
        "keys": set(pending) - {"executeGasUsed", "executeBaseFeePerGas"},  # this L1's own
        "number": int(pending["number"], 16) - int(latest["number"], 16),
        "parent": pending["parentHash"] == latest["hash"],
        "transactions": pending["transactions"] == hashes,
        "full": [tx["hash"] for tx in full["transactions"]] == hashes,
        "gasUsed": pending["gasUsed"],
        "count": node.call("eth_getBlockTransactionCountByNumber", "pending"),
        "latest count": node.call("eth_getBlockTransactionCountByNumber", "latest"),
    }


def test_pending_block_is_the_next_block_as_anvil(both):
    anvil, devnet = (pending_view(node) for node in both)
    assert anvil["number"] == 1 and anvil["transactions"] and anvil["count"] == "0x2"
    assert devnet == anvil
