"""``txpool_*`` under ``--no-mining`` and signing with dev accounts, checked against anvil.

The pool: a ready transaction (pending), a future-nonce one (queued) and a contract creation,
in geth's shapes (checksummed senders, decimal nonces, transaction objects as
``eth_getTransactionByHash`` serves them, geth's one-line summaries), then what mining moves.
Signing: ``eth_sign``, ``personal_sign`` and ``eth_signTypedData_v4`` recover to the dev
address and equal, byte for byte, what anvil (started here with the same dev keys) answers.
"""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from tests.procs import DEV_ADDRESSES, DEV_KEYS, NodeProcess, rpc, start_anvil

pytestmark = pytest.mark.e2e

MAX_FEE = 2_000_000_000
SENDER, OTHER, DEPLOYER = DEV_ADDRESSES[0], DEV_ADDRESSES[1], DEV_ADDRESSES[2]

MAIL = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person"},
            {"name": "contents", "type": "string"},
            {"name": "tags", "type": "string[]"},
            {"name": "amount", "type": "uint256"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Ether Mail",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
        "contents": "Hello, Bob!",
        "tags": ["greeting", "mail"],
        "amount": "0x2a",
    },
}


def call(node_url: str, method: str, *params):
    reply = rpc(node_url, method, list(params))
    assert "error" not in reply, (method, reply)
    return reply["result"]


@pytest.fixture(scope="module")
def anvil_url(tmp_path_factory):
    """anvil on a free port with the same mnemonic (its default), stopped by PID."""
    node = start_anvil([], log_dir=tmp_path_factory.mktemp("anvil"))
    try:
        yield node.url
    finally:
        node.stop()


# -- txpool ---------------------------------------------------------------------------------


@pytest.fixture
def pool_node(node_factory) -> NodeProcess:
    return node_factory("--no-mining")


def send(node: NodeProcess, **fields) -> str:
    tx = {"gas": "0x5208", "maxFeePerGas": hex(MAX_FEE), "maxPriorityFeePerGas": "0x1", **fields}
    return call(node.url, "eth_sendTransaction", tx)


def test_txpool_pending_and_queued(pool_node):
    url = pool_node.url
    assert call(url, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert call(url, "txpool_content") == {"pending": {}, "queued": {}}

    ready = send(pool_node, **{"from": SENDER, "to": OTHER, "value": "0x3039", "nonce": "0x0"})
    future = send(pool_node, **{"from": SENDER, "to": OTHER, "value": "0x1", "nonce": "0x2"})
    creation = send(pool_node, **{"from": DEPLOYER, "data": "0x6000", "gas": "0x10000"})

    assert call(url, "txpool_status") == {"pending": "0x2", "queued": "0x1"}
    content = call(url, "txpool_content")
    by_hash = {h: call(url, "eth_getTransactionByHash", h) for h in (ready, future, creation)}
    assert content == {
        "pending": {SENDER: {"0": by_hash[ready]}, DEPLOYER: {"0": by_hash[creation]}},
        "queued": {SENDER: {"2": by_hash[future]}},
    }
    assert content["queued"][SENDER]["2"]["blockHash"] is None
    assert call(url, "txpool_contentFrom", SENDER.lower()) == {
        "pending": {"0": by_hash[ready]},
        "queued": {"2": by_hash[future]},
    }
    assert call(url, "txpool_inspect") == {
        "pending": {
            SENDER: {"0": f"{OTHER}: 12345 wei + 21000 gas × {MAX_FEE} wei"},
            DEPLOYER: {"0": f"contract creation: 0 wei + 65536 gas × {MAX_FEE} wei"},
        },
        "queued": {SENDER: {"2": f"{OTHER}: 1 wei + 21000 gas × {MAX_FEE} wei"}},
    }

    call(url, "evm_mine")  # mines nonce 0 of both senders; nonce 2 still waits for 1
    assert call(url, "txpool_status") == {"pending": "0x0", "queued": "0x1"}
    gap = send(pool_node, **{"from": SENDER, "to": OTHER, "value": "0x2", "nonce": "0x1"})
    assert call(url, "txpool_status") == {"pending": "0x2", "queued": "0x0"}
    assert list(call(url, "txpool_content")["pending"][SENDER]) == ["1", "2"]
    call(url, "evm_mine")
    assert call(url, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    assert call(url, "eth_getTransactionReceipt", gap)["status"] == "0x1"


# -- signing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["0xdeadbeef", "0x", "0x" + "68656c6c6f20776f726c64", "0x" + bytes(range(256)).hex()],
)
def test_eth_sign_and_personal_sign_match_anvil(shared_l1, anvil_url, message):
    for address in (DEV_ADDRESSES[0], DEV_ADDRESSES[3].lower()):
        ours = call(shared_l1.url, "eth_sign", address, message)
        assert ours == call(anvil_url, "eth_sign", address, message)
        assert call(shared_l1.url, "personal_sign", message, address) == ours
        assert call(anvil_url, "personal_sign", message, address) == ours

        signature = bytes.fromhex(ours[2:])
        assert len(signature) == 65 and signature[64] in (27, 28)
        signable = encode_defunct(hexstr=message)
        assert Account.recover_message(signable, signature=signature).lower() == address.lower()


def test_personal_sign_plain_text_is_utf8(shared_l1):
    text = call(shared_l1.url, "personal_sign", "hello world", DEV_ADDRESSES[0])
    assert text == call(
        shared_l1.url, "personal_sign", "0x68656c6c6f20776f726c64", DEV_ADDRESSES[0]
    )
    expected = Account.sign_message(encode_defunct(text="hello world"), DEV_KEYS[0]).signature
    assert text == expected.to_0x_hex()


def test_sign_typed_data_v4_matches_anvil(shared_l1, anvil_url):
    ours = call(shared_l1.url, "eth_signTypedData_v4", DEV_ADDRESSES[0], MAIL)
    assert ours == call(anvil_url, "eth_signTypedData_v4", DEV_ADDRESSES[0], MAIL)
    as_string = call(shared_l1.url, "eth_signTypedData_v4", DEV_ADDRESSES[0], json.dumps(MAIL))
    assert as_string == ours
    signature = bytes.fromhex(ours[2:])
    assert len(signature) == 65 and signature[64] in (27, 28)
    recovered = Account.recover_message(encode_typed_data(full_message=MAIL), signature=signature)
    assert recovered == DEV_ADDRESSES[0]


def test_signing_needs_a_dev_account(shared_l1):
    stranger = Account.create().address
    for method, params in (
        ("eth_sign", [stranger, "0x00"]),
        ("personal_sign", ["0x00", stranger]),
        ("eth_signTypedData_v4", [stranger, MAIL]),
    ):
        reply = rpc(shared_l1.url, method, params)
        assert reply["error"] == {"code": -32000, "message": "unknown account"}, method
    reply = rpc(shared_l1.url, "eth_signTypedData_v4", [DEV_ADDRESSES[0], {"types": 1}])
    assert reply["error"]["code"] == -32602
    reply = rpc(shared_l1.url, "eth_sign", [DEV_ADDRESSES[0], "0xzz"])
    assert reply["error"]["code"] == -32602
