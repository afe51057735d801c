"""Impersonated senders (``anvil_impersonateAccount``): send as any address, no key needed.

The transaction is signed with a fixed, well-known key so it encodes like any other, and
carries the impersonated sender in a subclass of py-evm's typed transaction; the chain
records that sender by transaction hash, so receipts and lookups show it. Such blocks are
only valid on this devnet — as with anvil.
"""

from __future__ import annotations

from eth.abc import SignedTransactionAPI, UnsignedTransactionAPI
from eth.vm.forks.prague.transactions import (
    PragueLegacyTransaction,
    PragueTypedTransaction,
    PragueUnsignedLegacyTransaction,
)
from eth_hash.auto import keccak
from eth_keys import keys

SIGNING_KEY = keys.PrivateKey(keccak(b"native-devnet impersonation"))
# Who an impersonated transaction read back from the store recovers to (its signature's key).
SIGNING_ADDRESS = SIGNING_KEY.public_key.to_canonical_address()


class ImpersonatedTransaction(PragueTypedTransaction):
    impersonated = True

    def __init__(self, type_id: int, inner, sender: bytes) -> None:
        super().__init__(type_id, inner)
        self._impersonated_sender = sender

    def get_sender(self) -> bytes:
        return self._impersonated_sender


class ImpersonatedLegacyTransaction(PragueLegacyTransaction):
    """A legacy (type 0) transaction sent as an impersonated account."""

    impersonated = True

    def get_sender(self) -> bytes:
        return self._impersonated_sender


def impersonate(
    unsigned: UnsignedTransactionAPI, sender: bytes, chain_id: int | None = None
) -> SignedTransactionAPI:
    """``unsigned`` sent as ``sender``; a legacy one is signed for ``chain_id`` (EIP-155)."""
    if isinstance(unsigned, PragueUnsignedLegacyTransaction):
        legacy = ImpersonatedLegacyTransaction(
            *unsigned.as_signed_transaction(SIGNING_KEY, chain_id=chain_id)
        )
        legacy._impersonated_sender = sender
        return legacy
    signed = unsigned.as_signed_transaction(SIGNING_KEY)
    return ImpersonatedTransaction(signed.type_id, signed._inner, sender)


def is_impersonated(tx: SignedTransactionAPI) -> bool:
    return getattr(tx, "impersonated", False)
