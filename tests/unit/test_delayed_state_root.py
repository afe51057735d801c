"""The one-slot delayed state root (EIP-7862) of the L1 devnet, in process (docs/DEPARTURES.md,
"Chain rules").

A ``node.chain.Chain`` on genesis/l1.json (delayed root on) builds 120 blocks, each sending
wei to a fresh address, so that every block changes the state. Then:

- header n carries the post-state root of block n-1 (``Chain.state_root_after``), header 1
  repeats genesis' root, and no header carries its own post-state;
- reads at block n (balance, nonce) answer with the state AFTER block n;
- ``Chain.proof(address, [], header n)`` verifies against header n+1's ``state_root``
  (``trie.HexaryTrie.get_from_proof``) and not against header n's;
- a second chain imports all 120 blocks; a block whose header carries its own post-state
  root (Prague semantics) or any other root is rejected and the head stays put;
- with ``delayed_state_root=False`` every header carries its own post-state root and a
  delayed-root block is rejected.
"""

from __future__ import annotations

import pytest
import rlp
from eth.rlp.accounts import Account as RlpAccount
from eth_hash.auto import keccak
from eth_utils import ValidationError
from trie import HexaryTrie
from trie.exceptions import BadTrieProof

from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import Chain
from node.genesis import DEFAULT_L1_GENESIS, Genesis, load_genesis

L1_CHAIN_ID = 31337
BLOCKS = 120
GWEI = 10**9
DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 2)
SENDER = DEV[0]


def l1_genesis(delayed: bool = True) -> Genesis:
    genesis = load_genesis(DEFAULT_L1_GENESIS).with_accounts([a.address for a in DEV], 10**24)
    assert genesis.delayed_state_root  # the default L1 genesis turns it on
    return genesis.with_overrides(delayed_state_root=delayed)


def fresh(i: int) -> bytes:
    return keccak(b"fresh" + i.to_bytes(4, "big"))[12:]


def value(i: int) -> int:
    return 10**15 + i


def transfer(chain: Chain, nonce: int, to: bytes, amount: int):
    unsigned = chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
        L1_CHAIN_ID, nonce, GWEI, 10 * GWEI, 21_000, to, amount, b"", []
    )
    return unsigned.as_signed_transaction(SENDER.private_key)


def build_history(chain: Chain, blocks: int) -> None:
    """Block i (1-based) sends value(i) to fresh(i)."""
    for i in range(1, blocks + 1):
        built = chain.build_block(
            [transfer(chain, i - 1, fresh(i), value(i))], timestamp=chain.head.timestamp + 12
        )
        assert not built.skipped and built.receipts[0].status == 1


def account_from_proof(root: bytes, address: bytes, proof: list[bytes]) -> RlpAccount:
    nodes = [rlp.decode(node) for node in proof]
    raw = HexaryTrie.get_from_proof(root, keccak(address), nodes)
    assert raw, "account absent"
    return rlp.decode(raw, sedes=RlpAccount)


@pytest.fixture(scope="module")
def delayed() -> Chain:
    chain = Chain(l1_genesis())
    assert chain.delayed_state_root
    build_history(chain, BLOCKS)
    assert chain.head.block_number == BLOCKS
    return chain


def headers(chain: Chain) -> list:
    return [chain.header_by_number(n) for n in range(chain.head.block_number + 1)]


def test_header_carries_the_parents_post_state_root(delayed):
    hs = headers(delayed)
    post = [delayed.state_root_after(h) for h in hs]
    assert post[0] == hs[0].state_root  # genesis carries its own (there is no parent)
    assert hs[1].state_root == hs[0].state_root  # block 1 repeats genesis' root
    for n in range(1, BLOCKS + 1):
        assert hs[n].state_root == post[n - 1], n
        assert post[n] != post[n - 1], n  # every block changed the state...
        assert hs[n].state_root != post[n], n  # ...and no header carries its own root
    assert len(set(post)) == BLOCKS + 1


def test_reads_at_block_n_see_the_state_after_block_n(delayed):
    hs = headers(delayed)
    for n in range(1, BLOCKS + 1):
        assert delayed.balance(fresh(n), hs[n]) == value(n), n
        assert delayed.balance(fresh(n), hs[n - 1]) == 0, n
        assert delayed.nonce(SENDER.address, hs[n]) == n, n
    # "latest": the head's own effects are visible, although its header does not commit them.
    assert delayed.balance(fresh(BLOCKS), delayed.head) == value(BLOCKS)
    assert delayed.account_db(delayed.head).state_root == delayed.state_root_after(delayed.head)


def test_proof_at_n_verifies_against_header_n_plus_1(delayed):
    hs = headers(delayed)
    for n in range(1, BLOCKS):
        proof = delayed.proof(fresh(n), [], hs[n])
        assert proof.balance == value(n)
        assert keccak(proof.account_proof[0]) == hs[n + 1].state_root, n
        account = account_from_proof(hs[n + 1].state_root, fresh(n), proof.account_proof)
        assert account.balance == value(n)
        with pytest.raises(BadTrieProof):
            HexaryTrie.get_from_proof(
                hs[n].state_root, keccak(fresh(n)), [rlp.decode(x) for x in proof.account_proof]
            )
    # The head's proof has no header to verify against yet: only its recorded post-state.
    proof = delayed.proof(fresh(BLOCKS), [], delayed.head)
    assert keccak(proof.account_proof[0]) == delayed.state_root_after(delayed.head)


def test_import_validates_the_delayed_root(delayed):
    replica = Chain(l1_genesis())
    assert replica.head.hash == delayed.header_by_number(0).hash
    for n in range(1, BLOCKS + 1):
        original = delayed.block_by_header(delayed.header_by_number(n))
        if n in (1, 2, BLOCKS // 2, BLOCKS):
            own_root = delayed.state_root_after(original.header)  # Prague semantics
            for wrong in (own_root, b"\x42" * 32):
                forged = original.copy(header=original.header.copy(state_root=wrong))
                head = replica.head
                with pytest.raises(ValidationError, match="delayed state root"):
                    replica.import_block(forged)
                assert replica.head == head
        imported = replica.import_block(original)
        assert imported.hash == original.hash == replica.head.hash
        assert replica.state_root_after(imported.header) == delayed.state_root_after(
            original.header
        )
    assert replica.balance(fresh(BLOCKS), replica.head) == value(BLOCKS)


PRAGUE_BLOCKS = 12


@pytest.fixture(scope="module")
def prague() -> Chain:
    chain = Chain(l1_genesis(delayed=False))
    assert not chain.delayed_state_root
    build_history(chain, PRAGUE_BLOCKS)
    return chain


def test_without_delay_each_header_carries_its_own_root(prague, delayed):
    hs = headers(prague)
    assert hs[0].hash == delayed.header_by_number(0).hash  # same genesis either way
    for n in range(1, PRAGUE_BLOCKS + 1):
        assert hs[n].state_root == prague.state_root_after(hs[n]), n
        assert hs[n].state_root != hs[n - 1].state_root, n
        if n == 1:
            # Same parent (genesis), same transaction: the same post-state as on the delayed
            # chain, which only its next header commits. (From block 2 on the parent hashes
            # differ, and the EIP-2935 history write makes the states differ too.)
            assert hs[1].state_root == delayed.state_root_after(delayed.header_by_number(1))
            assert hs[1].state_root == delayed.header_by_number(2).state_root
        proof = prague.proof(fresh(n), [], hs[n])
        assert keccak(proof.account_proof[0]) == hs[n].state_root
        assert account_from_proof(hs[n].state_root, fresh(n), proof.account_proof).balance == (
            value(n)
        )
        assert prague.balance(fresh(n), hs[n]) == value(n)


def test_without_delay_a_delayed_root_block_is_rejected(prague, delayed):
    replica = Chain(l1_genesis(delayed=False))
    delayed_block = delayed.block_by_header(delayed.header_by_number(1))
    with pytest.raises(ValidationError, match="state_root"):
        replica.import_block(delayed_block)
    assert replica.head.block_number == 0
    prague_block = prague.block_by_header(prague.header_by_number(1))
    assert replica.import_block(prague_block).hash == prague_block.hash
    # ...and the other way round: a Prague block does not import into a delayed chain.
    delayed_replica = Chain(l1_genesis())
    with pytest.raises(ValidationError, match="delayed state root"):
        delayed_replica.import_block(prague_block)
    assert delayed_replica.head.block_number == 0
