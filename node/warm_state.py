"""Warm simulation states: one ``eth_call`` after another on the same block reuses a state.

Building a simulation state and reading the accounts a call touches through a cold state
(trie walks, key hashing, account decoding, storage tries opened) cost more than a short call
runs. A warm state is kept per (chain, block, state root, head, costless) and used the way
py-evm runs a nested call: checkpoint, run, discard. The discard rolls back every account,
storage and warm-access change (py-evm's journals); what survives is only read caches of the
same immutable state root, so the next call sees exactly what a fresh state would show.
Transient storage and the fork's per-call preparation (``prepare_simulation_state``) are
reset before each use.

Only plain calls take this path: a call with state or block overrides, an access recorder or
a tracer's ``prepare`` builds its own state as before. A state whose run raised is dropped,
never reused. Everything is bounded: a few keys, a few idle states per key (one per simulator
thread), and each state is dropped after ``MAX_USES`` runs or once its unbounded read caches
(storage opened per account, accessed accounts and code) pass ``MAX_CACHED_ACCOUNTS``.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import rlp
from eth.db.account import AccountDB
from eth.rlp.accounts import Account

T = TypeVar("T")

MAX_KEYS = 4  # distinct (block, root, head, costless) kept warm
MAX_IDLE_PER_KEY = 2  # idle states per key (the node has 2 simulator threads)
MAX_USES = 500  # runs of one state before it is dropped (bounds its read caches)
# A state that has opened more accounts' storage than this, or recorded more accessed accounts
# or analysed more code, is dropped after its run (one call may touch thousands).
MAX_CACHED_ACCOUNTS = 1000
MAX_DECODED_ACCOUNTS = 1024  # decoded account records a warm state keeps by their encoding


class WarmStates:
    """Idle warm states by key; a state is handed to one thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple, list[list[Any]]] = OrderedDict()

    def _take(self, key: tuple) -> list[Any] | None:
        with self._lock:
            states = self._idle.get(key)
            if states:
                self._idle.move_to_end(key)
                return states.pop()
            return None

    def _give_back(self, key: tuple, entry: list[Any]) -> None:
        with self._lock:
            states = self._idle.get(key)
            if states is None:
                states = self._idle[key] = []
                while len(self._idle) > MAX_KEYS:
                    self._idle.popitem(last=False)
            if len(states) < MAX_IDLE_PER_KEY:
                states.append(entry)

    def idle_count(self) -> int:
        with self._lock:
            return sum(len(states) for states in self._idle.values())

    def _lend(self, key: tuple, build: Callable[[], Any], reset: Callable[[Any], None]):
        entry = self._take(key)
        if entry is None:
            entry = [build(), 0]
        state = entry[0]
        reset(state)
        return entry, state, state.snapshot()

    def _return(self, key: tuple, entry: list[Any], snapshot: Any) -> None:
        state = entry[0]
        state.revert(snapshot)
        entry[1] += 1
        if entry[1] < MAX_USES and not too_big(state):
            self._give_back(key, entry)

    def run(
        self,
        key: tuple,
        build: Callable[[], Any],
        reset: Callable[[Any], None],
        fn: Callable[[Any], T],
    ) -> T:
        """``fn(state)`` on a state for ``key`` as ``use`` lends it (without a generator's
        cost: this is every plain ``eth_call``)."""
        entry, state, snapshot = self._lend(key, build, reset)
        result = fn(state)  # an exception leaves here: the state is dropped
        self._return(key, entry, snapshot)
        return result

    @contextmanager
    def use(self, key: tuple, build: Callable[[], Any], reset: Callable[[Any], None]) -> Iterator:
        """A state for ``key`` (an idle one or ``build()``), reset by ``reset`` and
        checkpointed; after the block it is rolled back and kept, unless the block raised."""
        entry, state, snapshot = self._lend(key, build, reset)
        yield state  # an exception leaves here: the state is dropped
        self._return(key, entry, snapshot)


_by_chain: weakref.WeakKeyDictionary[Any, WarmStates] = weakref.WeakKeyDictionary()
_by_chain_lock = threading.Lock()


def warm_states(chain: Any) -> WarmStates:
    """The warm states of ``chain`` (made on first use)."""
    with _by_chain_lock:
        states = _by_chain.get(chain)
        if states is None:
            states = _by_chain[chain] = WarmStates()
        return states


def too_big(state: Any) -> bool:
    """Whether ``state``'s read caches passed ``MAX_CACHED_ACCOUNTS`` (py-evm's account and
    storage caches are bounded LRUs; these are the parts that are not)."""
    db = state._account_db
    sizes = (
        len(getattr(db, "_account_stores", ())),
        len(getattr(db, "_accessed_accounts", ())),
        len(getattr(db, "_accessed_bytecodes", ())),
        len(state.__dict__.get("_jump_analyses", ())),
    )
    return max(sizes) > MAX_CACHED_ACCOUNTS


def memoize_account_decoding(state: Any) -> None:
    """Make ``state`` decode each account record once. py-evm's account cache is emptied by
    every rollback, so a reused state would decode the same records (RLP in Python, a few
    per call) again on every run; an account record decodes to an immutable ``Account``, so
    the decoded value is kept by the encoded bytes (at most ``MAX_DECODED_ACCOUNTS``).
    Lookups otherwise go as py-evm's ``AccountDB._get_account``: the account cache first,
    then the journal and the trie. A database class with its own ``_get_account`` is left
    alone."""
    db = state._account_db
    if type(db)._get_account is not AccountDB._get_account:
        return
    decoded: dict[bytes, Account] = {}

    def get_account(address: bytes, from_journal: bool = True) -> Account:
        cache = db._account_cache
        if from_journal and address in cache:
            return cache[address]
        encoded = db._get_encoded_account(address, from_journal)
        if encoded:
            account = decoded.get(encoded)
            if account is None:
                if len(decoded) >= MAX_DECODED_ACCOUNTS:
                    decoded.clear()
                account = decoded[encoded] = rlp.decode(encoded, sedes=Account)
        else:
            account = Account()
        if from_journal:
            cache[address] = account
        return account

    db._get_account = get_account  # this state's database only


def reset_transient_storage(state: Any) -> None:
    """EIP-1153 storage lasts one transaction: a reused state starts without it."""
    if getattr(state, "_transient_storage", None) is not None:
        state._transient_storage = None
