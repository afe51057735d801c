"""Polled filters (``eth_newFilter`` … ``eth_uninstallFilter``), kept per node as geth keeps them:
the ``RpcServer`` owns the ``FilterStore`` (as it owns the subscription hub), and a node's public
and authenticated servers share one, so a filter installed on one port is polled on the other.

A filter remembers the head it last reported; ``eth_getFilterChanges`` answers what happened
since: block hashes for a block filter, matching logs of the new blocks for a log filter (as
geth: a filter created with a past ``fromBlock`` reports only logs of blocks mined after it;
``eth_getFilterLogs`` answers the whole range), and the transactions the pool accepted for a
pending-transaction filter (hashes, or objects when created with ``true``).

Block and log changes are read back from the chain at poll time, so they need no buffer; after
an ``evm_revert`` or ``anvil_reset`` a filter resumes from the newest block the old and new
chains share. Pending transactions are buffered, at most ``MAX_PENDING_TRANSACTIONS`` per
filter (the oldest are dropped first, with one log line).

Filters nobody polls for ``FILTER_TIMEOUT_SECONDS`` are removed (geth's five minutes); any use
of a filter (``eth_getFilterChanges`` or ``eth_getFilterLogs``) restarts its clock. At most
``MAX_FILTERS`` live at once: past that, installing answers an error until some expire or are
uninstalled. Ids are geth's: 16 random bytes as a hex quantity.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from eth.abc import BlockHeaderAPI, SignedTransactionAPI

from node.devnet import Devnet
from node.logs import LogFilter, fixed_bound, fork_point
from rpc import params as parse
from rpc import shapes
from rpc.errors import SERVER_ERROR, InvalidParams, RpcError
from rpc.params import REQUIRED, parse_params
from rpc.shapes import hexb

log = logging.getLogger("native_devnet.rpc")

FILTER_TIMEOUT_SECONDS = 300.0
MAX_FILTERS = 10_000
MAX_PENDING_TRANSACTIONS = 10_000
SWEEP_INTERVAL_SECONDS = 1.0  # expired filters are swept at most this often

# name → async fn(store, devnet, params); ``FilterStore.methods`` binds them to a store.
METHODS: dict[str, Callable[..., Awaitable[Any]]] = {}


def method(name: str) -> Callable:
    """Register a filter method (``FilterStore.methods`` serves it with the server's store)."""

    def register(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        METHODS[name] = fn
        return fn

    return register


def new_id() -> str:
    """An id as geth mints filter and subscription ids: 16 random bytes as a hex quantity."""
    return "0x" + (secrets.token_hex(16).lstrip("0") or "0")


class FilterKind(Enum):
    LOGS = "logs"
    BLOCKS = "blocks"
    PENDING_TRANSACTIONS = "pendingTransactions"


@dataclass
class Filter:
    kind: FilterKind
    last_block: int  # the head when the filter was created or last polled …
    last_hash: bytes  # … and its hash, to notice a revert or reset in between
    deadline: float
    criteria: LogFilter | None = None  # log filters: what they match
    full_transactions: bool = False  # pending filters: transaction objects instead of hashes
    pending: deque[tuple[SignedTransactionAPI, bytes]] = field(
        default_factory=lambda: deque(maxlen=MAX_PENDING_TRANSACTIONS)
    )
    overflowed: bool = False


class FilterNotFound(RpcError):
    def __init__(self) -> None:
        super().__init__(SERVER_ERROR, "filter not found")


class FilterStore:
    """A node's installed filters: ids, idle deadlines and the pending-transaction buffers.
    The RPC server owns it (the public and the authenticated server of one node share one)."""

    def __init__(
        self,
        timeout: float = FILTER_TIMEOUT_SECONDS,
        max_filters: int = MAX_FILTERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.max_filters = max_filters
        self.clock = clock
        self.filters: dict[str, Filter] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self.filters)

    def listen(self, devnet: Devnet) -> None:
        """Buffer the transactions ``devnet``'s pool accepts (once, however many servers)."""
        if self.on_pending not in devnet.pending_listeners:
            devnet.pending_listeners.append(self.on_pending)

    def close(self, devnet: Devnet) -> None:
        if self.on_pending in devnet.pending_listeners:
            devnet.pending_listeners.remove(self.on_pending)

    def methods(self) -> dict[str, Callable[[Devnet, Any], Awaitable[Any]]]:
        """The filter methods served with this store, as the server's method table takes them."""
        return {name: functools.partial(fn, self) for name, fn in METHODS.items()}

    def install(self, kind: FilterKind, head: BlockHeaderAPI, **options: Any) -> str:
        self.expire()
        if len(self.filters) >= self.max_filters:
            raise RpcError(SERVER_ERROR, f"too many filters installed (max {self.max_filters})")
        filter_id = new_id()
        self.filters[filter_id] = Filter(
            kind, head.block_number, head.hash, self.clock() + self.timeout, **options
        )
        return filter_id

    def use(self, filter_id: str) -> Filter:
        """The live filter ``filter_id``, its idle clock restarted; else ``FilterNotFound``."""
        self.expire()
        found = self.filters.get(filter_id.lower())
        now = self.clock()
        if found is None or found.deadline <= now:
            raise FilterNotFound()
        found.deadline = now + self.timeout
        return found

    def uninstall(self, filter_id: str) -> bool:
        return self.filters.pop(filter_id.lower(), None) is not None

    def expire(self, force: bool = False) -> list[str]:
        """Remove filters idle past their deadline (swept at most once a second)."""
        now = self.clock()
        if not force and now < self._next_sweep:
            return []
        self._next_sweep = now + min(self.timeout, SWEEP_INTERVAL_SECONDS)
        expired = [i for i, f in self.filters.items() if f.deadline <= now]
        for filter_id in expired:
            del self.filters[filter_id]
        if expired:
            log.info("%d idle filter(s) expired", len(expired))
        return expired

    def on_pending(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        """Pool listener: buffer the transaction for every pending-transaction filter."""
        self.expire()
        for filter_id, found in self.filters.items():
            if found.kind is not FilterKind.PENDING_TRANSACTIONS:
                continue
            if len(found.pending) == found.pending.maxlen and not found.overflowed:
                found.overflowed = True
                log.warning(
                    "filter %s: more than %d unpolled transactions, dropping the oldest",
                    filter_id,
                    found.pending.maxlen,
                )
            found.pending.append((tx, sender))


# -- what a filter reports ----------------------------------------------------------------


def new_block_hashes(devnet: Devnet, since: int) -> list[str]:
    head = devnet.head.block_number
    return [hexb(devnet.header_at(n).hash) for n in range(since + 1, head + 1)]


# -- methods ------------------------------------------------------------------------------


def _filter_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidParams(f"{what}: expected a filter id (0x-prefixed hex string)")
    return value


@method("eth_newFilter")
async def new_filter(store: FilterStore, devnet: Devnet, params: Any) -> str:
    """Install a log filter with ``eth_getLogs`` criteria."""
    (criteria,) = parse_params(params, [(parse.log_filter, REQUIRED, "filter")])
    if criteria.block_hash is not None:
        devnet.header_by_hash(criteria.block_hash)  # unknown block: an error now
    else:
        lower = fixed_bound(devnet, criteria.from_block)
        upper = fixed_bound(devnet, criteria.to_block)
        if lower is not None and upper is not None and lower > upper:
            raise RpcError(SERVER_ERROR, "invalid from and to block combination")
    return store.install(FilterKind.LOGS, devnet.head, criteria=criteria)


@method("eth_newBlockFilter")
async def new_block_filter(store: FilterStore, devnet: Devnet, params: Any) -> str:
    """Install a filter reporting the hashes of new blocks."""
    parse_params(params, [])
    return store.install(FilterKind.BLOCKS, devnet.head)


@method("eth_newPendingTransactionFilter")
async def new_pending_transaction_filter(store: FilterStore, devnet: Devnet, params: Any) -> str:
    """Install a filter reporting transactions the pool accepts (hashes, or full with true)."""
    (full,) = parse_params(params, [(parse.boolean, False, "fullTransactions")])
    return store.install(FilterKind.PENDING_TRANSACTIONS, devnet.head, full_transactions=full)


@method("eth_getFilterChanges")
async def get_filter_changes(store: FilterStore, devnet: Devnet, params: Any) -> list[Any]:
    """What the filter saw since it was last polled."""
    (filter_id,) = parse_params(params, [(_filter_id, REQUIRED, "filterId")])
    found = store.use(filter_id)
    if found.kind is FilterKind.PENDING_TRANSACTIONS:
        pending = list(found.pending)
        found.pending.clear()
        found.overflowed = False
        if found.full_transactions:
            return [shapes.transaction_json(tx, sender=sender) for tx, sender in pending]
        return [hexb(tx.hash) for tx, _ in pending]
    since = fork_point(devnet, found.last_block, found.last_hash)
    found.last_block, found.last_hash = devnet.head.block_number, devnet.head.hash
    if found.kind is FilterKind.BLOCKS:
        return new_block_hashes(devnet, since)
    # off the event loop, as eth_getLogs: the filter may not have been polled for long
    return [shapes.found_log_json(log) for log in await devnet.logs(found.criteria, since)]


@method("eth_getFilterLogs")
async def get_filter_logs(store: FilterStore, devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    """Every log a log filter's criteria match (as ``eth_getLogs``)."""
    (filter_id,) = parse_params(params, [(_filter_id, REQUIRED, "filterId")])
    found = store.use(filter_id)
    if found.kind is not FilterKind.LOGS:
        raise FilterNotFound()
    return [shapes.found_log_json(log) for log in await devnet.logs(found.criteria)]


@method("eth_uninstallFilter")
async def uninstall_filter(store: FilterStore, devnet: Devnet, params: Any) -> bool:
    """Remove a filter; false when there was none."""
    (filter_id,) = parse_params(params, [(_filter_id, REQUIRED, "filterId")])
    return store.uninstall(filter_id)
