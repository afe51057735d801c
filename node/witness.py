"""Execution witnesses recorded at the storage layer while a block is built.

Every value the block's import reads from the database — during execution, the system
calls, transaction validation and the post-state root computation — is captured, plus the
headers from the parent back to the oldest ancestor BLOCKHASH touched. The result is what
EXECUTE needs to re-execute the block on top of its parent (``debug_executionWitness``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import rlp
from eth.abc import AtomicDatabaseAPI, AtomicWriteBatchAPI, BlockHeaderAPI
from eth.db.backends.base import BaseAtomicDB, BaseDB
from eth_hash.auto import keccak

from precompiles.execute_wire import encode_witness

TRIE_NODE_ITEM_COUNTS = (2, 17)
WITNESS_PREFIX = b"native-devnet:witness:"


@dataclass(frozen=True)
class ExecutionWitness:
    state: list[bytes]
    codes: list[bytes]
    headers: list[bytes]  # header RLP, parent first

    def encode_rlp(self) -> bytes:
        """The canonical form EXECUTE takes: ``[headers, codes, state, keys]``."""
        return encode_witness(self.headers, self.codes, self.state)

    @property
    def size(self) -> int:
        return sum(map(len, self.state)) + sum(map(len, self.codes)) + sum(map(len, self.headers))


class RecordingDatabase(BaseAtomicDB):
    """Passes everything through to ``inner`` and remembers content-addressed reads."""

    def __init__(self, inner: AtomicDatabaseAPI) -> None:
        self.inner = inner
        self.reads: dict[bytes, bytes] = {}
        self.written: set[bytes] = set()  # what the block wrote is not pre-state

    def __getitem__(self, key: bytes) -> bytes:
        value = self.inner[key]
        self.record(key, value)
        return value

    def record(self, key: bytes, value: bytes) -> None:
        if len(key) == 32 and key not in self.written:
            self.reads[key] = value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.written.add(key)
        self.inner[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self.inner[key]

    def _exists(self, key: bytes) -> bool:
        return key in self.inner

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError("not iterable")

    def __len__(self) -> int:
        raise NotImplementedError("no length")

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        with self.inner.atomic_batch() as batch:
            yield _RecordingBatch(batch, self)

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


class _RecordingBatch(BaseDB):
    """py-evm's write batch, seen through the recorder: writes are remembered as the
    block's own, reads of older keys as witness."""

    def __init__(self, batch: AtomicWriteBatchAPI, recorder: RecordingDatabase) -> None:
        self.batch = batch
        self.recorder = recorder

    def __getitem__(self, key: bytes) -> bytes:
        value = self.batch[key]
        self.recorder.record(key, value)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.recorder.written.add(key)
        self.batch[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self.batch[key]

    def _exists(self, key: bytes) -> bool:
        return key in self.batch


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


class WitnessStore:
    """Execution witnesses by block hash, kept in the chain's database."""

    def __init__(self, db: AtomicDatabaseAPI) -> None:
        self.db = db

    def __setitem__(self, block_hash: bytes, witness: ExecutionWitness) -> None:
        self.db[WITNESS_PREFIX + block_hash] = rlp.encode(
            [witness.state, witness.codes, witness.headers]
        )

    def get(self, block_hash: bytes) -> ExecutionWitness | None:
        try:
            raw = self.db[WITNESS_PREFIX + block_hash]
        except KeyError:
            return None
        state, codes, headers = rlp.decode(raw)
        return ExecutionWitness(state=state, codes=codes, headers=headers)

    def __getitem__(self, block_hash: bytes) -> ExecutionWitness:
        witness = self.get(block_hash)
        if witness is None:
            raise KeyError(block_hash)
        return witness

    def __contains__(self, block_hash: bytes) -> bool:
        return (WITNESS_PREFIX + block_hash) in self.db
