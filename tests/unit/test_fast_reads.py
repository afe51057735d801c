"""The shared read side of block production: the next base fee by formula, one read view
per state root (bounded, never stale across blocks and state edits), the head decoded once,
and one signature recovery per transaction from submission to the mined block."""

from __future__ import annotations

import asyncio
import threading

import pytest
import rlp
from eth_keys.datatypes import Signature

from node import read_view
from node.chain import Chain
from node.devnet import Devnet, MiningConfig, MiningMode
from node.errors import InvalidTransaction, TxRejection

RECIPIENT = b"\x11" * 20


def test_next_base_fee_by_formula_equals_the_header_rule(genesis, dev_accounts, txs):
    chain = Chain(genesis)
    limit = chain.head.gas_limit
    # Empty blocks (the fee falls), then blocks above and at the target (it rises, holds).
    for number in range(12):
        count = 0 if number < 4 else (limit // 2 // 21_000 if number % 2 else 3)
        batch = []
        if count:
            nonce = chain.nonce(dev_accounts[0].address, chain.head)
            key = dev_accounts[0].private_key
            batch = [txs.dynamic(key, nonce + i, max_fee=10**12) for i in range(count)]
        chain.build_block(batch, timestamp=chain.head.timestamp + 12)
        head = chain.head
        derived = chain.vm_class.create_header_from_parent(head, timestamp=head.timestamp + 1)
        assert chain.next_base_fee() == derived.base_fee_per_gas, number
        assert chain.next_base_fee(head) == derived.base_fee_per_gas


def test_one_view_per_state_root_never_stale(genesis, dev_accounts, txs):
    chain = Chain(genesis)
    sender = dev_accounts[0].address
    view = chain.account_db(chain.head)
    assert chain.account_db(chain.head) is view  # shared, not opened per check
    assert view.get_nonce(sender) == 0
    chain.build_block([txs.dynamic(dev_accounts[0].private_key, 0, value=5)])
    assert chain.account_db(chain.head) is not view
    assert chain.account_db(chain.head).get_nonce(sender) == 1
    assert chain.account_db(chain.head).get_balance(RECIPIENT) == 5
    # A state edit (anvil_setBalance and friends) records a new root for the head: a new
    # view answers; the old one still describes the old root.
    before = chain.account_db(chain.head)
    chain.edit_head_state(lambda db: db.set_balance(RECIPIENT, 77))
    assert chain.account_db(chain.head).get_balance(RECIPIENT) == 77
    assert before.get_balance(RECIPIENT) == 5
    # Rewinding to an older head reads that head's state again.
    chain.rewind_to(chain.header_by_number(0))
    assert chain.head.block_number == 0
    assert chain.account_db(chain.head).get_nonce(sender) == 0


def test_views_are_bounded(genesis, dev_accounts, txs, monkeypatch):
    chain = Chain(genesis)
    for n in range(read_view.MAX_READ_VIEWS + 3):
        chain.build_block([txs.dynamic(dev_accounts[0].private_key, n)])
        chain.account_db(chain.head).get_nonce(dev_accounts[0].address)
    assert len(chain.read_views) == read_view.MAX_READ_VIEWS
    monkeypatch.setattr(read_view, "MAX_VIEW_READS", 3)
    view = chain.account_db(chain.head)
    first = view._account_db
    answers = [view.get_nonce(dev_accounts[0].address) for _ in range(7)]
    assert answers == [read_view.MAX_READ_VIEWS + 3] * 7
    assert view._account_db is not first  # the caches were dropped and rebuilt


def test_a_view_answers_many_threads(genesis, dev_accounts):
    chain = Chain(genesis)
    view = chain.account_db(chain.head)
    expected = {a.address: view.get_balance(a.address) for a in dev_accounts}
    wrong = []

    def read() -> None:
        for _ in range(200):
            for address, balance in expected.items():
                if view.get_balance(address) != balance or view.get_nonce(address) != 0:
                    wrong.append(address)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def test_head_decoded_once_per_head(genesis, dev_accounts, txs, monkeypatch):
    chain = Chain(genesis)
    head = chain.head
    decoded = []
    original = Chain.header_by_hash

    def counting(self, block_hash):
        decoded.append(block_hash)
        return original(self, block_hash)

    monkeypatch.setattr(Chain, "header_by_hash", counting)
    for _ in range(5):
        assert chain.head is head
    assert decoded == []
    built = chain.build_block([txs.dynamic(dev_accounts[0].private_key, 0)])
    assert chain.head is built.block.header and decoded == []  # the builder's own header
    chain.rewind_to(head)  # the head moves elsewhere: read and decoded once
    assert chain.head == head and decoded == [head.hash]
    assert chain.head == head and decoded == [head.hash]


@pytest.mark.parametrize("count", [3])
async def test_one_signature_recovery_per_transaction(genesis, dev_accounts, txs, count):
    """Submitted raw, automined, its receipt recorded: the sender is recovered once."""
    devnet = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.AUTO))
    await devnet.start()
    try:
        recovered = []
        original = Signature.recover_public_key_from_msg_hash

        def counting(self, message_hash):
            recovered.append(message_hash)
            return original(self, message_hash)

        Signature.recover_public_key_from_msg_hash = counting
        try:
            for nonce in range(count):
                raw = txs.dynamic(dev_accounts[1].private_key, nonce).encode()
                await asyncio.wait_for(devnet.send_raw_transaction(raw), 30)
        finally:
            Signature.recover_public_key_from_msg_hash = original
        assert devnet.head.block_number == count
        assert len(recovered) == count
    finally:
        await devnet.stop()


def test_a_bad_signature_is_still_refused_with_its_reason(genesis, dev_accounts, txs):
    chain = Chain(genesis)
    raw = txs.dynamic(dev_accounts[0].private_key, 0).encode()
    fields = rlp.decode(raw[1:])
    for r, s in [(b"", fields[-1]), (fields[-2], b"\xff" * 32)]:
        bad = raw[:1] + rlp.encode([*fields[:-2], r, s])
        with pytest.raises(InvalidTransaction, match="Bad Signature") as caught:
            chain.decode_transaction(bad)
        assert caught.value.kind is TxRejection.INVALID_SIGNATURE
