"""Execution witnesses recorded at the storage layer while a block is built.

Every value the block's import reads from the database — during execution, the system
calls, transaction validation and the post-state root computation — is captured, plus the
headers from the parent back to the oldest ancestor BLOCKHASH touched. The result is what
EXECUTE needs to re-execute the block on top of its parent (``debug_executionWitness``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import rlp
from eth.abc import AtomicDatabaseAPI, AtomicWriteBatchAPI, BlockHeaderAPI
from eth.db.backends.base import BaseAtomicDB
from eth_hash.auto import keccak

TRIE_NODE_ITEM_COUNTS = (2, 17)


@dataclass(frozen=True)
class ExecutionWitness:
    state: list[bytes]
    codes: list[bytes]
    headers: list[bytes]  # header RLP, parent first

    def encode_rlp(self) -> bytes:
        """The canonical form EXECUTE takes: ``[headers, codes, state, keys]``."""
        return rlp.encode([self.headers, self.codes, self.state, []])

    @property
    def size(self) -> int:
        return sum(map(len, self.state)) + sum(map(len, self.codes)) + sum(map(len, self.headers))


class RecordingDatabase(BaseAtomicDB):
    """Passes everything through to ``inner`` and remembers content-addressed reads."""

    def __init__(self, inner: AtomicDatabaseAPI) -> None:
        self.inner = inner
        self.reads: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self.inner[key]
        if len(key) == 32:
            self.reads[key] = value
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.inner[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self.inner[key]

    def _exists(self, key: bytes) -> bool:
        return key in self.inner

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError("not iterable")

    def __len__(self) -> int:
        raise NotImplementedError("no length")

    def atomic_batch(self) -> AtomicWriteBatchAPI:
        return self.inner.atomic_batch()

    def split_reads(self) -> tuple[list[bytes], list[bytes]]:
        """Trie nodes and bytecodes among the reads (headers read by hash are left out)."""
        state, codes = [], []
        for key, value in self.reads.items():
            if keccak(value) != key:
                continue
            try:
                decoded = rlp.decode(value)
            except Exception:
                decoded = None
            if isinstance(decoded, list) and len(decoded) in TRIE_NODE_ITEM_COUNTS:
                state.append(value)
            elif isinstance(decoded, list) and len(decoded) > 17:
                continue  # a block header, read for BLOCKHASH; headers are listed apart
            else:
                codes.append(value)
        return state, codes


def witness_headers(
    parent: BlockHeaderAPI, oldest_ancestor: int | None, header_by_hash
) -> list[bytes]:
    """Headers from the parent back to the child of the oldest ancestor BLOCKHASH read,
    so every hash BLOCKHASH returned is proven by a hash-linked header."""
    headers = [parent]
    if oldest_ancestor is not None:
        while headers[-1].block_number > oldest_ancestor + 1:
            headers.append(header_by_hash(headers[-1].parent_hash))
    return [rlp.encode(h) for h in headers]
