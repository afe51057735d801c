"""The pending block: the block the node would mine next, built on a throw-away overlay of
the chain's database (nothing is written). geth and anvil answer it for the ``pending`` tag:
number head + 1, the pool's executable transactions in inclusion order, executed (gas used
and roots are real); invalid ones are left out as the block builder leaves them out.

Every state read at ``pending`` (balances, code, storage, proofs, calls, estimates, access
lists, ``eth_simulateV1``, ``debug_traceCall``) reads the state after that block, through a
``PendingChain``: the chain seen from the overlay. ``PendingBlocks`` builds the block once
per (head, head state, executable pool transactions, next block's fields and time) and keeps
that one entry, so many pending reads between two changes build it once.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass

import rlp
from eth.abc import AtomicDatabaseAPI, BlockAPI, BlockHeaderAPI
from eth.constants import ZERO_ADDRESS, ZERO_HASH32
from eth.db.atomic import AtomicDB
from eth.db.batch import BatchDB
from eth_hash.auto import keccak

from node.chain import Chain, ChainQueries
from node.fork.l1 import L1ChainDB
from node.interrupt import Deadline
from node.mining import MAX_TIMESTAMP
from node.pool import PooledTransaction
from node.read_view import ReadView, ReadViews
from node.vm import VMFactory

# Pending states a request may still name: the cached one and the one it replaced (a request
# that resolved ``pending`` just before a new transaction arrived still reads its own).
PENDING_VIEWS = 2


@dataclass(frozen=True)
class PendingBlock:
    """The next block as it would be mined now, with each transaction's sender, the root of
    the state after it and the overlay database that holds that state (and the block's
    header, so its descendants' BLOCKHASH finds it)."""

    block: BlockAPI
    senders: tuple[bytes, ...]
    state_root: bytes
    db: AtomicDatabaseAPI

    @property
    def header(self) -> BlockHeaderAPI:
        return self.block.header


def build_pending_block(
    chain: Chain,
    parent: BlockHeaderAPI,
    pooled: Sequence[PooledTransaction],
    timestamp: int,
    fields: dict,
    deadline: Deadline | None = None,
) -> PendingBlock:
    """Execute ``pooled`` in order on top of ``parent`` with the next block's header fields
    (``fields``: the test-node controls' choices, as ``Chain.build_block`` takes them).
    With a ``deadline``, the transactions' execution stops once it passes."""
    # After the parent's; at a parent at 2**64 - 1, where no block can follow, the header
    # still has to be one that can exist.
    timestamp = min(max(timestamp, parent.timestamp + 1), MAX_TIMESTAMP)
    chosen = {}
    if fields.get("gas_limit") is not None:
        chosen["gas_limit"] = fields["gas_limit"]
    header = chain.vm_class.create_header_from_parent(
        parent,
        timestamp=timestamp,
        coinbase=fields.get("coinbase", ZERO_ADDRESS),
        mix_hash=fields.get("prev_randao") or keccak(parent.hash + b"prevrandao"),
        parent_beacon_block_root=fields.get("parent_beacon_block_root", ZERO_HASH32),
        state_root=chain.state_root_after(parent),
        **chosen,
    )
    if fields.get("base_fee_per_gas") is not None:
        header = header.copy(base_fee_per_gas=fields["base_fee_per_gas"])
    overlay = AtomicDB(BatchDB(chain.db))  # writes stay in the batch, never committed
    vm = chain.vm_factory.vm(header, chaindb=L1ChainDB(overlay))
    if deadline is not None:
        deadline.install(vm.state)
    block = vm.build_block([p.transaction for p in pooled])
    # In the block's own transaction classes (as a stored block is read back), so it encodes.
    decode = chain.transaction_builder.decode
    block = block.copy(transactions=[decode(tx.encode()) for tx in block.transactions])
    overlay[block.header.hash] = rlp.encode(block.header)  # found as a parent, in the overlay
    sender_of = {p.hash: p.sender for p in pooled}
    return PendingBlock(
        block,
        tuple(sender_of[tx.hash] for tx in block.transactions),
        vm.post_state_root,
        overlay,
    )


def next_timestamp(chosen: int | None, time_offset: int) -> int:
    """The timestamp the next block would get now: the chosen one, else the clock."""
    return chosen if chosen is not None else int(time.time()) + time_offset


class PendingChain(ChainQueries):
    """``chain`` seen with its pending block: at the pending header, reads and simulations
    use the state after the block (in its overlay); at any other header, the chain's own.
    Everything else is the chain's. Read-only, like the overlay under it."""

    def __init__(self, chain: Chain, pending: PendingBlock) -> None:
        self._chain = chain
        self.pending = pending
        self.header = pending.header
        self.db = pending.db
        self.chaindb = L1ChainDB(pending.db)
        self.vm_factory = VMFactory(
            chain.vm_class, chain.chain_id, self.chaindb, chain.vm_factory.consensus_context
        )
        self._views = ReadViews(pending.db, chain.read_views.account_db_class, limit=1)

    def __getattr__(self, name: str):
        return getattr(self._chain, name)

    def is_pending(self, header: BlockHeaderAPI) -> bool:
        return header.hash == self.header.hash

    def state_root_after(self, header: BlockHeaderAPI) -> bytes:
        if self.is_pending(header):
            return self.pending.state_root
        return self._chain.state_root_after(header)

    def account_db(self, header: BlockHeaderAPI) -> ReadView:
        if self.is_pending(header):
            return self._views.at(self.pending.state_root)
        return self._chain.account_db(header)


class PendingBlocks:
    """The pending block, built once per key and kept: one entry, replaced when the key
    changes (a new block or head state, a transaction added to, dropped from or replaced in
    the executable pool, the next block's fields or its second). Concurrent requests for the
    same key share one build; a failed build is not kept. The views of the last
    ``PENDING_VIEWS`` built blocks are found by their header's hash."""

    def __init__(self) -> None:
        self._key: Hashable | None = None
        self._build: asyncio.Future[PendingBlock] | None = None
        self._views: OrderedDict[bytes, PendingChain] = OrderedDict()
        self.builds = 0  # blocks built so far (each a simulator thread's work)

    async def get(
        self, key: Hashable, chain: Chain, build: Callable[[], Awaitable[PendingBlock]]
    ) -> PendingBlock:
        task = self._build
        if task is None or self._key != key:
            task = self._build = asyncio.ensure_future(build())
            task.add_done_callback(_retrieve)
            self._key = key
            self.builds += 1
        try:
            # Shielded: a client that leaves does not end the build others wait for.
            pending = await asyncio.shield(task)
        except Exception:
            if self._build is task:
                self._key = self._build = None
            raise
        header_hash = pending.header.hash
        if header_hash not in self._views:
            self._views[header_hash] = PendingChain(chain, pending)
            while len(self._views) > PENDING_VIEWS:
                self._views.popitem(last=False)
        return pending

    def view(self, header: BlockHeaderAPI) -> PendingChain | None:
        """The pending chain whose pending header is ``header``, if it is one of the last."""
        return self._views.get(header.hash)

    def __len__(self) -> int:
        return len(self._views)


def _retrieve(task: asyncio.Future) -> None:
    """Mark a build's failure seen (its waiters may all have left)."""
    if not task.cancelled():
        task.exception()
