"""Receipts as users read them: per-transaction gas, sender, contract address and log
offsets, decoded from a block once and kept for the most recently used blocks.

py-evm's receipts carry cumulative gas only; ``ReceiptInfo`` adds what ``eth_getReceipt``
and the tracers need. The cache is bounded (``MAX_CACHED_RECEIPT_BLOCKS``): older blocks are
decoded again from the database when asked for.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import rlp
from eth.abc import (
    AtomicDatabaseAPI,
    BlockAPI,
    BlockHeaderAPI,
    ChainDatabaseAPI,
    ReceiptAPI,
    SignedTransactionAPI,
)
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import TransactionNotFound
from eth_hash.auto import keccak

from node.errors import UnknownBlock
from node.impersonation import SIGNING_ADDRESS, is_impersonated

SENDER_PREFIX = b"native-devnet:impersonated-sender:"
# Blocks whose receipts (with per-transaction gas, sender and log offsets) stay decoded in
# memory, most recently used first; older ones are decoded again from the database.
MAX_CACHED_RECEIPT_BLOCKS = 128


@dataclass(frozen=True)
class ReceiptInfo:
    """One transaction's receipt as users read it: per-tx gas, sender, contract address."""

    transaction: SignedTransactionAPI
    transaction_hash: bytes
    index: int
    block_hash: bytes
    block_number: int
    block_timestamp: int
    sender: bytes
    receipt: ReceiptAPI
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: int
    contract_address: bytes | None
    first_log_index: int

    @property
    def status(self) -> int:
        return 1 if self.receipt.state_root == b"\x01" else 0


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int) -> int:
    return min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + base_fee)


@lru_cache(maxsize=4096)
def contract_address(sender: bytes, nonce: int) -> bytes:
    """The address a creation by ``sender`` at ``nonce`` deploys to."""
    return keccak(rlp.encode([sender, nonce]))[12:]


class RecentlyUsed:
    """A mapping that keeps its ``size`` most recently used entries (thread-safe: the
    chain writer fills it while the event loop reads it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class ReceiptStore:
    """The chain's receipts by block, with impersonated senders kept beside them."""

    def __init__(
        self,
        db: AtomicDatabaseAPI,
        chaindb: ChainDatabaseAPI,
        block_by_header: Callable[[BlockHeaderAPI], BlockAPI],
        header_by_number: Callable[[int], BlockHeaderAPI],
    ) -> None:
        self.db = db
        self.chaindb = chaindb
        self._block_by_header = block_by_header
        self._header_by_number = header_by_number
        self.cache = RecentlyUsed(MAX_CACHED_RECEIPT_BLOCKS)

    def record_senders(self, block: BlockAPI) -> None:
        """Keep the sender of each impersonated transaction (its signature names nobody);
        call inside the block's database transaction."""
        for tx in block.transactions:
            if is_impersonated(tx):
                self.db[SENDER_PREFIX + tx.hash] = tx.sender

    def add(self, block: BlockAPI, receipts: Iterable[ReceiptAPI]) -> list[ReceiptInfo]:
        """The receipts of a block just built, kept without a re-read of the trie."""
        infos = self._make_receipt_infos(block, receipts)
        self.cache.put(block.hash, infos)
        return infos

    def of(self, header: BlockHeaderAPI) -> list[ReceiptInfo]:
        cached = self.cache.get(header.hash)
        if cached is None:
            block = self._block_by_header(header)
            cached = self._make_receipt_infos(block, block.get_receipts(self.chaindb))
            self.cache.put(header.hash, cached)
        return cached

    def find_transaction(self, tx_hash: bytes) -> ReceiptInfo | None:
        """The mined transaction with this hash and its receipt, or None."""
        try:
            number, index = self.chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return None
        try:
            header = self._header_by_number(number)
        except UnknownBlock:
            return None
        receipts = self.of(header)
        if index < len(receipts) and receipts[index].transaction_hash == tx_hash:
            return receipts[index]
        return None

    def _make_receipt_infos(
        self, block: BlockAPI, receipts: Iterable[ReceiptAPI]
    ) -> list[ReceiptInfo]:
        infos = []
        previous_cumulative = 0
        log_index = 0
        base_fee = block.header.base_fee_per_gas
        for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
            sender = self._recorded_sender(tx)
            contract = None
            if tx.to == CREATE_CONTRACT_ADDRESS:
                contract = contract_address(sender, tx.nonce)
            infos.append(
                ReceiptInfo(
                    transaction=tx,
                    transaction_hash=tx.hash,
                    index=index,
                    block_hash=block.hash,
                    block_number=block.number,
                    block_timestamp=block.header.timestamp,
                    sender=sender,
                    receipt=receipt,
                    gas_used=receipt.gas_used - previous_cumulative,
                    cumulative_gas_used=receipt.gas_used,
                    effective_gas_price=effective_gas_price(tx, base_fee),
                    contract_address=contract,
                    first_log_index=log_index,
                )
            )
            previous_cumulative = receipt.gas_used
            log_index += len(receipt.logs)
        return infos

    def _recorded_sender(self, tx: SignedTransactionAPI) -> bytes:
        """The sender, also for a transaction sent by an impersonated account."""
        sender = tx.sender
        if is_impersonated(tx) or sender != SIGNING_ADDRESS:
            return sender  # only a transaction signed by the impersonation key can have a record
        try:
            return self.db[SENDER_PREFIX + tx.hash]
        except KeyError:
            return sender
