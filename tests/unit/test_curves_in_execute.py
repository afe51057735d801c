"""The native curve precompiles inside EXECUTE: L2 blocks that verify a Groth16 proof, check
an aggregate BLS signature, pair 100 BN254 pairs and 20 BLS12-381 pairs are re-executed by
EXECUTE's verification
(``precompiles.execute.verify``) to the same post-state, as valid blocks. There is no
pairing budget to exhaust inside EXECUTE either: gas is the only bound."""

from __future__ import annotations

import json
import random
from pathlib import Path

from eth.constants import CREATE_CONTRACT_ADDRESS
from eth_abi import encode
from eth_hash.auto import keccak
from py_ecc.bls import G2ProofOfPossession as scheme
from py_ecc.bls.g2_primitives import pubkey_to_G1, signature_to_G2

from devtools.l2_blocks import L2_VM, L2Builder, contract_address
from node.simulation import CallRequest
from precompiles.execute import verify
from tests.unit.curve_inputs import (
    bls_g1,
    bls_g2,
    bls_pairing_input,
    bls_true_pairs,
    bn_pairing_input,
    bn_true_pairs,
)

E2E = Path(__file__).parents[1] / "e2e"
GROTH16 = json.loads((E2E / "groth16" / "groth16.json").read_text())
BLS = json.loads((E2E / "bls" / "bls.json").read_text())
VERIFY = keccak(b"verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[1])")[:4]
TYPES = ["uint256[2]", "uint256[2][2]", "uint256[2]", "uint256[1]"]
BN254_PAIRING = (0x08).to_bytes(20, "big")
BLS12_PAIRING = (0x0F).to_bytes(20, "big")
TRUE = (1).to_bytes(32, "big")


def deploy(l2: L2Builder, bytecode: str):
    nonce = l2.next_nonce(0)
    tx = l2.tx(
        0, to=CREATE_CONTRACT_ADDRESS, data=bytes.fromhex(bytecode), gas=3_000_000, nonce=nonce
    )
    return tx, contract_address(l2.address(0), nonce)


def bls_verify_call() -> bytes:
    """BlsAggregate.verify of two signers' aggregate signature of a message (py_ecc signs)."""
    message, secrets = b"block 9", [5, 7]
    signature = scheme.Aggregate([scheme.Sign(k, message) for k in secrets])
    keys = [bls_g1(pubkey_to_G1(scheme.SkToPk(k))) for k in secrets]
    return keccak(b"verify(bytes[],bytes,bytes)")[:4] + encode(
        ["bytes[]", "bytes", "bytes"], [keys, message, bls_g2(signature_to_G2(signature))]
    )


def test_blocks_with_groth16_bls_and_many_pairings_verify_inside_execute():
    l2 = L2Builder()
    deploy_verifier, verifier = deploy(l2, GROTH16["bytecode"])
    deploy_bls, bls_checker = deploy(l2, BLS["bytecode"])
    first = l2.build([deploy_verifier, deploy_bls]).block

    proof = GROTH16["proof"]
    rng = random.Random(13)
    groth16 = VERIFY + encode(TYPES, [proof["a"], proof["b"], proof["c"], [33]])
    aggregate = bls_verify_call()
    calls = [
        l2.tx(1, to=verifier, data=groth16, gas=1_000_000),
        l2.tx(2, to=bls_checker, data=aggregate, gas=1_000_000),
        l2.tx(
            4, to=BLS12_PAIRING, data=bls_pairing_input(bls_true_pairs(rng, 4)) * 5, gas=1_000_000
        ),
    ]
    second = l2.build(calls).block
    for to, data in ((verifier, groth16), (bls_checker, aggregate)):  # both checks say yes
        assert l2.chain.call(CallRequest(to=to, data=data), second.header).output == TRUE
    hundred_pairs = bn_pairing_input(bn_true_pairs(rng, 100))
    third = l2.build([l2.tx(3, to=BN254_PAIRING, data=hundred_pairs, gas=4_500_000)]).block

    for block in (first, second, third):
        verdict = verify(l2.input_for(block), L2_VM)
        assert verdict.valid, verdict.detail
        assert verdict.post_state_root == block.header.state_root
        assert verdict.gas_used == block.header.gas_used
    assert third.header.gas_used > 45_000 + 100 * 34_000
