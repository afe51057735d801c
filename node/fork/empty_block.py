"""Empty blocks without the EVM: the post-state root of a Prague block with no transactions,
computed straight on the tries.

Such a block changes only what its system calls write: the EIP-4788 beacon-roots contract
stores the timestamp and the parent beacon block root, the EIP-2935 history contract stores
the parent hash, and the EIP-7002/7251 request queues' end-of-block calls write nothing when
their queue is settled (empty, excess and count zero). ``empty_block_post_root`` checks that
all four contracts hold their canonical code and both queues are settled, then applies the
three storage writes and the two account updates as batches (``node.trie_batch``); it
answers None when anything else holds, and the builder then runs the block on py-evm.
A queue's settledness is remembered by its storage root (content-addressed, so always true
of that root), at most ``MAX_SETTLED_ROOTS`` of them.
"""

from __future__ import annotations

from collections import OrderedDict

import rlp
from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI
from eth.vm.forks.cancun.constants import (
    BEACON_ROOTS_ADDRESS,
    BEACON_ROOTS_CONTRACT_CODE,
    HISTORY_BUFFER_LENGTH,
)
from eth.vm.forks.prague.constants import (
    HISTORY_SERVE_WINDOW,
    HISTORY_STORAGE_ADDRESS,
    HISTORY_STORAGE_CONTRACT_CODE,
)
from eth_hash.auto import keccak

from node.fork.system_calls import COUNT_SLOT, EXCESS_SLOT, HEAD_SLOT, QUEUES, TAIL_SLOT
from node.trie_batch import NodeStore, cache_for, get, update

MAX_SETTLED_ROOTS = 64
EMPTY_CODE_HASH = keccak(b"")
BEACON_ROOTS_CODE_HASH = keccak(BEACON_ROOTS_CONTRACT_CODE)
HISTORY_CODE_HASH = keccak(HISTORY_STORAGE_CONTRACT_CODE)


def _slot_key(slot: int) -> bytes:
    return keccak(slot.to_bytes(32, "big"))


def _slot_value(value: int) -> bytes:
    return rlp.encode(value) if value else b""  # a zero slot is deleted


class SettledQueues:
    """Storage roots of request queues known settled (the system call writes nothing)."""

    def __init__(self, limit: int = MAX_SETTLED_ROOTS) -> None:
        self.limit = limit
        self._roots: OrderedDict[bytes, bool] = OrderedDict()

    def settled(self, store: NodeStore, storage_root: bytes) -> bool:
        known = self._roots.get(storage_root)
        if known is None:
            values = [
                int.from_bytes(rlp.decode(raw), "big") if raw else 0
                for raw in (
                    get(store, storage_root, _slot_key(slot))
                    for slot in (HEAD_SLOT, TAIL_SLOT, EXCESS_SLOT, COUNT_SLOT)
                )
            ]
            known = not any(values)
            self._roots[storage_root] = known
            while len(self._roots) > self.limit:
                self._roots.popitem(last=False)
        return known


class _Account:
    """An account's four RLP fields as stored (nonce and balance left encoded)."""

    __slots__ = ("nonce", "balance", "storage_root", "code_hash")

    def __init__(self, fields: list[bytes]) -> None:
        self.nonce, self.balance, self.storage_root, self.code_hash = fields

    def with_storage_root(self, storage_root: bytes) -> bytes:
        """The account's RLP with another storage root (byte for byte py-evm's)."""
        return rlp.encode([self.nonce, self.balance, storage_root, self.code_hash])


_HASHED_ADDRESSES: dict[bytes, bytes] = {}


def _account(store: NodeStore, state_root: bytes, address: bytes) -> _Account | None:
    key = _HASHED_ADDRESSES.get(address)
    if key is None:
        key = _HASHED_ADDRESSES[address] = keccak(address)
    raw = get(store, state_root, key)
    return _Account(rlp.decode(raw)) if raw else None


def empty_block_post_root(
    db: AtomicDatabaseAPI,
    pre_state_root: bytes,
    header: BlockHeaderAPI,
    queues: SettledQueues,
) -> bytes | None:
    """The post-state root of the transaction-less block of ``header`` on
    ``pre_state_root``, its nodes written to ``db``; None when the block needs the EVM."""
    store = NodeStore(db, cache_for(db))
    beacon = _account(store, pre_state_root, BEACON_ROOTS_ADDRESS)
    history = _account(store, pre_state_root, HISTORY_STORAGE_ADDRESS)
    if beacon is None or beacon.code_hash != BEACON_ROOTS_CODE_HASH:
        return None
    if history is None or history.code_hash != HISTORY_CODE_HASH:
        return None
    for queue in QUEUES:
        account = _account(store, pre_state_root, queue.address)
        if account is None or account.code_hash == EMPTY_CODE_HASH:
            continue  # no contract: py-evm makes no call
        if account.code_hash != queue.code_hash:
            return None
        if not queues.settled(store, account.storage_root):
            return None
    slot = header.timestamp % HISTORY_BUFFER_LENGTH
    beacon_root = update(
        store,
        beacon.storage_root,
        {
            _slot_key(slot): _slot_value(header.timestamp),
            _slot_key(slot + HISTORY_BUFFER_LENGTH): _slot_value(
                int.from_bytes(header.parent_beacon_block_root, "big")
            ),
        },
    )
    history_root = update(
        store,
        history.storage_root,
        {
            _slot_key((header.block_number - 1) % HISTORY_SERVE_WINDOW): _slot_value(
                int.from_bytes(header.parent_hash, "big")
            )
        },
    )
    return update(
        store,
        pre_state_root,
        {
            _HASHED_ADDRESSES[BEACON_ROOTS_ADDRESS]: beacon.with_storage_root(beacon_root),
            _HASHED_ADDRESSES[HISTORY_STORAGE_ADDRESS]: history.with_storage_root(history_root),
        },
    )
