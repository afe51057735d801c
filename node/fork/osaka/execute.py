"""EXECUTE under a fork schedule (NR-EXECUTE v1.1 "Fork rules").

The L1's EXECUTE re-executes an L2 block under the rules the L1's own schedule gives the L2
header's timestamp (Prague or Osaka, minus EXECUTE), and refuses an L2 block stamped later
than the calling L1 block (reason 5): an L2 never runs rules its L1 does not run yet.

This wraps ``precompiles.execute.make_execute_precompile`` without changing it: the verdict
cache it takes is where a verdict is decided, so ``ScheduledVerdicts`` picks the rules there
and answers reason 5 for a block from the future, in the spec's order (after reasons 1-4,
as a header rule). The cached verdict stays a pure function of the input; the L1-time rule
is applied on top of it per call. The market charges such a call as any invalid block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from eth.abc import ComputationAPI

from node.fork.osaka.constants import MAX_RLP_BLOCK_SIZE
from node.fork.osaka.rules import _rlp_list_size
from precompiles.execute import ExecuteMarket, Verdict, VerdictCache, make_execute_precompile
from precompiles.execute_wire import ExecuteInput, Reason

# No L2 header's RLP is shorter (its ten 32-byte hashes and roots take 330 bytes, the bloom
# 259): a block whose transactions push it over the cap with this header is over it.
MIN_L2_HEADER_RLP = 600


def block_too_large(inp: ExecuteInput) -> bool:
    """EIP-7934 for the block EXECUTE would build: header, the transactions as given, and
    two empty lists (ommers, withdrawals)."""
    return _rlp_list_size(MIN_L2_HEADER_RLP + len(inp.transactions) + 2) > MAX_RLP_BLOCK_SIZE


class ScheduledVerdicts(VerdictCache):
    """Verdicts under the L2 rules ``rules_at(l2_timestamp)`` picks."""

    def __init__(self, rules_at: Callable[[int], type]) -> None:
        super().__init__()
        self.rules_at = rules_at
        self.calling = threading.local()  # the calling L1 block's timestamp, per thread

    def get_or_verify(self, data, inp, vm_class, transactions=None) -> Verdict:  # type: ignore[override]
        rules = self.rules_at(inp.timestamp)
        verdict = super().get_or_verify(data, inp, rules, transactions)
        if not verdict.valid and verdict.reason < Reason.HEADER_RULE:
            return verdict  # reasons 1-4 come before the header rules
        l1_timestamp = getattr(self.calling, "timestamp", None)
        if l1_timestamp is not None and inp.timestamp > l1_timestamp:
            return Verdict(
                Reason.HEADER_RULE,
                f"L2 timestamp {inp.timestamp} is later than the L1 block's {l1_timestamp}",
            )
        if getattr(rules, "max_rlp_block_size", None) and block_too_large(inp):
            return Verdict(Reason.HEADER_RULE, "block RLP above the EIP-7934 cap")
        return verdict


def scheduled_execute_precompile(
    rules_at: Callable[[int], type],
    market_for: Callable[[ComputationAPI], ExecuteMarket],
) -> Callable[[ComputationAPI], ComputationAPI]:
    """EXECUTE whose L2 rules follow ``rules_at`` (the L1's schedule)."""
    verdicts = ScheduledVerdicts(rules_at)
    inner = make_execute_precompile(l2_vm_class=rules_at(0), market_for=market_for, cache=verdicts)

    def execute(computation: ComputationAPI) -> ComputationAPI:
        verdicts.calling.timestamp = computation.state.timestamp
        try:
            return inner(computation)
        finally:
            verdicts.calling.timestamp = None

    execute.verdicts = verdicts  # type: ignore[attr-defined]
    return execute
