"""Polled filters (``eth_newFilter`` … ``eth_uninstallFilter``), kept per node as geth keeps them.

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

import asyncio
import logging
import secrets
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from eth.abc import BlockHeaderAPI, SignedTransactionAPI

from node.devnet import Devnet
from node.errors import UnknownBlock
from rpc import codec
from rpc.codec import REQUIRED, hexb, parse_params
from rpc.errors import SERVER_ERROR, InvalidParams, RpcError
from rpc.eth import LogLimits, log_limits_of, logs_matching, query_logs
from rpc.eth import log_filter as log_criteria
from rpc.registry import Namespace

log = logging.getLogger("native_devnet.rpc")

FILTER_TIMEOUT_SECONDS = 300.0
MAX_FILTERS = 10_000
MAX_PENDING_TRANSACTIONS = 10_000
SWEEP_INTERVAL_SECONDS = 1.0  # expired filters are swept at most this often

UNBOUNDED_TAGS = ("latest", "pending", "safe", "finalized")

filters = Namespace()
method = filters.method
METHODS = filters.methods


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
    criteria: dict[str, Any] | None = None  # log filters: as ``rpc.eth.log_filter`` parses it
    full_transactions: bool = False  # pending filters: transaction objects instead of hashes
    pending: deque[tuple[SignedTransactionAPI, bytes]] = field(
        default_factory=lambda: deque(maxlen=MAX_PENDING_TRANSACTIONS)
    )
    overflowed: bool = False


class FilterNotFound(RpcError):
    def __init__(self) -> None:
        super().__init__(SERVER_ERROR, "filter not found")


class FilterStore:
    """A node's installed filters: ids, idle deadlines and the pending-transaction buffers."""

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


_STORES: weakref.WeakKeyDictionary[Devnet, FilterStore] = weakref.WeakKeyDictionary()


def attach(devnet: Devnet, store: FilterStore) -> FilterStore:
    """Make ``store`` the node's filter store (tests inject one with a short timeout)."""
    _STORES[devnet] = store
    devnet.pending_listeners.append(store.on_pending)
    return store


def store_of(devnet: Devnet) -> FilterStore:
    store = _STORES.get(devnet)
    return store if store is not None else attach(devnet, FilterStore())


# -- what a filter reports ----------------------------------------------------------------


def _block_bound(devnet: Devnet, block: str | int | bytes) -> int | None:
    """A criteria block as a number; None for tags that follow the head."""
    if block in UNBOUNDED_TAGS:
        return None
    if block == "earliest":
        return 0
    if isinstance(block, bytes):
        return devnet.header_by_hash(block).block_number
    return block


def fork_point(devnet: Devnet, number: int, block_hash: bytes) -> int:
    """The newest block shared by the current chain and the chain that had ``block_hash`` at
    ``number`` (that block itself unless ``evm_revert``/``anvil_reset`` rewound past it)."""
    head = devnet.head.block_number
    while number > 0:
        if number <= head and devnet.header_at(number).hash == block_hash:
            return number
        try:
            block_hash = devnet.chain.header_by_hash(block_hash).parent_hash
        except UnknownBlock:  # a reset dropped the old chain: only genesis is shared
            return 0
        number -= 1
    return 0


def new_block_hashes(devnet: Devnet, since: int) -> list[str]:
    head = devnet.head.block_number
    return [hexb(devnet.header_at(n).hash) for n in range(since + 1, head + 1)]


def new_logs(
    devnet: Devnet, criteria: dict[str, Any], since: int, limits: LogLimits | None = None
) -> list[dict[str, Any]]:
    """Logs matching ``criteria`` in the blocks after ``since`` up to the head."""
    head = devnet.head.block_number
    if "block_hash" in criteria:
        number = devnet.header_by_hash(criteria["block_hash"]).block_number
        return logs_matching(devnet, criteria, limits) if since < number <= head else []
    low, high = since + 1, head
    lower = _block_bound(devnet, criteria["from"])
    upper = _block_bound(devnet, criteria["to"])
    if lower is not None:
        low = max(low, lower)
    if upper is not None:
        high = min(high, upper)
    if low > high:
        return []
    return logs_matching(devnet, {**criteria, "from": low, "to": high}, limits)


# -- methods ------------------------------------------------------------------------------


def _filter_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidParams(f"{what}: expected a filter id (0x-prefixed hex string)")
    return value


@method("eth_newFilter")
async def new_filter(devnet: Devnet, params: Any) -> str:
    """Install a log filter with ``eth_getLogs`` criteria."""
    (criteria,) = parse_params(params, [(log_criteria, REQUIRED, "filter")])
    if "block_hash" in criteria:
        devnet.header_by_hash(criteria["block_hash"])  # unknown block: an error now
    else:
        lower = _block_bound(devnet, criteria["from"])
        upper = _block_bound(devnet, criteria["to"])
        if lower is not None and upper is not None and lower > upper:
            raise RpcError(SERVER_ERROR, "invalid from and to block combination")
    return store_of(devnet).install(FilterKind.LOGS, devnet.head, criteria=criteria)


@method("eth_newBlockFilter")
async def new_block_filter(devnet: Devnet, params: Any) -> str:
    """Install a filter reporting the hashes of new blocks."""
    parse_params(params, [])
    return store_of(devnet).install(FilterKind.BLOCKS, devnet.head)


@method("eth_newPendingTransactionFilter")
async def new_pending_transaction_filter(devnet: Devnet, params: Any) -> str:
    """Install a filter reporting transactions the pool accepts (hashes, or full with true)."""
    (full,) = parse_params(params, [(codec.boolean, False, "fullTransactions")])
    return store_of(devnet).install(
        FilterKind.PENDING_TRANSACTIONS, devnet.head, full_transactions=full
    )


@method("eth_getFilterChanges")
async def get_filter_changes(devnet: Devnet, params: Any) -> list[Any]:
    """What the filter saw since it was last polled."""
    (filter_id,) = parse_params(params, [(_filter_id, REQUIRED, "filterId")])
    found = store_of(devnet).use(filter_id)
    if found.kind is FilterKind.PENDING_TRANSACTIONS:
        pending = list(found.pending)
        found.pending.clear()
        found.overflowed = False
        if found.full_transactions:
            return [codec.transaction_json(tx, sender=sender) for tx, sender in pending]
        return [hexb(tx.hash) for tx, _ in pending]
    since = fork_point(devnet, found.last_block, found.last_hash)
    found.last_block, found.last_hash = devnet.head.block_number, devnet.head.hash
    if found.kind is FilterKind.BLOCKS:
        return new_block_hashes(devnet, since)
    # off the event loop, as eth_getLogs: the filter may not have been polled for long
    return await asyncio.to_thread(new_logs, devnet, found.criteria, since, log_limits_of(devnet))


@method("eth_getFilterLogs")
async def get_filter_logs(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    """Every log a log filter's criteria match (as ``eth_getLogs``)."""
    (filter_id,) = parse_params(params, [(_filter_id, REQUIRED, "filterId")])
    found = store_of(devnet).use(filter_id)
    if found.kind is not FilterKind.LOGS:
        raise FilterNotFound()
    return await query_logs(devnet, found.criteria)


@method("eth_uninstallFilter")
async def uninstall_filter(devnet: Devnet, params: Any) -> bool:
    """Remove a filter; false when there was none."""
    (filter_id,) = parse_params(params, [(_filter_id, REQUIRED, "filterId")])
    return store_of(devnet).uninstall(filter_id)
