"""State reads at ``pending`` see the pool, side by side with anvil 1.7.1 (issue 11, found by
the viem and ethers suites): with mining off, a 9 wei transfer, an ``increment()`` and a
contract creation wait in the pool, and every state read at ``pending`` answers from the
state after them, as anvil's does, compared field by field. Receipts carry anvil's
``blobGasPrice`` and ``blockTimestamp``.
"""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from tests.procs import NodeProcess, start_anvil, start_node

pytestmark = pytest.mark.requires_tools("anvil")

# A counter: ``increment()`` (0xd09de08a) adds one to slot 0; any other call returns slot 0.
COUNTER_CODE = "60003560e01c8063d09de08a14601b5760005460005260206000f35b60005460010160005500"
SIZE = len(COUNTER_CODE) // 2
INIT_CODE = f"60{SIZE:02x}600c60003960{SIZE:02x}6000f3" + COUNTER_CODE  # returns COUNTER_CODE
COUNTER = "0x00000000000000000000000000000000000c0de0"
RECIPIENT = "0x00000000000000000000000000000000000000b0"
OTHER = "0x00000000000000000000000000000000000000e1"
NUMBER = "0x8381f58a"
INCREMENT = "0xd09de08a"
WORD_0 = "0x" + "00" * 32


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@pytest.fixture
def manual(tmp_path):
    """anvil and the node with mining off, a counter at 42 in each, stopped by PID."""
    nodes = [
        start_anvil(["--no-mining"], log_dir=tmp_path),
        start_node(["--no-mining", "--silent"], tmp_path),
    ]
    try:
        for node in nodes:
            node.call("anvil_setCode", COUNTER, "0x" + COUNTER_CODE)
            node.call("anvil_setStorageAt", COUNTER, WORD_0, word(42))
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def fill_pool(node: NodeProcess) -> str:
    """The transfer, the increment and a creation in the pool; returns the created address."""
    sender = node.call("eth_accounts")[0]
    nonce = int(node.call("eth_getTransactionCount", sender, "latest"), 16)
    node.call("eth_sendTransaction", {"from": sender, "to": RECIPIENT, "value": "0x9"})
    node.call(
        "eth_sendTransaction",
        {"from": sender, "to": COUNTER, "data": INCREMENT, "gas": hex(60_000)},
    )
    node.call("eth_sendTransaction", {"from": sender, "data": "0x" + INIT_CODE, "gas": "0x30d40"})
    created_nonce = nonce + 2  # RLP of a nonce below 128: the byte itself, 0x80 for zero
    rlp_nonce = bytes([created_nonce]) if created_nonce else b"\x80"
    sender_bytes = bytes.fromhex(sender[2:])
    return "0x" + keccak(b"\xd6\x94" + sender_bytes + rlp_nonce)[12:].hex()


def pending_answers(node: NodeProcess, created: str) -> dict:
    sender = node.call("eth_accounts")[0]
    spend = {"from": RECIPIENT, "to": COUNTER, "value": "0x5", "data": NUMBER}
    proof = node.call("eth_getProof", COUNTER, [WORD_0], "pending")
    account = node.call("eth_getAccount", COUNTER, "pending")
    access = node.call("eth_createAccessList", spend, "pending")
    simulated = node.call(
        "eth_simulateV1",
        {"blockStateCalls": [{"calls": [{"to": COUNTER, "data": NUMBER}]}]},
        "pending",
    )
    traced = node.call(
        "debug_traceCall", {"to": COUNTER, "data": NUMBER}, "pending", {"tracer": "callTracer"}
    )
    return {
        "eth_getBalance": node.call("eth_getBalance", RECIPIENT, "pending"),
        "eth_getTransactionCount": node.call("eth_getTransactionCount", sender, "pending"),
        "eth_getStorageAt": node.call("eth_getStorageAt", COUNTER, "0x0", "pending"),
        "eth_getStorageValues": node.call("eth_getStorageValues", {COUNTER: [WORD_0]}, "pending"),
        "eth_getCode": node.call("eth_getCode", created, "pending"),
        "eth_call": node.call("eth_call", {"to": COUNTER, "data": NUMBER}, "pending"),
        "eth_call spending pooled wei": node.call("eth_call", spend, "pending"),
        "eth_estimateGas": node.call(
            "eth_estimateGas", {"from": RECIPIENT, "to": OTHER, "value": "0x5"}, "pending"
        ),
        "eth_createAccessList": (access["accessList"], access["gasUsed"]),
        "eth_getProof": (
            proof["balance"],
            proof["nonce"],
            proof["codeHash"],
            [(s["key"], s["value"]) for s in proof["storageProof"]],
        ),
        "eth_getAccount": (account["balance"], account["nonce"], account["codeHash"]),
        "eth_simulateV1": simulated[0]["calls"][0]["returnData"],
        "debug_traceCall": (traced["output"], traced["to"], traced["type"]),
    }


def test_state_reads_at_pending_answer_as_anvil(manual):
    answers = []
    for node in manual:
        created = fill_pool(node)
        assert node.call("eth_getBalance", RECIPIENT, "latest") == "0x0"
        assert node.call("eth_call", {"to": COUNTER, "data": NUMBER}, "latest") == word(42)
        answers.append(pending_answers(node, created))
    anvil, ours = answers
    for method, theirs in anvil.items():
        assert ours[method] == theirs, method
    # The brief's figures: 9 wei and 43.
    assert ours["eth_getBalance"] == "0x9" and ours["eth_call"] == word(43)
    assert ours["eth_getCode"] == "0x" + COUNTER_CODE


def test_pending_follows_the_pool_and_the_chain_as_anvil(manual):
    """A new transaction, a dropped one and a mined block each move the pending state."""
    answers = []
    for node in manual:
        sender = node.call("eth_accounts")[0]
        seen = []
        node.call("eth_sendTransaction", {"from": sender, "to": RECIPIENT, "value": "0x9"})
        seen.append(node.call("eth_getBalance", RECIPIENT, "pending"))
        second = node.call("eth_sendTransaction", {"from": sender, "to": RECIPIENT, "value": "0x3"})
        seen.append(node.call("eth_getBalance", RECIPIENT, "pending"))
        node.call("anvil_dropTransaction", second)
        seen.append(node.call("eth_getBalance", RECIPIENT, "pending"))
        node.call(
            "eth_sendTransaction", {"from": sender, "to": RECIPIENT, "value": "0x3", "nonce": "0x1"}
        )
        seen.append(node.call("eth_getBalance", RECIPIENT, "pending"))
        node.call("evm_mine")
        seen.append(node.call("eth_getBalance", RECIPIENT, "latest"))
        seen.append(node.call("eth_getBalance", RECIPIENT, "pending"))
        answers.append(seen)
    assert answers[0] == answers[1] == ["0x9", "0xc", "0x9", "0xc", "0xc", "0xc"]


def test_receipts_carry_anvils_blob_gas_price_and_block_timestamp(manual):
    receipts = []
    for node in manual:
        sender = node.call("eth_accounts")[0]
        tx_hash = node.call(
            "eth_sendTransaction", {"from": sender, "to": RECIPIENT, "value": "0x1"}
        )
        node.call("evm_mine")
        block = node.call("eth_getBlockByNumber", "latest", False)
        receipt = node.call("eth_getTransactionReceipt", tx_hash)
        assert receipt == node.call("eth_getBlockReceipts", "latest")[0]
        receipts.append((receipt, block))
    (anvil, anvil_block), (ours, block) = receipts
    assert set(ours) == set(anvil)
    assert ours["blobGasPrice"] == anvil["blobGasPrice"] == "0x1"
    # anvil writes the timestamp as a JSON number; this node as the hex quantity geth (and
    # every other receipt field) uses. Each is its block's timestamp.
    assert anvil["blockTimestamp"] == int(anvil_block["timestamp"], 16)
    assert ours["blockTimestamp"] == block["timestamp"]
