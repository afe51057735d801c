"""Fee history (``eth_feeHistory``): base fees, gas use and priority-fee percentiles of a
range of blocks, as geth reports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth.abc import BlockHeaderAPI

if TYPE_CHECKING:
    from node.devnet import Devnet

MAX_FEE_HISTORY_BLOCKS = 1024


@dataclass(frozen=True)
class FeeHistory:
    """``oldest`` is the first block; ``base_fees`` has one more entry than the blocks (the
    next block's); ``rewards``, one list per block, only when percentiles were asked."""

    oldest: int
    base_fees: list[int]
    gas_used_ratios: list[float]
    rewards: list[list[int]] | None


def fee_history(
    devnet: Devnet, count: int, newest: BlockHeaderAPI, percentiles: list[float] | None
) -> FeeHistory:
    """The last ``count`` blocks up to ``newest`` (at most ``MAX_FEE_HISTORY_BLOCKS``)."""
    count = min(count, MAX_FEE_HISTORY_BLOCKS, newest.block_number + 1)
    oldest = newest.block_number + 1 - count
    base_fees, ratios, rewards = [], [], []
    for number in range(oldest, newest.block_number + 1):
        header = devnet.header_at(number)
        base_fees.append(header.base_fee_per_gas)
        ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
        if percentiles is not None:
            rewards.append(block_rewards(devnet, header, percentiles))
    base_fees.append(devnet.chain.next_base_fee(newest))
    return FeeHistory(oldest, base_fees, ratios, rewards if percentiles is not None else None)


def block_rewards(devnet: Devnet, header: BlockHeaderAPI, percentiles: list[float]) -> list[int]:
    """The priority fee paid at each gas-weighted percentile of the block's transactions."""
    receipts = devnet.receipts(header)
    if not receipts:
        return [0 for _ in percentiles]
    base_fee = header.base_fee_per_gas
    tips = sorted(
        (
            min(r.transaction.max_priority_fee_per_gas, r.transaction.max_fee_per_gas - base_fee),
            r.gas_used,
        )
        for r in receipts
    )
    total = sum(g for _, g in tips) or 1
    out = []
    for p in percentiles:
        threshold = total * p / 100
        cumulative = 0
        chosen = tips[-1][0]
        for tip, gas in tips:
            cumulative += gas
            if cumulative >= threshold:
                chosen = tip
                break
        out.append(chosen)
    return out
