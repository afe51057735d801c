"""Fee history: base fees, gas use and priority-fee percentiles of a range of blocks, as
geth reports them (``eth_feeHistory``), and the same for the EXECUTE market on the L1
(``execute_feeHistory``)."""

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


@dataclass(frozen=True)
class ExecuteFeeHistory:
    """The EXECUTE market over a range of L1 blocks: ``base_fees`` has one more entry than
    the blocks (the next block's); ``gas_used_ratios`` are of the cumulative limit."""

    oldest: int
    base_fees: list[int]
    gas_used: list[int]
    gas_used_ratios: list[float]


def execute_fee_history(devnet: Devnet, count: int, newest: BlockHeaderAPI) -> ExecuteFeeHistory:
    """The last ``count`` blocks up to ``newest`` (at most ``MAX_FEE_HISTORY_BLOCKS``) of a
    chain whose VM carries the EXECUTE market."""
    vm_class = devnet.vm_class
    count = min(count, MAX_FEE_HISTORY_BLOCKS, newest.block_number + 1)
    oldest = newest.block_number + 1 - count
    fees, used, ratios = [], [], []
    for number in range(oldest, newest.block_number + 1):
        header = devnet.header_at(number)
        fees.append(header.execute_base_fee_per_gas)
        used.append(header.execute_gas_used)
        ratios.append(header.execute_gas_used / vm_class.market_params.limit)
    fees.append(vm_class.expected_execute_base_fee(newest))
    return ExecuteFeeHistory(oldest, fees, used, ratios)
