"""The execute-gas market: a per-L1-block cumulative limit on EXECUTE work, priced
EIP-1559-style around a target, paid by ``tx.origin`` and burned.

Counters and fees live OUTSIDE the state journal, like gas: a caller that catches a failed
EXECUTE and reverts still pays, and the block still counts the gas. The fee a transaction
owes is burned from its origin when the transaction is finalized.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.abc import ComputationAPI

from precompiles.execute import Charge, ExecuteHalt, ExecuteMarket, Verdict
from precompiles.execute_wire import ExecuteInput

BASE_FEE_CHANGE_DENOMINATOR = 8


@dataclass(frozen=True)
class MarketParams:
    limit: int = 10_000_000
    target: int = 5_000_000
    initial_base_fee: int = 1_000_000_000
    min_base_fee: int = 1


def next_execute_base_fee(
    params: MarketParams, parent_used: int | None, parent_fee: int | None
) -> int:
    """The execute base fee of a block from its parent's counters (None: no parent market)."""
    if parent_used is None or parent_fee is None:
        return params.initial_base_fee
    target = params.target
    if parent_used == target:
        return parent_fee
    if parent_used > target:
        delta = parent_fee * (parent_used - target) // target // BASE_FEE_CHANGE_DENOMINATOR
        return parent_fee + max(delta, 1)
    delta = parent_fee * (target - parent_used) // target // BASE_FEE_CHANGE_DENOMINATOR
    return max(parent_fee - delta, params.min_base_fee)


def reservation(inp: ExecuteInput, total_tx_gas: int | None) -> int:
    """``W``: the execute gas reserved before verifying. ``total_tx_gas`` is None when the
    transactions do not decode (the declared ``gasUsed`` alone does not bound the work)."""
    if total_tx_gas is None:
        return max(inp.gas_used, inp.gas_limit)
    return max(inp.gas_used, min(inp.gas_limit, total_tx_gas))


@dataclass
class Reservation:
    origin: bytes
    gas: int
    price: int


class BlockExecuteMarket(ExecuteMarket):
    """The market of one L1 block (or of a simulation on the pending block)."""

    def __init__(
        self, params: MarketParams, price: int, used: int = 0, check_solvency: bool = True
    ) -> None:
        self.params = params
        self.price = price
        self.used = used
        self.check_solvency = check_solvency
        self.owed: dict[bytes, int] = {}  # origin -> wei to burn when its tx is finalized
        self.limit_hit = 0  # the reservation of a call that halted on the limit, if any

    def reserve(
        self, computation: ComputationAPI, inp: ExecuteInput, total_tx_gas: int | None
    ) -> Reservation:
        gas = reservation(inp, total_tx_gas)
        if self.used + gas > self.params.limit:
            self.limit_hit = gas
            raise ExecuteHalt(
                f"EXECUTE: cumulative limit: block used {self.used}, call reserves {gas}, "
                f"limit {self.params.limit}"
            )
        origin = computation.transaction_context.origin
        fee = gas * self.price
        state = computation.state
        if state.get_code(origin):
            raise ExecuteHalt("EXECUTE: tx.origin has code")
        if self.check_solvency:  # simulations skip this check only
            if state.get_balance(origin) - self.owed.get(origin, 0) < fee:
                raise ExecuteHalt("EXECUTE: tx.origin cannot pay the execute fee")
        self.used += gas
        self.owed[origin] = self.owed.get(origin, 0) + fee
        return Reservation(origin, gas, self.price)

    def settle(
        self, computation: ComputationAPI, reservation: Reservation, verdict: Verdict
    ) -> Charge:
        charged_gas = reservation.gas
        if verdict.valid:
            # A valid block shrinks the reservation to exactly what it used.
            released = reservation.gas - verdict.gas_used
            self.used -= released
            self.owed[reservation.origin] -= released * reservation.price
            charged_gas = verdict.gas_used
        return Charge(fee=charged_gas * reservation.price, price=reservation.price)

    def take_owed(self, origin: bytes) -> int:
        return self.owed.pop(origin, 0)

    def checkpoint(self) -> tuple[int, dict[bytes, int], int]:
        return self.used, dict(self.owed), self.limit_hit

    def restore(self, checkpoint: tuple[int, dict[bytes, int], int]) -> None:
        self.used, owed, self.limit_hit = checkpoint
        self.owed = dict(owed)
