"""The pending block: the block the node would mine next, built on a throw-away overlay of
the chain's database (nothing is written). geth and anvil answer it for the ``pending`` tag:
number head + 1, the pool's executable transactions in inclusion order, executed (gas used
and roots are real); invalid ones are left out as the block builder leaves them out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from eth.abc import BlockAPI, BlockHeaderAPI
from eth.constants import ZERO_ADDRESS, ZERO_HASH32
from eth.db.atomic import AtomicDB
from eth.db.batch import BatchDB
from eth_hash.auto import keccak

from node.chain import Chain
from node.fork.l1 import L1ChainDB
from node.interrupt import Deadline
from node.pool import PooledTransaction


@dataclass(frozen=True)
class PendingBlock:
    """The next block as it would be mined now, with each transaction's sender."""

    block: BlockAPI
    senders: tuple[bytes, ...]


def build_pending_block(
    chain: Chain,
    parent: BlockHeaderAPI,
    pooled: Sequence[PooledTransaction],
    timestamp: int,
    fields: dict,
    deadline: Deadline | None = None,
) -> PendingBlock:
    """Execute ``pooled`` in order on top of ``parent`` with the next block's header fields
    (``fields``: the test-node controls' choices, as ``Chain.build_block`` takes them)."""
    timestamp = max(timestamp, parent.timestamp + 1)
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
    block = vm.build_block([p.transaction for p in pooled])
    # In the block's own transaction classes (as a stored block is read back), so it encodes.
    decode = chain.transaction_builder.decode
    block = block.copy(transactions=[decode(tx.encode()) for tx in block.transactions])
    sender_of = {p.hash: p.sender for p in pooled}
    return PendingBlock(block, tuple(sender_of[tx.hash] for tx in block.transactions))


def next_timestamp(chosen: int | None, time_offset: int) -> int:
    """The timestamp the next block would get now: the chosen one, else the clock."""
    return chosen if chosen is not None else int(time.time()) + time_offset
