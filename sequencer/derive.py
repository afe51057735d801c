"""Following the L1: the L2 chain the rollup contract settled, read back from the L1 alone,
and an L2 node brought onto it.

Every settled block's body and header fields are in the calldata of the ``advance`` /
``advanceTo`` transaction that settled it (its ``BlockSettled`` event names it). ``resync``
compares the L2 node with the L1's blocks; where the node's block differs (a ``BASED`` race
lost) or it holds blocks the L1 never settled, it returns the node to the snapshot the
sequencer took before mining its first such block (``evm_revert``), then replays each
canonical block: its transactions in order and ``evm_mine`` with the same timestamp,
anchor, coinbase and prevRandao, checking that the node's hash is the L1's. Transactions
that were pooled (or in the dropped blocks) go back into the pool afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import rlp
from eth_abi import decode

from sequencer.client import RpcError, b2h, h2b, h2i
from sequencer.messages import ADVANCE, ADVANCE_TO, BLOCK_SETTLED, arg_types, selector, topic
from sequencer.settlement import ADVANCE_ARGS

if TYPE_CHECKING:
    from sequencer.rollup import Rollup
    from sequencer.sequencer import Sequencer

log = logging.getLogger("native_rollup.derive")


class DerivationError(RuntimeError):
    """The L2 node cannot be brought onto the L1's chain."""


@dataclass(frozen=True)
class CanonicalBlock:
    """An L2 block as the L1 settled it."""

    number: int
    block_hash: bytes
    timestamp: int
    coinbase: bytes
    prev_randao: bytes
    anchor: bytes
    transactions: bytes
    l1_tx: str

    def raw_transactions(self) -> list[bytes]:
        """The block's transactions as ``eth_sendRawTransaction`` takes them."""
        return [
            item if isinstance(item, bytes) else rlp.encode(item)
            for item in rlp.decode(self.transactions)
        ]


def settled_blocks(rollup: Rollup, first: int = 1) -> dict[int, tuple[bytes, str]]:
    """L2 number -> (block hash, L1 tx hash) of every ``BlockSettled`` from ``first`` on."""
    logs = rollup.l1.call(
        "eth_getLogs",
        {
            "address": b2h(rollup.address),
            "topics": [topic(BLOCK_SETTLED)],
            "fromBlock": hex(rollup.deploy_block),
            "toBlock": "latest",
        },
    )
    out = {}
    for entry in logs:
        number = h2i(entry["topics"][1])
        if number >= first:
            out[number] = (h2b(entry["topics"][2]), entry["transactionHash"])
    return out


def canonical_block(rollup: Rollup, number: int, block_hash: bytes, l1_tx: str) -> CanonicalBlock:
    """Block ``number`` from the calldata of the L1 transaction that settled it."""
    data = h2b(rollup.l1.call("eth_getTransactionByHash", l1_tx)["input"])
    if data[:4] == selector(ADVANCE_TO):
        _, fields, transactions, _, _ = decode(arg_types(ADVANCE_TO), data[4:])
        _, _, _, timestamp, coinbase, prev_randao, anchor = fields
    elif data[:4] == selector(ADVANCE):
        args = decode(ADVANCE_ARGS, data[4:])
        timestamp, coinbase, prev_randao, anchor, transactions = args[3:8]
    else:
        raise DerivationError(
            f"L2 block {number} was settled by {l1_tx} through another contract: its "
            "calldata is not an advance"
        )
    return CanonicalBlock(
        number, block_hash, timestamp, h2b(coinbase), prev_randao, anchor, transactions, l1_tx
    )


def first_divergence(
    seq: Sequencer, settled: dict[int, tuple[bytes, str]], last: int
) -> int | None:
    """The first L2 number where the node's block is not the L1's (or that the node holds
    beyond the L1's head); ``None`` if the node is a prefix of the L1's chain."""
    head = seq.l2.block_number()
    for number in range(1, min(head, last) + 1):
        if h2b(seq.l2.block(number)["hash"]) != settled[number][0]:
            return number
    if head > last:
        return last + 1
    return None


def resync(seq: Sequencer) -> int:
    """Bring ``seq``'s L2 node onto the L1's canonical chain; returns blocks replayed."""
    rollup = seq.rollup
    last = rollup.last_block_number()
    settled = settled_blocks(rollup)
    diverged = first_divergence(seq, settled, last)
    put_back: list[bytes] = []
    if diverged is not None:
        if diverged not in seq.snapshots:
            raise DerivationError(
                f"the L2 node's block {diverged} is not the L1's and no snapshot was taken "
                "before it was mined: restart the L2 node from genesis to follow the L1"
            )
        dropped = seq.l2.block_number() - diverged + 1
        seq.rollback(diverged)
        log.info(
            "%s: rolled the L2 node back to block %d (%d dropped)", seq.name, diverged - 1, dropped
        )
    replayed = 0
    start = seq.l2.block_number() + 1
    if start <= last:
        put_back = seq.take_pool()
        try:
            for number in range(start, last + 1):
                block_hash, l1_tx = settled[number]
                replay(seq, canonical_block(rollup, number, block_hash, l1_tx))
                replayed += 1
        finally:
            seq.put_back(put_back)
    return replayed


def replay(seq: Sequencer, block: CanonicalBlock) -> None:
    """Mine ``block`` on the L2 node (its pool empty) and check the hash is the L1's."""
    for raw in block.raw_transactions():
        try:
            seq.l2.call("eth_sendRawTransaction", b2h(raw))
        except RpcError as exc:
            raise DerivationError(
                f"L2 block {block.number}: the node refuses a tx: {exc}"
            ) from None
    seq.control.call(
        "evm_mine",
        {
            "timestamp": block.timestamp,
            "parentBeaconBlockRoot": b2h(block.anchor),
            "coinbase": b2h(block.coinbase),
            "prevRandao": b2h(block.prev_randao),
        },
    )
    got = h2b(seq.l2.block("latest")["hash"])
    if got != block.block_hash:
        raise DerivationError(
            f"replayed L2 block {block.number} is 0x{got.hex()}, the L1 settled "
            f"0x{block.block_hash.hex()}"
        )
    log.info("%s: replayed L2 block %d from L1 (%s)", seq.name, block.number, block.l1_tx)
