"""Following the L1: the L2 chain the rollup contract settled, read back from the L1 alone,
and an L2 node brought onto it.

Every settled block's body and header fields are in the calldata of the ``advance`` /
``advanceTo`` transaction that settled it (its ``BlockSettled`` event names it). ``resync``
compares the L2 node with the L1's blocks; where the node's block differs (a ``BASED`` race
lost) or it holds blocks the L1 never settled, it returns the node to the snapshot the
sequencer took before mining its first such block (``evm_revert``; without one, to the
genesis with ``anvil_reset``), then replays each
canonical block: its transactions in order and ``evm_mine`` with the same timestamp,
anchor, coinbase and prevRandao, checking that the node's hash is the L1's. Transactions
that were pooled (or in the dropped blocks) go back into the pool afterwards. Blocks the node
holds beyond the L1's head on top of the L1's chain are kept: the sequencer settles them.
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


LOG_WINDOW = 50_000  # L1 blocks per eth_getLogs (the devnet answers at most 100 000)
MAX_TOPIC_VALUES = 1_000  # values of one topic position per eth_getLogs (the devnet's cap)


def rollup_logs(rollup: Rollup, topics: list) -> list[dict]:
    """The rollup's logs matching ``topics`` since its deployment, in L1 windows."""
    latest = rollup.l1.block_number()
    out: list[dict] = []
    for start in range(rollup.deploy_block, latest + 1, LOG_WINDOW):
        out += rollup.l1.call(
            "eth_getLogs",
            {
                "address": b2h(rollup.address),
                "topics": topics,
                "fromBlock": hex(start),
                "toBlock": hex(min(start + LOG_WINDOW - 1, latest)),
            },
        )
    return out


def settled_blocks(rollup: Rollup, numbers: list[int]) -> dict[int, tuple[bytes, str]]:
    """L2 number -> (block hash, L1 tx hash) of the ``BlockSettled`` events of ``numbers``."""
    out = {}
    for i in range(0, len(numbers), MAX_TOPIC_VALUES):
        wanted = ["0x" + n.to_bytes(32, "big").hex() for n in numbers[i : i + MAX_TOPIC_VALUES]]
        for entry in rollup_logs(rollup, [topic(BLOCK_SETTLED), wanted]):
            out[h2i(entry["topics"][1])] = (h2b(entry["topics"][2]), entry["transactionHash"])
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


def first_divergence(seq: Sequencer, last: int) -> int | None:
    """The first L2 number whose block on the node is not the L1's (``None``: the node's
    chain up to the L1's head, or up to its own head if shorter, is the L1's). Block hashes
    chain their parents, so one match settles every block below it: the walk goes down from
    the top only while the blocks differ."""
    top = min(seq.l2.block_number(), last)
    number = top
    while number > 0:
        expected = (
            seq.rollup.last_block_hash()
            if number == last
            else settled_blocks(seq.rollup, [number])[number][0]
        )
        if h2b(seq.l2.block(number)["hash"]) == expected:
            break
        number -= 1
    return None if number == top else number + 1


def own_transactions(seq: Sequencer, first: int) -> list[bytes]:
    """The raw transactions of the node's blocks from ``first`` to its head."""
    raws = []
    for number in range(first, seq.l2.block_number() + 1):
        for tx_hash in seq.l2.block(number)["transactions"]:
            raws.append(h2b(seq.l2.call("eth_getRawTransactionByHash", tx_hash)))
    return raws


def resync(seq: Sequencer) -> int:
    """Bring ``seq``'s L2 node onto the L1's canonical chain; returns blocks replayed."""
    rollup = seq.rollup
    last = rollup.last_block_number()
    diverged = first_divergence(seq, last)
    put_back: list[bytes] = []
    if diverged is not None:
        dropped = seq.l2.block_number() - diverged + 1
        if diverged in seq.snapshots:
            seq.rollback(diverged)
        else:  # no snapshot that far back: start over from genesis and replay it all
            put_back = own_transactions(seq, diverged) + seq.take_pool()
            seq.control.call("anvil_reset")
            seq.snapshots.clear()
            seq.skipped.clear()
            diverged = 1
        log.info(
            "%s: rolled the L2 node back to block %d (%d dropped)", seq.name, diverged - 1, dropped
        )
    replayed = 0
    start = seq.l2.block_number() + 1
    if start <= last or put_back:
        put_back += seq.take_pool()
        try:
            settled = settled_blocks(rollup, list(range(start, last + 1)))
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
