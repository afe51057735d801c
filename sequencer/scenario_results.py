"""The scenario's cast and amounts, the reasons it expects forged blocks to be refused
with, and what it records (forgeries, failed claims, the escrow check, the report)."""

from __future__ import annotations

from dataclasses import dataclass, field

from precompiles.execute_wire import Reason
from sequencer.client import ETHER
from sequencer.messages import Revert
from sequencer.rollup import RollupInfo
from sequencer.settlement import Settlement

DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
)
SEQUENCER_KEY, ALICE_KEY, BOB_KEY = DEV_KEYS
FEE = ETHER // 100
DEPOSIT = 5 * ETHER
BOB_DEPOSIT = 1 * ETHER
RECORDER_VALUE = ETHER // 10
RECORDER_TAG = 42
RECORDER_MIN_GAS = 100_000  # the recorder's record() needs ~75k: the message asks for more
WITHDRAWAL = 1 * ETHER
SECOND_WITHDRAWAL = ETHER // 2
COUNTER_INITIAL = 7
EXPECTED_REASONS = {
    "wrong post-state root": Reason.POST_STATE_ROOT,
    "gas used + 1": Reason.GAS_USED,
    "gas used - 1": Reason.GAS_USED,
    "missing witness node": Reason.WITNESS_INCOMPLETE,
    "missing code": Reason.WITNESS_INCOMPLETE,
}


class ScenarioError(AssertionError):
    """A step of the scenario did not do what the protocol says."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise ScenarioError(what)


# -- results --------------------------------------------------------------------------------------


@dataclass
class Forgery:
    name: str
    expected: int
    got: Revert | None
    simulated: bool  # True: eth_call only; False: a real L1 transaction was mined
    tx_status: int | None = None
    state_unchanged: bool = True
    execute_fee_paid: int | None = None

    @property
    def ok(self) -> bool:
        return (
            self.got is not None
            and self.got.name == "ExecuteInvalid"
            and self.got.args == (self.expected,)
            and self.state_unchanged
            and self.tx_status in (None, 0)
        )


@dataclass
class FailedClaim:
    layer: str
    name: str
    expected: str
    got: Revert | None

    @property
    def ok(self) -> bool:
        return self.got is not None and str(self.got).startswith(self.expected)


@dataclass
class EscrowCheck:
    """``escrowed == L2 ETH in circulation + messages in flight`` at one settled L2 block."""

    l1_block: int
    l2_block: int
    escrowed: int
    circulating: int
    deposits_in_flight: int
    withdrawals_in_flight: int
    messenger_supply: int
    messenger_balance: int
    l2_dev_funding: int
    burned: int

    @property
    def ok(self) -> bool:
        return self.escrowed == (
            self.circulating + self.deposits_in_flight + self.withdrawals_in_flight
        )


@dataclass
class Report:
    l1_url: str
    l2_url: str
    rollup: RollupInfo
    external: bool
    settlements: list[Settlement] = field(default_factory=list)
    forgeries: list[Forgery] = field(default_factory=list)
    failed_claims: list[FailedClaim] = field(default_factory=list)
    escrow: EscrowCheck | None = None
    balances: dict[str, dict[str, int]] = field(default_factory=dict)
    addresses: dict[str, bytes] = field(default_factory=dict)
    alice_withdrawal: dict[str, int] = field(default_factory=dict)
    hashes_checked: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            all(f.ok for f in self.forgeries)
            and all(c.ok for c in self.failed_claims)
            and self.escrow is not None
            and self.escrow.ok
            and all(a == b for _, a, b in self.hashes_checked)
        )


def eth(wei: int) -> str:
    text = f"{wei / ETHER:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def gwei(wei: int) -> str:
    return f"{wei / 10**9:,.1f}"
