"""An aggregate BLS12-381 signature checked by a Solidity contract on the EIP-2537
precompiles, on the node's L1 and L2: ``tests/e2e/bls/BlsAggregate.sol`` hashes the message
to G2 on chain (SHA-256, MODEXP, MAP_FP2_TO_G2, G2ADD), adds the public keys (G1ADD) and
runs PAIRING_CHECK. py_ecc (the IETF BLS signature scheme in pure Python) signs, aggregates
and gives the expected verdicts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from py_ecc.bls import G2ProofOfPossession as scheme
from py_ecc.bls.g2_primitives import pubkey_to_G1, signature_to_G2
from py_ecc.bls.hash_to_curve import hash_to_G2

from tests.procs import DEV_KEYS, NodeProcess, rpc
from tests.unit.curve_inputs import bls_g1, bls_g2

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent / "bls"
DATA = json.loads((HERE / "bls.json").read_text())
DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
MESSAGE = b"native rollups: block 7 is final"
SECRET_KEYS = [0x1F2E3D, 0x4C5B6A7988, 0x123456789ABCDEF]
PRECOMPILE_FAILED = keccak(b"PrecompileFailed(address)")[:4]


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


@pytest.fixture(scope="module")
def signed():
    """Public keys (EIP-2537 G1 encoding), the aggregate signature of MESSAGE by all of
    them and by all but the last (G2 encoding), and py_ecc's verdicts."""
    public = [scheme.SkToPk(k) for k in SECRET_KEYS]
    signatures = [scheme.Sign(k, MESSAGE) for k in SECRET_KEYS]
    everyone, all_but_last = scheme.Aggregate(signatures), scheme.Aggregate(signatures[:-1])
    assert scheme.FastAggregateVerify(public, MESSAGE, everyone)
    assert not scheme.FastAggregateVerify(public, MESSAGE, all_but_last)
    assert not scheme.FastAggregateVerify(public, b"another message", everyone)
    return {
        "keys": [bls_g1(pubkey_to_G1(p)) for p in public],
        "everyone": bls_g2(signature_to_G2(everyone)),
        "all_but_last": bls_g2(signature_to_G2(all_but_last)),
    }


def send(node: NodeProcess, key: str, data: bytes, to: str | None = None) -> dict:
    sender = Account.from_key(key).address
    fields = {
        "chainId": int(node.call("eth_chainId"), 16),
        "nonce": int(node.call("eth_getTransactionCount", sender, "pending"), 16),
        "data": "0x" + data.hex(),
        "gas": 3_000_000,
        "maxFeePerGas": 100 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    if to is not None:
        fields["to"] = to_checksum_address(to)
    raw = Account.sign_transaction(fields, key).raw_transaction
    return node.wait_receipt(node.call("eth_sendRawTransaction", "0x" + bytes(raw).hex()))


def verify_call(keys: list[bytes], message: bytes, signature: bytes) -> bytes:
    return selector("verify(bytes[],bytes,bytes)") + encode(
        ["bytes[]", "bytes", "bytes"], [keys, message, signature]
    )


def eth_call(node: NodeProcess, to: str, data: bytes) -> dict:
    return rpc(node.url, "eth_call", [{"to": to, "data": "0x" + data.hex()}])


def answer(node: NodeProcess, to: str, data: bytes, types: list[str]):
    response = eth_call(node, to, data)
    assert "result" in response, response
    return decode(types, bytes.fromhex(response["result"][2:]))[0]


@pytest.mark.parametrize(
    "flags",
    [(), ("--genesis", "genesis/l2.json", "--accounts", "2", "--balance", "10")],
    ids=["l1", "l2"],
)
def test_an_aggregate_bls_signature_is_checked_on_the_node(node_factory, signed, flags):
    node = node_factory(*flags)
    receipt = send(node, DEV_KEYS[0], bytes.fromhex(DATA["bytecode"]))
    assert receipt["status"] == "0x1"
    contract = receipt["contractAddress"]

    hashed = answer(
        node, contract, selector("hashToG2(bytes)") + encode(["bytes"], [MESSAGE]), ["bytes"]
    )
    assert hashed == bls_g2(hash_to_G2(MESSAGE, DST, scheme.xmd_hash_function))

    keys = signed["keys"]
    assert answer(node, contract, verify_call(keys, MESSAGE, signed["everyone"]), ["bool"])
    assert not answer(node, contract, verify_call(keys, MESSAGE, signed["all_but_last"]), ["bool"])
    assert not answer(
        node, contract, verify_call(keys, b"another message", signed["everyone"]), ["bool"]
    )
    assert not answer(node, contract, verify_call(keys[:-1], MESSAGE, signed["everyone"]), ["bool"])

    # a signature off the curve: PAIRING_CHECK halts, the contract reverts naming it
    bad = signed["everyone"][:-1] + bytes([signed["everyone"][-1] ^ 1])
    response = eth_call(node, contract, verify_call(keys, MESSAGE, bad))
    assert response["error"]["code"] == 3
    assert (
        response["error"]["data"]
        == "0x" + (PRECOMPILE_FAILED + encode(["address"], ["0x" + "00" * 19 + "0f"])).hex()
    )

    # the check in a mined transaction
    receipt = send(node, DEV_KEYS[1], verify_call(keys, MESSAGE, signed["everyone"]), to=contract)
    assert receipt["status"] == "0x1"
    assert int(receipt["gasUsed"], 16) > 37_700 + 2 * 32_600 + 2 * 23_800


@pytest.mark.requires_tools("node", "solcjs")
def test_the_committed_bytecode_is_the_committed_contract_compiled():
    """The bytecode in bls.json is BlsAggregate.sol compiled as generate.py does."""
    spec = importlib.util.spec_from_file_location("generate_bls", HERE / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    assert generate.compile_contract()["bytecode"] == DATA["bytecode"]
