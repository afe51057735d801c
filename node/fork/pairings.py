"""A per-block budget for pairing precompiles: py-evm computes BN254 and BLS12-381
pairings in pure Python (~0.2–0.3 s per pair here), so one 30M-gas transaction could
otherwise hold block production for minutes. Past the budget a pairing call halts
exceptionally (all forwarded gas consumed). The same rule applies on the L1, the L2 and
inside EXECUTE, so re-execution stays consistent. ``budgeted`` wraps a pairing precompile;
the devnet's precompile table (``node.fork.precompiles``) holds the wrapped ones.
"""

from __future__ import annotations

from collections.abc import Callable

from eth.abc import ComputationAPI
from eth.exceptions import VMError
from eth.vm.forks.prague.constants import BLS12_PAIRING_CHECK_PRECOMPILE_ADDRESS

MAX_PAIRINGS_PER_BLOCK = 32  # e.g. eight Groth16 verifications
BN254_PAIRING_ADDRESS = b"\x00" * 19 + b"\x08"
BLS12_PAIRING_ADDRESS = BLS12_PAIRING_CHECK_PRECOMPILE_ADDRESS.rjust(20, b"\x00")
PAIR_SIZES = {BN254_PAIRING_ADDRESS: 192, BLS12_PAIRING_ADDRESS: 384}


class PairingBudgetExhausted(VMError):
    """This block's pairing budget is spent (a devnet bound, not an Ethereum rule)."""


def budgeted(precompile: Callable, pair_size: int) -> Callable:
    """``precompile`` charged ``len(input) // pair_size`` pairs of the block's budget."""

    def call(computation: ComputationAPI) -> ComputationAPI:
        pairs = len(computation.msg.data) // pair_size
        state = computation.state
        left = getattr(state, "pairings_left", MAX_PAIRINGS_PER_BLOCK)
        if pairs > left:
            raise PairingBudgetExhausted(
                f"pairing budget of this devnet block spent: {pairs} pairs asked, {left} left "
                f"of {MAX_PAIRINGS_PER_BLOCK} (pure-Python pairings are slow)"
            )
        state.pairings_left = left - pairs  # outside the journal, like gas
        return precompile(computation)

    return call
