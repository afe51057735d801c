"""No pairing budget: gas is the only bound on pairings, as on Ethereum. The devnet once
capped pairings at 32 per block because py_ecc paired in pure Python; with the native
precompiles (``node.fork.curves_bn254``, ``node.fork.curves_bls12``) a 100-pair call fits
in one block, on the L1 and on the L2, and several such calls share a block."""

from __future__ import annotations

import random

from eth.vm.forks.istanbul.constants import GAS_ECPAIRING_BASE, GAS_ECPAIRING_PER_POINT
from py_ecc import optimized_bn128 as bn

from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import Chain
from node.genesis import load_genesis
from node.simulation import CallRequest
from tests.unit.curve_inputs import (
    bls_pairing_input,
    bls_true_pairs,
    bn_pairing_input,
    bn_true_pairs,
)

BN254_PAIRING = (0x08).to_bytes(20, "big")
BLS12_PAIRING = (0x0F).to_bytes(20, "big")
TRUE, FALSE = (1).to_bytes(32, "big"), bytes(32)
PAIRS = 100


def make_chain(path: str):
    accounts = derive_dev_accounts(DEFAULT_MNEMONIC, 3)
    chain = Chain(load_genesis(path).with_accounts([a.address for a in accounts], 10**21))
    return chain, accounts


def pairing_transaction(chain, account, to: bytes, data: bytes, gas: int = 4_900_000):
    return chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
        chain.chain_id, 0, 10**9, 10**10, gas, to, 0, data, []
    ).as_signed_transaction(account.private_key)


def py_ecc_answer(data: bytes) -> bytes:
    """py_ecc's verdict on a BN254 pairing input (the pure-Python oracle)."""
    product = bn.FQ12.one()
    for start in range(0, len(data), 192):
        words = [int.from_bytes(data[start + i : start + i + 32], "big") for i in range(0, 192, 32)]
        p = (bn.FQ(words[0]), bn.FQ(words[1]), bn.FQ.one())
        q = (bn.FQ2([words[3], words[2]]), bn.FQ2([words[5], words[4]]), bn.FQ2.one())
        product *= bn.pairing(q, p, final_exponentiate=False)
    return TRUE if bn.final_exponentiate(product) == bn.FQ12.one() else FALSE


def test_a_100_pair_bn254_call_fits_in_one_block_and_matches_py_ecc():
    rng = random.Random(100)
    valid = bn_pairing_input(bn_true_pairs(rng, PAIRS))
    # 98 pairs whose product is one, then e(G1, G2) twice: the product is not one
    broken = bn_pairing_input(bn_true_pairs(rng, PAIRS - 2)) + bn_pairing_input(
        [(bn.G1, bn.G2), (bn.G1, bn.G2)]
    )
    for path in ("genesis/l1.json", "genesis/l2.json"):
        chain, accounts = make_chain(path)
        calls = [
            pairing_transaction(chain, accounts[0], BN254_PAIRING, valid),
            pairing_transaction(chain, accounts[1], BN254_PAIRING, broken),
        ]
        if chain.head.gas_limit >= 2 * calls[0].gas:  # the L1: both calls in one block
            blocks = [chain.build_block(calls)]
        else:  # the L2 (5M gas a block): one call a block
            blocks = [chain.build_block([call]) for call in calls]
        receipts = [r for built in blocks for r in built.receipts]
        assert [r.status for r in receipts] == [1, 1]
        precompile_gas = GAS_ECPAIRING_BASE + PAIRS * GAS_ECPAIRING_PER_POINT
        assert all(r.gas_used > precompile_gas for r in receipts)
        for data, expected in ((valid, TRUE), (broken, FALSE)):
            result = chain.call(CallRequest(to=BN254_PAIRING, data=data), chain.head)
            assert result.error is None and result.output == expected
    assert py_ecc_answer(valid) == TRUE and py_ecc_answer(broken) == FALSE


def test_a_100_pair_bls12_call_fits_in_one_block():
    rng = random.Random(101)
    # ten distinct pairs whose product is one, five times over: still a product of one
    valid = bls_pairing_input(bls_true_pairs(rng, 20)) * 5
    assert len(valid) == 384 * PAIRS
    for path in ("genesis/l1.json", "genesis/l2.json"):
        chain, accounts = make_chain(path)
        built = chain.build_block([pairing_transaction(chain, accounts[0], BLS12_PAIRING, valid)])
        assert [r.status for r in built.receipts] == [1]
        result = chain.call(CallRequest(to=BLS12_PAIRING, data=valid), chain.head)
        assert result.error is None and result.output == TRUE
        wrong = valid[: 384 * 99] + valid[:384]  # the last pair's partner replaced
        result = chain.call(CallRequest(to=BLS12_PAIRING, data=wrong), chain.head)
        assert result.error is None and result.output == FALSE


def test_gas_still_bounds_a_pairing_call():
    chain, _ = make_chain("genesis/l1.json")
    data = bn_pairing_input(bn_true_pairs(random.Random(102), 4))
    enough = GAS_ECPAIRING_BASE + 4 * GAS_ECPAIRING_PER_POINT
    request = CallRequest(to=BN254_PAIRING, data=data, gas=100_000)  # < 21 000 + calldata + enough
    result = chain.call(request, chain.head)
    assert result.error is not None and result.gas_used == 100_000
    result = chain.call(CallRequest(to=BN254_PAIRING, data=data, gas=enough + 60_000), chain.head)
    assert result.error is None and result.output == TRUE
