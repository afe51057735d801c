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
of that root), at most ``MAX_SETTLED_ROOTS`` of them. The accounts of the two contracts an
empty block writes are remembered for the one state root the last empty block left
(``SettledQueues.last``): an empty block changes no code and no queue, so the next one on that
root skips the checks and the account reads (a root names its whole state, so the memo can
never be stale).
"""

from __future__ import annotations

from collections import OrderedDict

import rlp
from eth.abc import AtomicDatabaseAPI
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
from node.trie_batch import NodeStore, cache_for, encode_node, get, update

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
        # (state root, beacon-roots account, history account) after the last empty block:
        # every check passed at that root.
        self.last: tuple[bytes, _Account, _Account] | None = None

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

    def with_storage_root(self, storage_root: bytes) -> _Account:
        return _Account([self.nonce, self.balance, storage_root, self.code_hash])

    def encoded(self) -> bytes:
        """The account's RLP (byte for byte py-evm's: the fields are already canonical)."""
        return encode_node([self.nonce, self.balance, self.storage_root, self.code_hash])


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
    block_number: int,
    timestamp: int,
    parent_hash: bytes,
    parent_beacon_block_root: bytes,
    queues: SettledQueues,
) -> bytes | None:
    """The post-state root of the transaction-less block ``block_number`` (its header's
    ``timestamp``, ``parent_hash`` and ``parent_beacon_block_root``) on ``pre_state_root``,
    its nodes written to ``db``; None when the block needs the EVM."""
    store = NodeStore(db, cache_for(db))
    last = queues.last
    if last is not None and last[0] == pre_state_root:
        beacon, history = last[1], last[2]
    else:
        checked = _checked_accounts(store, pre_state_root, queues)
        if checked is None:
            return None
        beacon, history = checked
    slot = timestamp % HISTORY_BUFFER_LENGTH
    beacon = beacon.with_storage_root(
        update(
            store,
            beacon.storage_root,
            {
                _slot_key(slot): _slot_value(timestamp),
                _slot_key(slot + HISTORY_BUFFER_LENGTH): _slot_value(
                    int.from_bytes(parent_beacon_block_root, "big")
                ),
            },
            witness_order=False,  # no witness is recorded here (the chain re-runs the block)
        )
    )
    history = history.with_storage_root(
        update(
            store,
            history.storage_root,
            {
                _slot_key((block_number - 1) % HISTORY_SERVE_WINDOW): _slot_value(
                    int.from_bytes(parent_hash, "big")
                )
            },
        )
    )
    post_state_root = update(
        store,
        pre_state_root,
        {
            _HASHED_ADDRESSES[BEACON_ROOTS_ADDRESS]: beacon.encoded(),
            _HASHED_ADDRESSES[HISTORY_STORAGE_ADDRESS]: history.encoded(),
        },
    )
    queues.last = (post_state_root, beacon, history)
    return post_state_root


def _checked_accounts(
    store: NodeStore, state_root: bytes, queues: SettledQueues
) -> tuple[_Account, _Account] | None:
    """The beacon-roots and history accounts at ``state_root`` when an empty block there
    needs no EVM (canonical code in all four system contracts, both queues settled)."""
    beacon = _account(store, state_root, BEACON_ROOTS_ADDRESS)
    history = _account(store, state_root, HISTORY_STORAGE_ADDRESS)
    if beacon is None or beacon.code_hash != BEACON_ROOTS_CODE_HASH:
        return None
    if history is None or history.code_hash != HISTORY_CODE_HASH:
        return None
    for queue in QUEUES:
        account = _account(store, state_root, queue.address)
        if account is None or account.code_hash == EMPTY_CODE_HASH:
            continue  # no contract: py-evm makes no call
        if account.code_hash != queue.code_hash:
            return None
        if not queues.settled(store, account.storage_root):
            return None
    return beacon, history
