"""py-evm's ``AccountDB`` with the state root made by batches (``node.trie_batch``).

py-evm writes every changed account into the account trie one key at a time
(``make_state_root``), and every storage write into its account's storage trie one slot at a
time (``StorageLookup``), rehashing the path from the root on each. Here the changes are
collected and applied once per root: the account trie gets the block's dirty accounts as one
batch, each storage trie the slots written since its last root as one batch. Journaling,
reverts, storage wipes (``new_trie``/``rollback_trie``) and what ``persist`` commits are
py-evm's; the roots and the stored nodes are the same (``tests/unit/test_trie_batch.py`` and
``tests/unit/test_account_db_batch.py``).

Nodes are read through one decoded-node cache per underlying database. When the database
is a ``RecordingDatabase`` (a block built with its witness), the cache is its inner
database's and every node it serves is reported to the recorder, so the witness holds the
same nodes as without the cache.
"""

from __future__ import annotations

from eth.constants import BLANK_ROOT_HASH
from eth.db.accesslog import KeyAccessLoggerDB
from eth.db.account import AccountDB
from eth.db.batch import BatchDB
from eth.db.cache import CacheDB
from eth.db.hash_trie import HashTrie
from eth.db.journal import JournalDB
from eth.db.storage import AccountStorageDB, StorageLookup
from eth.vm.interrupt import MissingAccountTrieNode, MissingStorageTrieNode
from eth_hash.auto import keccak
from eth_utils import ValidationError
from trie.exceptions import MissingTrieNode

from node.trie_batch import NodeCache, NodeStore, Recorder, cache_for, get, update
from node.witness import RecordingDatabase


def cache_and_recorder(db: object) -> tuple[NodeCache | None, Recorder | None]:
    if isinstance(db, RecordingDatabase):
        return cache_for(db.inner), db
    return cache_for(db), None


class _TrieState:
    """A storage trie between two roots: the root with every flushed write, the writes
    not yet applied, and where its new nodes wait for ``commit_to``."""

    __slots__ = ("root", "pending", "store", "starting_root")

    def __init__(self, root: bytes, pending: dict, store: NodeStore | None, starting_root: bytes):
        self.root = root
        self.pending = pending
        self.store = store
        self.starting_root = starting_root


class BatchStorageLookup(StorageLookup):
    """``StorageLookup`` whose writes wait in a dict until a root is asked for, then go in
    as one batch. ``has_changed_root`` and the wipe stack behave as py-evm's."""

    def __init__(self, db, storage_root, address, cache, recorder) -> None:
        self._cache = cache
        self._recorder = recorder
        super().__init__(db, storage_root, address)

    def _initialize_to_root_hash(self, root_hash: bytes) -> None:
        self._starting_root_hash = root_hash
        self._root = root_hash
        self._pending: dict[bytes, bytes] = {}
        self._store: NodeStore | None = None
        self._changed = False
        self._historical_write_tries = []

    def _write_store(self) -> NodeStore:
        if self._store is None:
            batch = BatchDB(self._db, read_through_deletes=True)
            self._store = NodeStore(batch, self._cache, self._recorder)
        return self._store

    def _missing(self, exc: MissingTrieNode) -> MissingStorageTrieNode:
        return MissingStorageTrieNode(
            exc.missing_node_hash,
            self._starting_root_hash,
            exc.requested_key,
            exc.prefix,
            self._address,
        )

    def __getitem__(self, key: bytes) -> bytes:
        hashed_slot = self._decode_key(key)
        if hashed_slot in self._pending:
            return self._pending[hashed_slot]
        store = self._store or NodeStore(self._db, self._cache, self._recorder)
        try:
            return get(store, self._root, hashed_slot)
        except MissingTrieNode as exc:
            raise self._missing(exc) from exc

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._write_store()
        self._pending[self._decode_key(key)] = value
        self._changed = True

    def __delitem__(self, key: bytes) -> None:
        self[key] = b""

    def _exists(self, key: bytes) -> bool:
        return self[key] != b""

    @property
    def has_changed_root(self) -> bool:
        return self._changed

    def _flush(self) -> None:
        if self._pending:
            try:
                self._root = update(self._write_store(), self._root, self._pending)
            except MissingTrieNode as exc:
                raise self._missing(exc) from exc
            self._pending = {}

    def get_changed_root(self) -> bytes:
        if not self._changed:
            raise ValidationError("Asked for changed root when no writes have been made")
        self._flush()
        return self._root

    def commit_to(self, db) -> None:
        if not self._changed:
            raise ValidationError("no pending storage changes to commit")
        self._flush()
        self._write_store().db.commit_to(db, apply_deletes=False)
        self._initialize_to_root_hash(self._root)

    def new_trie(self) -> int:
        self._write_store()
        self._historical_write_tries.append(
            _TrieState(self._root, self._pending, self._store, self._starting_root_hash)
        )
        self._starting_root_hash = BLANK_ROOT_HASH
        self._root = BLANK_ROOT_HASH
        self._pending = {}
        self._store = None
        self._changed = False
        return len(self._historical_write_tries)

    def rollback_trie(self, trie_index: int) -> None:
        if trie_index >= len(self._historical_write_tries):
            raise ValidationError(
                f"Trying to roll back a delete to index {trie_index}, but there are "
                f"only {len(self._historical_write_tries)} indices available."
            )
        state = self._historical_write_tries[trie_index]
        self._root = state.root
        self._pending = state.pending
        self._store = state.store
        self._starting_root_hash = state.starting_root
        self._changed = True  # py-evm's lookup has a write trie again
        del self._historical_write_tries[trie_index:]


class BatchAccountStorageDB(AccountStorageDB):
    """py-evm's account storage over a ``BatchStorageLookup``."""

    def __init__(self, db, storage_root, address, cache=None, recorder=None) -> None:
        super().__init__(db, storage_root, address)
        self._storage_lookup = BatchStorageLookup(db, storage_root, address, cache, recorder)
        self._storage_cache = CacheDB(self._storage_lookup)
        self._locked_changes = JournalDB(self._storage_cache)
        self._journal_storage = JournalDB(self._locked_changes)


class CachedTrieReader:
    """What ``AccountDB`` reads accounts through (py-evm: a ``HexaryTrie``): the value at a
    key under ``root_hash``, nodes read through a ``NodeStore`` and its cache."""

    def __init__(self, store: NodeStore, root_hash: bytes) -> None:
        self.store = store
        self.root_hash = root_hash

    def __getitem__(self, key: bytes) -> bytes:
        return get(self.store, self.root_hash, key)

    def __contains__(self, key: bytes) -> bool:
        return self[key] != b""


class BatchAccountDB(AccountDB):
    """``AccountDB`` whose account trie and storage tries are updated in batches, and whose
    account reads go through the node cache."""

    def __init__(self, db, state_root=BLANK_ROOT_HASH) -> None:
        super().__init__(db, state_root)
        self._node_cache, self._recorder = cache_and_recorder(db)
        self._account_nodes = NodeStore(self._batchtrie, self._node_cache, self._recorder)
        # py-evm's read pipe (see AccountDB.__init__) over the cached reader.
        self._trie = HashTrie(CachedTrieReader(self._account_nodes, state_root))
        self._trie_logger = KeyAccessLoggerDB(self._trie, log_missing_keys=False)
        self._trie_cache = CacheDB(self._trie_logger)
        self._journaltrie = JournalDB(self._trie_cache)

    def _get_address_store(self, address):
        store = self._account_stores.get(address)
        if store is None:
            store = BatchAccountStorageDB(
                self._raw_store_db,
                self._get_storage_root(address),
                address,
                self._node_cache,
                self._recorder,
            )
            self._account_stores[address] = store
        return store

    def make_state_root(self) -> bytes:
        for _address, store in self._dirty_account_stores():
            store.make_storage_root()
        for address, storage_root in self._get_changed_roots():
            if self.account_exists(address) or storage_root != BLANK_ROOT_HASH:
                self._set_storage_root(address, storage_root)
        self._journaldb.persist()

        diff = self._journaltrie.diff()
        changes = {keccak(address): b"" for address in diff.deleted_keys()}
        for address, encoded in diff.pending_items():
            changes[keccak(address)] = encoded
        if changes:
            try:
                root = update(self._account_nodes, self._trie.root_hash, changes)
            except MissingTrieNode as exc:
                raise MissingAccountTrieNode(
                    exc.missing_node_hash, self._root_hash_at_last_persist, exc.requested_key
                ) from exc
            self._trie.root_hash = root
        self._journaltrie.reset()
        self._trie_cache.reset_cache()
        return self.state_root
