"""Merkle-Patricia proofs of an account and some of its storage slots (``eth_getProof``),
read from the state trie at a given root."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from eth.abc import DatabaseAPI
from eth.constants import BLANK_ROOT_HASH
from eth.rlp.accounts import Account as RlpAccount
from eth_hash.auto import keccak
from trie import HexaryTrie


@dataclass(frozen=True)
class StorageProof:
    slot: int
    value: int
    proof: list[bytes]


@dataclass(frozen=True)
class AccountProof:
    address: bytes
    balance: int
    nonce: int
    code_hash: bytes
    storage_root: bytes
    account_proof: list[bytes]
    storage: list[StorageProof]


def prove_account(
    db: DatabaseAPI, state_root: bytes, address: bytes, slots: Sequence[int]
) -> AccountProof:
    """The proof of ``address`` and of each of ``slots`` in the state at ``state_root``
    (an absent account or slot is proved absent: empty account, value zero)."""
    state_trie = HexaryTrie(db, state_root)
    account_key = keccak(address)
    account_proof = [rlp.encode(node) for node in state_trie.get_proof(account_key)]
    raw_account = state_trie.get(account_key)
    account = rlp.decode(raw_account, sedes=RlpAccount) if raw_account else RlpAccount()
    storage_trie = HexaryTrie(db, account.storage_root)
    storage = []
    for slot in slots:
        slot_key = keccak(slot.to_bytes(32, "big"))
        nodes = storage_trie.get_proof(slot_key) if account.storage_root != BLANK_ROOT_HASH else ()
        raw_value = storage_trie.get(slot_key) if account.storage_root != BLANK_ROOT_HASH else b""
        value = rlp.decode(raw_value, sedes=rlp.sedes.big_endian_int) if raw_value else 0
        storage.append(StorageProof(slot, value, [rlp.encode(n) for n in nodes]))
    return AccountProof(
        address=address,
        balance=account.balance,
        nonce=account.nonce,
        code_hash=account.code_hash,
        storage_root=account.storage_root,
        account_proof=account_proof,
        storage=storage,
    )
