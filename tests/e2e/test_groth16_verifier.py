"""A real Groth16 proof verified on BN254 by its generated Solidity verifier, on the node's
L1 and L2 (the verifier calls ecadd, ecmul and ecpairing at 0x06-0x08, now native).

The data in ``tests/e2e/groth16/`` was generated once (``generate.py`` says how): a proof
that the prover knows a, b (neither 1) with a * b = 33, its verifying key, and the
verifier's bytecode. py_ecc checks the same proof against the same key in pure Python, so
the on-chain verdicts are compared with an independent oracle.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from py_ecc import optimized_bn128 as bn

from tests.procs import DEV_KEYS, ROOT, NodeProcess, require_tool, rpc

pytestmark = pytest.mark.e2e

DATA = json.loads((Path(__file__).parent / "groth16" / "groth16.json").read_text())
SIGNATURE = "verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[1])"
TYPES = ["uint256[2]", "uint256[2][2]", "uint256[2]", "uint256[1]"]


def calldata(a, b, c, public: int) -> str:
    return "0x" + (keccak(SIGNATURE.encode())[:4] + encode(TYPES, [a, b, c, [public]])).hex()


def proof_args(**changes):
    proof = {**DATA["proof"], **changes}
    return proof["a"], proof["b"], proof["c"]


def py_ecc_verifies(a, b, c, public: int) -> bool:
    """Groth16's check in pure Python: e(-A, B) e(alpha, beta) e(vk_x, gamma) e(C, delta) = 1."""
    key = DATA["verifying_key"]

    def g1(xy):
        return (bn.FQ(int(xy[0])), bn.FQ(int(xy[1])), bn.FQ.one())

    def g2(pairs):  # snarkjs key: [[x0, x1], [y0, y1], ...]
        (x0, x1), (y0, y1) = pairs[0], pairs[1]
        return (bn.FQ2([int(x0), int(x1)]), bn.FQ2([int(y0), int(y1)]), bn.FQ2.one())

    vk_x = bn.add(g1(key["IC"][0]), bn.multiply(g1(key["IC"][1]), public))
    proof_b = g2([[b[0][1], b[0][0]], [b[1][1], b[1][0]]])  # the verifier's b is (c1, c0)
    product = bn.FQ12.one()
    for q, p in (
        (proof_b, bn.neg(g1(a))),
        (g2(key["vk_beta_2"]), g1(key["vk_alpha_1"])),
        (g2(key["vk_gamma_2"]), vk_x),
        (g2(key["vk_delta_2"]), g1(c)),
    ):
        product *= bn.pairing(q, p, final_exponentiate=False)
    return bn.final_exponentiate(product) == bn.FQ12.one()


def send(node: NodeProcess, key: str, data: str, to: str | None = None) -> dict:
    """Sign and send a transaction from a dev key (the L2 holds no unlocked accounts);
    its receipt."""
    sender = Account.from_key(key).address
    fields = {
        "chainId": int(node.call("eth_chainId"), 16),
        "nonce": int(node.call("eth_getTransactionCount", sender, "pending"), 16),
        "data": data,
        "gas": 3_000_000,
        "maxFeePerGas": 100 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    if to is not None:
        fields["to"] = to_checksum_address(to)
    raw = Account.sign_transaction(fields, key).raw_transaction
    return node.wait_receipt(node.call("eth_sendRawTransaction", "0x" + bytes(raw).hex()))


def deploy(node: NodeProcess) -> str:
    receipt = send(node, DEV_KEYS[0], "0x" + DATA["bytecode"])
    assert receipt["status"] == "0x1"
    return receipt["contractAddress"]


def verdict(node: NodeProcess, verifier: str, data: str) -> bool:
    output = bytes.fromhex(node.call("eth_call", {"to": verifier, "data": data})[2:])
    return decode(["bool"], output)[0]


def test_the_committed_proof_is_valid_for_py_ecc():
    a, b, c = proof_args()
    assert py_ecc_verifies(a, b, c, 33)
    assert not py_ecc_verifies(a, b, c, 34)


@pytest.mark.parametrize(
    "flags",
    [(), ("--genesis", "genesis/l2.json", "--accounts", "2", "--balance", "10")],
    ids=["l1", "l2"],
)
def test_the_groth16_verifier_accepts_the_proof_on_the_node(node_factory, flags):
    node = node_factory(*flags)
    verifier = deploy(node)
    a, b, c = proof_args()
    assert verdict(node, verifier, calldata(a, b, c, 33)) is True
    assert verdict(node, verifier, calldata(a, b, c, 34)) is False  # another statement
    swapped_c = [c[0], bn.field_modulus - c[1]]  # -C: a valid point, a wrong proof
    assert verdict(node, verifier, calldata(a, b, swapped_c, 33)) is False
    # A off the curve: ecpairing halts and the verifier stops on INVALID (0xfe), as its
    # Pairing library does when a precompile fails
    response = node_rpc_error(node, verifier, calldata([a[0], a[1] ^ 1], b, c, 33))
    assert "invalid opcode 0xfe" in response["message"].lower()

    # the verification in a mined transaction, as a contract would run it
    receipt = send(node, DEV_KEYS[1], calldata(a, b, c, 33), to=verifier)
    assert receipt["status"] == "0x1"
    assert int(receipt["gasUsed"], 16) > 21_000 + 45_000 + 4 * 34_000  # four pairs paired


def node_rpc_error(node: NodeProcess, verifier: str, data: str) -> dict:
    response = rpc(node.url, "eth_call", [{"to": verifier, "data": data}])
    assert "error" in response, response
    return response["error"]


@pytest.mark.requires_tools("node", "solcjs")
def test_the_committed_bytecode_is_the_committed_verifier_compiled():
    """The bytecode in groth16.json is Groth16Verifier.sol compiled as generate.py does."""
    here = Path(__file__).parent / "groth16"
    spec = importlib.util.spec_from_file_location("generate_groth16", here / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    compiled = subprocess.run(
        [str(require_tool("node")), "-e", generate.COMPILE, str(ROOT)],
        input=(here / "Groth16Verifier.sol").read_text(),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert json.loads(compiled.stdout)["bytecode"] == DATA["bytecode"]
