"""What verifying one EXECUTE input yields (``Verdict``), and the exception that carries a
reason code out of the verification steps (``Invalid``). Shared by the re-execution paths
(``precompiles.reexecute`` and the reference ``precompiles.execute_reference``)."""

from __future__ import annotations

from dataclasses import dataclass

from precompiles.execute_wire import Reason

UINT256_MAX = 2**256 - 1


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one input. ``reason`` is None for a valid block."""

    reason: Reason | None
    detail: str = ""
    post_state_root: bytes = b""
    number: int = 0
    gas_used: int = 0
    base_fee_per_gas: int = 0
    block_hash: bytes = b""

    @property
    def valid(self) -> bool:
        return self.reason is None

    @property
    def burned_fees(self) -> int:
        return self.base_fee_per_gas * self.gas_used


class Invalid(Exception):
    """An invalid block, with its reason code."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
