"""The native curve precompiles inside EXECUTE: L2 blocks that verify a Groth16 proof, pair
100 BN254 pairs and 20 BLS12-381 pairs are re-executed by EXECUTE's verification
(``precompiles.execute.verify``) to the same post-state, as valid blocks. There is no
pairing budget to exhaust inside EXECUTE either: gas is the only bound."""

from __future__ import annotations

import json
import random
from pathlib import Path

from eth.constants import CREATE_CONTRACT_ADDRESS
from eth_abi import encode
from eth_hash.auto import keccak

from devtools.l2_blocks import L2_VM, L2Builder, contract_address
from precompiles.execute import verify
from tests.unit.curve_inputs import (
    bls_pairing_input,
    bls_true_pairs,
    bn_pairing_input,
    bn_true_pairs,
)

GROTH16 = json.loads((Path(__file__).parents[1] / "e2e" / "groth16" / "groth16.json").read_text())
VERIFY = keccak(b"verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[1])")[:4]
TYPES = ["uint256[2]", "uint256[2][2]", "uint256[2]", "uint256[1]"]
BN254_PAIRING = (0x08).to_bytes(20, "big")
BLS12_PAIRING = (0x0F).to_bytes(20, "big")


def test_blocks_with_groth16_and_many_pairings_verify_inside_execute():
    l2 = L2Builder()
    nonce = l2.next_nonce(0)
    deploy = l2.tx(
        0,
        to=CREATE_CONTRACT_ADDRESS,
        data=bytes.fromhex(GROTH16["bytecode"]),
        gas=3_000_000,
        nonce=nonce,
    )
    verifier = contract_address(l2.address(0), nonce)
    first = l2.build([deploy]).block

    proof = GROTH16["proof"]
    rng = random.Random(13)
    calls = [
        l2.tx(
            1,
            to=verifier,
            data=VERIFY + encode(TYPES, [proof["a"], proof["b"], proof["c"], [33]]),
            gas=1_000_000,
        ),
        l2.tx(
            2, to=BLS12_PAIRING, data=bls_pairing_input(bls_true_pairs(rng, 4)) * 5, gas=1_000_000
        ),
    ]
    second = l2.build(calls).block
    hundred_pairs = bn_pairing_input(bn_true_pairs(rng, 100))
    third = l2.build([l2.tx(3, to=BN254_PAIRING, data=hundred_pairs, gas=4_500_000)]).block

    for block in (first, second, third):
        verdict = verify(l2.input_for(block), L2_VM)
        assert verdict.valid, verdict.detail
        assert verdict.post_state_root == block.header.state_root
        assert verdict.gas_used == block.header.gas_used
    assert third.header.gas_used > 45_000 + 100 * 34_000
