"""The anvil methods added for parity (issue 11), called on anvil 1.7.1 and on this node with
the same arguments, answers compared: ``eth_signTransaction`` gives the same raw bytes for the
same filled fields (same key, deterministic signatures), the pool drops answer alike, and the
chosen base fee, gas limit and coinbase land in the next block and stay as anvil keeps them.
"""

from __future__ import annotations

import pytest

from tests.procs import NodeProcess, rpc, start_anvil, start_node

pytestmark = pytest.mark.requires_tools("anvil")

ALICE = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
BOB = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """A manual-mining anvil and a manual-mining node, stopped by PID at teardown."""
    log_dir = tmp_path_factory.mktemp("logs")
    nodes = [
        start_anvil(["--no-mining"], log_dir=log_dir),
        start_node(["--no-mining", "--silent"], log_dir=log_dir),
    ]
    yield nodes
    for node in nodes:
        node.stop()


def error_of(node: NodeProcess, method: str, *params) -> dict:
    answer = rpc(node.url, method, list(params))
    assert "error" in answer, answer
    return answer["error"]


def test_sign_transaction_gives_anvils_raw_bytes(both):
    filled = {
        "from": ALICE,
        "to": BOB,
        "value": "0x1",
        "nonce": "0x0",
        "gas": "0x5208",
        "maxFeePerGas": "0x77359400",
        "maxPriorityFeePerGas": "0x3b9aca00",
    }
    answers = [node.call("eth_signTransaction", filled) for node in both]
    assert answers[0].startswith("0x02")
    assert answers[0] == answers[1]
    # Filled by each node: a type-2 transaction from the pending nonce with 21 000 gas.
    for node in both:
        raw = node.call("eth_signTransaction", {"from": ALICE, "to": BOB, "value": "0x1"})
        assert raw.startswith("0x02f8")
        assert node.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    errors = [error_of(node, "eth_signTransaction", {"from": "0x" + "01" * 20}) for node in both]
    assert errors[0] == errors[1] == {"code": -32602, "message": "No Signer available"}


def test_pool_drops_answer_as_anvil(both):
    for node in both:
        hashes = [
            node.call("eth_sendTransaction", {"from": ALICE, "to": BOB, "value": hex(v)})
            for v in (1, 2)
        ]
        node.call("eth_sendTransaction", {"from": BOB, "to": ALICE, "value": "0x1"})
        assert node.call("anvil_dropTransaction", hashes[0]) == hashes[0]
        assert node.call("anvil_dropTransaction", "0x" + "11" * 32) is None
        assert node.call("anvil_removePoolTransactions", BOB) is None
        assert node.call("eth_getTransactionByHash", hashes[0]) is None
        assert node.call("anvil_dropAllTransactions") is None
        assert node.call("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    errors = [error_of(node, "anvil_setMinGasPrice", "0x1") for node in both]
    assert errors[0] == errors[1]
    assert [node.call("anvil_setLoggingEnabled", True) for node in both] == [None, None]


def test_next_block_fields_as_anvil(both):
    coinbase = "0x" + "12" * 20
    seen = []
    for node in both:
        assert node.call("anvil_setNextBlockBaseFeePerGas", "0x77359400") is None
        assert node.call("evm_setBlockGasLimit", "0x2625a00") is True
        assert node.call("anvil_setCoinbase", coinbase) is None
        assert node.call("eth_coinbase") == coinbase
        assert node.call("eth_gasPrice") == "0xb2d05e00"
        head = int(node.call("eth_blockNumber"), 16)
        node.call("evm_mine")
        node.call("evm_mine")
        blocks = [node.call("eth_getBlockByNumber", hex(head + n), False) for n in (1, 2)]
        seen.append([(b["baseFeePerGas"], b["gasLimit"], b["miner"]) for b in blocks])
    assert seen[0] == seen[1]
    assert seen[0][0] == ("0x77359400", "0x2625a00", coinbase)
