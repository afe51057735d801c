"""Log queries: which logs of which blocks match a filter, within the node's bounds.

``eth_getLogs``, polled log filters and ``logs`` subscriptions all answer from here. A query
names a block range (or one block by hash), a set of addresses and up to four topic positions,
each a set of alternatives or ``None`` for any. The bounds are geth's and the hosted
providers': blocks one query may scan and logs it may return (Infura's and Alchemy's 10 000);
past either the query fails with ``LimitExceeded`` and their wording.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth.abc import BlockHeaderAPI

from node.errors import LimitExceeded, UnknownBlock
from node.receipts import ReceiptInfo

if TYPE_CHECKING:
    from node.devnet import Devnet

# Flags --rpc-logs-max-range and --rpc-logs-max-results change the first two.
MAX_LOG_BLOCK_RANGE = 100_000
MAX_LOG_RESULTS = 10_000

BlockId = str | int | bytes  # a tag ("latest", "earliest", …), a number or a block hash
HEAD_TAGS = ("latest", "pending", "safe", "finalized")


@dataclass(frozen=True)
class LogLimits:
    """Bounds on one log query (``eth_getLogs``, ``eth_getFilterLogs``/``Changes``)."""

    max_block_range: int = MAX_LOG_BLOCK_RANGE
    max_results: int = MAX_LOG_RESULTS


@dataclass(frozen=True)
class LogFilter:
    """What a log query asks for: blocks ``from_block``..``to_block`` (or the one block
    ``block_hash``), logs of ``addresses`` (None: any) whose topics match ``topics`` position
    by position (None at a position: any topic)."""

    from_block: BlockId = "latest"
    to_block: BlockId = "latest"
    block_hash: bytes | None = None
    addresses: frozenset[bytes] | None = None
    topics: tuple[frozenset[bytes] | None, ...] = ()


@dataclass(frozen=True)
class FoundLog:
    """One matching log: the receipt it belongs to and its index within that receipt."""

    receipt: ReceiptInfo
    offset: int
    log: Any


def block_number_of(devnet: Devnet, block: BlockId) -> int:
    """The number of the block a block id names (``UnknownBlock`` if there is none)."""
    if block in HEAD_TAGS:
        return devnet.head.block_number
    if block == "earliest":
        return 0
    if isinstance(block, bytes):
        return devnet.header_by_hash(block).block_number
    return devnet.header_at(block).block_number


def logs_matching(
    devnet: Devnet, query: LogFilter, limits: LogLimits | None = None
) -> list[FoundLog]:
    """Logs matching ``query``, in chain order; ``limits`` bounds the blocks scanned and
    the logs returned (None: unbounded, for one block's subscription)."""
    headers: Iterable[BlockHeaderAPI]
    if query.block_hash is not None:
        headers = [devnet.header_by_hash(query.block_hash)]
    else:
        start = block_number_of(devnet, query.from_block)
        end = block_number_of(devnet, query.to_block)
        if limits is not None and end - start >= limits.max_block_range:
            raise LimitExceeded(
                f"query exceeds max block range {limits.max_block_range} (blocks {start} to {end})"
            )
        headers = (devnet.header_at(n) for n in range(start, end + 1))
    max_results = limits.max_results if limits is not None else None
    found = []
    for header in headers:
        if header.bloom == 0:
            continue
        for info in devnet.receipts(header):
            for offset, log in enumerate(info.receipt.logs):
                if query.addresses is not None and log.address not in query.addresses:
                    continue
                if not _topics_match(log.topics, query.topics):
                    continue
                if max_results is not None and len(found) == max_results:
                    raise LimitExceeded(f"query returned more than {max_results} results")
                found.append(FoundLog(info, offset, log))
    return found


def _topics_match(log_topics: Any, wanted: tuple[frozenset[bytes] | None, ...]) -> bool:
    if len(wanted) > len(log_topics):
        return False
    for position, options in enumerate(wanted):
        if options is None:
            continue
        topic = log_topics[position]
        topic_bytes = topic.to_bytes(32, "big") if isinstance(topic, int) else topic
        if topic_bytes not in options:
            return False
    return True


def fixed_bound(devnet: Devnet, block: BlockId) -> int | None:
    """A filter's block bound as a number; None for tags that follow the head."""
    if block in HEAD_TAGS:
        return None
    if block == "earliest":
        return 0
    if isinstance(block, bytes):
        return devnet.header_by_hash(block).block_number
    return block


def logs_since(
    devnet: Devnet, query: LogFilter, since: int, limits: LogLimits | None = None
) -> list[FoundLog]:
    """Logs matching ``query`` in the blocks after ``since`` up to the head (a polled
    filter's changes)."""
    head = devnet.head.block_number
    if query.block_hash is not None:
        number = devnet.header_by_hash(query.block_hash).block_number
        return logs_matching(devnet, query, limits) if since < number <= head else []
    low, high = since + 1, head
    lower = fixed_bound(devnet, query.from_block)
    upper = fixed_bound(devnet, query.to_block)
    if lower is not None:
        low = max(low, lower)
    if upper is not None:
        high = min(high, upper)
    if low > high:
        return []
    return logs_matching(devnet, LogFilter(low, high, None, query.addresses, query.topics), limits)


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
