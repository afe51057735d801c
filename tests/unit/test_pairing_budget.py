"""The per-block pairing budget: pure-Python pairings are slow, so a block may run at most
``MAX_PAIRINGS_PER_BLOCK`` pairs; past that a pairing call halts. Inputs here are points at
infinity, which py-evm pairs quickly, so the test measures the rule, not the cryptography."""

from __future__ import annotations

from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import Chain
from node.fork.pairings import (
    BLS12_PAIRING_ADDRESS,
    BN254_PAIRING_ADDRESS,
    MAX_PAIRINGS_PER_BLOCK,
    PairingBudgetExhausted,
)
from node.genesis import load_genesis
from node.simulation import CallRequest

TRUE = (1).to_bytes(32, "big")


def bn254_input(pairs: int) -> bytes:
    return b"\x00" * 192 * pairs


def make_chain(path: str = "genesis/l1.json"):
    accounts = derive_dev_accounts(DEFAULT_MNEMONIC, 2)
    chain = Chain(load_genesis(path).with_accounts([a.address for a in accounts], 10**21))
    return chain, accounts


def test_a_call_within_the_budget_pairs():
    chain, _ = make_chain()
    result = chain.call(CallRequest(to=BN254_PAIRING_ADDRESS, data=bn254_input(2)), chain.head)
    assert result.error is None and result.output == TRUE


def test_a_call_over_the_budget_halts_before_computing():
    chain, _ = make_chain()
    request = CallRequest(
        to=BN254_PAIRING_ADDRESS, data=bn254_input(MAX_PAIRINGS_PER_BLOCK + 1), gas=10_000_000
    )
    result = chain.call(request, chain.head)
    assert isinstance(result.error, PairingBudgetExhausted)
    assert result.gas_used == 10_000_000  # an exceptional halt consumes the gas


def test_bls_pairing_counts_against_the_same_budget():
    chain, _ = make_chain()
    request = CallRequest(
        to=BLS12_PAIRING_ADDRESS,
        data=b"\x00" * 384 * (MAX_PAIRINGS_PER_BLOCK + 1),
        gas=25_000_000,
    )
    assert isinstance(chain.call(request, chain.head).error, PairingBudgetExhausted)


def test_the_budget_is_shared_by_a_blocks_transactions_and_renewed_per_block():
    for path in ("genesis/l1.json", "genesis/l2.json"):
        chain, accounts = make_chain(path)
        half = MAX_PAIRINGS_PER_BLOCK // 2 + 1
        txs = [
            chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
                chain.chain_id,
                0,
                10**9,
                10**10,
                2_000_000,
                BN254_PAIRING_ADDRESS,
                0,
                bn254_input(half),
                [],
            ).as_signed_transaction(account.private_key)
            for account in accounts
        ]
        built = chain.build_block(txs)
        assert [r.status for r in built.receipts] == [1, 0]
        again = chain.build_block(
            [
                chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
                    chain.chain_id,
                    1,
                    10**9,
                    10**10,
                    2_000_000,
                    BN254_PAIRING_ADDRESS,
                    0,
                    bn254_input(half),
                    [],
                ).as_signed_transaction(accounts[1].private_key)
            ]
        )
        assert [r.status for r in again.receipts] == [1]
