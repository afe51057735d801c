"""``node.pool.TxPool``: inclusion order, held future nonces, fee-bump replacement, pruning.

Transactions are real signed Prague transactions; the pool is fed ``(tx, sender)`` and the
on-chain nonces through a plain dict, so no chain is needed.
"""

from __future__ import annotations

import pytest

from node.errors import InvalidTransaction, TxRejection
from node.pool import TxPool
from tests.unit.conftest import GWEI

BASE_FEE = 1 * GWEI


@pytest.fixture
def pool() -> TxPool:
    return TxPool()


@pytest.fixture
def alice(dev_accounts):
    return dev_accounts[0]


@pytest.fixture
def bob(dev_accounts):
    return dev_accounts[1]


@pytest.fixture
def carol(dev_accounts):
    return dev_accounts[2]


def nonces(mapping: dict[bytes, int]):
    return lambda sender: mapping.get(sender, 0)


def add(pool, txs, account, nonce, tip=GWEI, max_fee=10 * GWEI):
    tx = txs.dynamic(account.private_key, nonce, tip=tip, max_fee=max_fee)
    pool.add(tx, account.address)
    return tx


def hashes(pooled) -> list[bytes]:
    return [p.hash for p in pooled]


def test_order_by_tip_across_senders_and_nonce_within(pool, txs, alice, bob, carol):
    # Alice's later transactions pay more than her first, but cannot overtake it.
    a0 = add(pool, txs, alice, 0, tip=1 * GWEI)
    a1 = add(pool, txs, alice, 1, tip=5 * GWEI)
    a2 = add(pool, txs, alice, 2, tip=9 * GWEI)
    b0 = add(pool, txs, bob, 0, tip=3 * GWEI)
    b1 = add(pool, txs, bob, 1, tip=2 * GWEI)
    c0 = add(pool, txs, carol, 0, tip=4 * GWEI)

    ordered = pool.ordered_for_block(nonces({}), BASE_FEE)
    assert hashes(ordered) == [t.hash for t in (c0, b0, b1, a0, a1, a2)]
    for sender in (alice, bob):
        own = [p.nonce for p in ordered if p.sender == sender.address]
        assert own == sorted(own)


def test_tip_is_capped_by_fee_cap_minus_base_fee(pool, txs, alice, bob):
    # Alice offers a huge tip but her fee cap leaves only 1 gwei above the base fee.
    capped = add(pool, txs, alice, 0, tip=50 * GWEI, max_fee=BASE_FEE + 1 * GWEI)
    plain = add(pool, txs, bob, 0, tip=2 * GWEI, max_fee=10 * GWEI)
    ordered = pool.ordered_for_block(nonces({}), BASE_FEE)
    assert hashes(ordered) == [plain.hash, capped.hash]


def test_equal_tips_keep_arrival_order(pool, txs, dev_accounts):
    sent = [add(pool, txs, account, 0, tip=GWEI) for account in dev_accounts[:5]]
    assert hashes(pool.ordered_for_block(nonces({}), BASE_FEE)) == [t.hash for t in sent]


def test_future_nonce_is_queued_until_the_gap_fills(pool, txs, alice):
    a1 = add(pool, txs, alice, 1)
    a2 = add(pool, txs, alice, 2)
    on_chain = nonces({})
    assert pool.pending(on_chain) == []
    assert set(hashes(pool.queued(on_chain))) == {a1.hash, a2.hash}
    assert pool.ordered_for_block(on_chain, BASE_FEE) == []

    a0 = add(pool, txs, alice, 0)
    assert hashes(pool.pending(on_chain)) == [a0.hash, a1.hash, a2.hash]
    assert pool.queued(on_chain) == []
    assert hashes(pool.ordered_for_block(on_chain, BASE_FEE)) == [a0.hash, a1.hash, a2.hash]


def test_gap_after_the_on_chain_nonce(pool, txs, alice):
    a3 = add(pool, txs, alice, 3)
    a5 = add(pool, txs, alice, 5)
    on_chain = nonces({alice.address: 3})
    assert hashes(pool.pending(on_chain)) == [a3.hash]
    assert hashes(pool.queued(on_chain)) == [a5.hash]


@pytest.mark.parametrize(
    ("max_fee", "tip"),
    [
        pytest.param(10 * GWEI, 1 * GWEI, id="same-fees"),
        pytest.param(11 * GWEI, 1 * GWEI, id="fee-cap-only"),
        pytest.param(10 * GWEI, 2 * GWEI, id="tip-only"),
        pytest.param(11 * GWEI - 1, 11 * GWEI // 10, id="fee-cap-one-wei-short"),
        pytest.param(11 * GWEI, 11 * GWEI // 10 - 1, id="tip-one-wei-short"),
    ],
)
def test_replacement_needs_ten_percent_on_fee_cap_and_tip(pool, txs, alice, max_fee, tip):
    original = add(pool, txs, alice, 0, tip=1 * GWEI, max_fee=10 * GWEI)
    replacement = txs.dynamic(alice.private_key, 0, tip=tip, max_fee=max_fee, value=1)
    with pytest.raises(InvalidTransaction) as caught:
        pool.add(replacement, alice.address)
    assert caught.value.kind is TxRejection.UNDERPRICED_REPLACEMENT
    assert "replacement transaction underpriced" in str(caught.value)
    assert hashes(pool.pending(nonces({}))) == [original.hash]
    assert len(pool) == 1


def test_replacement_with_ten_percent_more_replaces(pool, txs, alice):
    original = add(pool, txs, alice, 0, tip=1 * GWEI, max_fee=10 * GWEI)
    replacement = txs.dynamic(alice.private_key, 0, tip=11 * GWEI // 10, max_fee=11 * GWEI)
    assert pool.add(replacement, alice.address).hash == original.hash
    assert original.hash not in pool
    assert replacement.hash in pool
    assert len(pool) == 1
    assert hashes(pool.pending(nonces({}))) == [replacement.hash]


def test_already_known(pool, txs, alice):
    tx = add(pool, txs, alice, 0)
    with pytest.raises(InvalidTransaction) as caught:
        pool.add(tx, alice.address)
    assert caught.value.kind is TxRejection.ALREADY_KNOWN
    assert len(pool) == 1


def test_prune_drops_mined_nonces(pool, txs, alice, bob):
    a0 = add(pool, txs, alice, 0)
    a1 = add(pool, txs, alice, 1)
    a2 = add(pool, txs, alice, 2)
    b0 = add(pool, txs, bob, 0)
    dropped = pool.prune(nonces({alice.address: 2, bob.address: 1}))
    assert set(hashes(dropped)) == {a0.hash, a1.hash, b0.hash}
    assert len(pool) == 1 and a2.hash in pool
    assert bob.address not in pool.by_sender
    assert hashes(pool.pending(nonces({alice.address: 2}))) == [a2.hash]


def test_remove(pool, txs, alice):
    a0 = add(pool, txs, alice, 0)
    pool.remove(a0.hash)
    pool.remove(a0.hash)  # idempotent
    assert len(pool) == 0 and pool.get(a0.hash) is None
    assert alice.address not in pool.by_sender


def test_next_nonce_follows_the_contiguous_run(pool, txs, alice, bob):
    assert pool.next_nonce(alice.address, 0) == 0
    add(pool, txs, alice, 0)
    add(pool, txs, alice, 1)
    add(pool, txs, alice, 3)
    assert pool.next_nonce(alice.address, 0) == 2
    assert pool.next_nonce(alice.address, 2) == 2
    assert pool.next_nonce(alice.address, 3) == 4
    assert pool.next_nonce(bob.address, 7) == 7
