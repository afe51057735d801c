"""``SCENARIO=optimistic``: the optimistic mode end to end on an L1 and an L2 node.

1. deploy ``OptimisticRollup`` (and, for the figures, a ``NativeRollup`` on the same L2 genesis);
2. an honest chain: three L2 blocks, each proposed with a bond (no EXECUTE call) and settled
   through ``advance`` on the NativeRollup, so the L1 gas of both is measured on the same
   block; the watcher re-executes every proposal and finds them valid; after the window they
   are final and ``finalize`` returns the bonds;
3. Alice deposits, the relayer claims it on L2, Alice withdraws on L2; her claim on L1 fails
   while the withdrawal's block is not final;
4. the sequencer proposes a forged block (wrong post-state root) and one more on top; the
   watcher re-executes, challenges the forged one through one EXECUTE call (checked with
   ``debug_traceTransaction``), both are discarded, the bond moves, the sequencer re-proposes;
5. Bob challenges an honest proposal: EXECUTE accepts it and Bob's bond goes to the sequencer;
6. after the window Alice's withdrawal claims on L1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sequencer.advance import fetch_advance_input
from sequencer.client import ETHER, RpcClient, RpcError, Signer, TxFailed, gas_cost, h2b, h2i
from sequencer.messages import decode_revert
from sequencer.optimistic import (
    EXECUTE_ADDRESS,
    BlockBuilder,
    L2Head,
    Proposer,
    deploy_optimistic,
)
from sequencer.relayer import (
    Relayer,
    WithdrawalProof,
    find_withdrawal,
    withdraw,
    withdrawal_proof,
)
from sequencer.rollup import deploy_rollup
from sequencer.scenario_results import ALICE_KEY, BOB_KEY, SEQUENCER_KEY, ScenarioError, eth
from sequencer.sequencer import Sequencer
from sequencer.watcher import Watcher

# the fourth dev key watches (and challenges)
WATCHER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
CHALLENGE_WINDOW = 5  # L1 blocks
PROPOSER_BOND = ETHER
CHALLENGER_BOND = ETHER // 2
HONEST_BLOCKS = 3
DEPOSIT = 2 * ETHER
FEE = ETHER // 100
WITHDRAWAL = ETHER // 4
FORGED_ROOT = b"\x13" * 32
L1_TIME_WAIT = 60.0


@dataclass
class Figure:
    number: int
    propose_gas: int
    advance_gas: int | None
    data_bytes: int
    advance_execute_fee: int = 0


@dataclass
class OptimisticReport:
    checks: list[tuple[str, bool]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    challenge_gas: int = 0
    challenge_execute_fee: int = 0
    frivolous_gas: int = 0
    frivolous_execute_fee: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok in self.checks)


def calls_to(trace: dict, address: bytes) -> int:
    """Calls to ``address`` anywhere in a callTracer frame tree."""
    here = int(h2b(trace.get("to") or "0x") == address)
    return here + sum(calls_to(c, address) for c in trace.get("calls") or [])


class OptimisticScenario:
    def __init__(
        self,
        l1_url: str,
        l2_url: str,
        l2_funding: int,
        l2_control: RpcClient | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.l1, self.l2 = RpcClient(l1_url), RpcClient(l2_url)
        self.control = l2_control
        self.l2_funding = l2_funding
        self.say = say
        self.sequencer_l1 = Signer.from_key(self.l1, SEQUENCER_KEY)
        self.sequencer_l2 = Signer.from_key(self.l2, SEQUENCER_KEY)  # funded by L2 genesis
        self.alice_l1 = Signer.from_key(self.l1, ALICE_KEY)
        self.alice_l2 = Signer.from_key(self.l2, ALICE_KEY)
        self.bob_l1 = Signer.from_key(self.l1, BOB_KEY)
        self.watcher_l1 = Signer.from_key(self.l1, WATCHER_KEY)
        self.report = OptimisticReport()

    # -- helpers ----------------------------------------------------------------------------

    def check(self, what: str, ok: bool) -> None:
        self.report.checks.append((what, ok))
        self.say(f"   [{'ok' if ok else 'FAILED'}] {what}")
        if not ok:
            raise ScenarioError(what)

    def mine_l1(self, blocks: int) -> None:
        for _ in range(blocks):
            self.l1.call("evm_mine")

    def wait_l1_time(self, number: int) -> None:
        """L1 time reaches L2 block ``number``'s (``propose`` refuses a future block)."""
        target = h2i(self.l2.block(number)["timestamp"])
        deadline = time.monotonic() + L1_TIME_WAIT
        while h2i(self.l1.block("latest")["timestamp"]) < target:
            if time.monotonic() > deadline:
                raise ScenarioError(f"L1 time did not reach L2 block {number}'s")
            time.sleep(0.2)
            self.mine_l1(1)

    def l2_block(self) -> int:
        block = self.builder.produce_block(force=True)
        return h2i(block["number"])

    def propose(self, number: int, head: L2Head | None = None) -> dict:
        self.wait_l1_time(number)
        inp = fetch_advance_input(self.l2, number)
        receipt = self.rollup.propose(self.sequencer_l1, inp, head)
        trace = self.trace(receipt)
        self.check(f"proposal {number} made no EXECUTE call", calls_to(trace, EXECUTE_ADDRESS) == 0)
        return receipt

    def trace(self, receipt: dict) -> dict:
        """The transaction's callTracer frames (retried when a busy node hits its trace
        deadline: replaying a challenge runs EXECUTE again)."""
        for attempt in range(3):
            try:
                return self.l1.call(
                    "debug_traceTransaction", receipt["transactionHash"], {"tracer": "callTracer"}
                )
            except RpcError as exc:
                if "timeout" not in exc.message or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def transfer(self, to: bytes, value: int) -> None:
        """An L2 transfer from the genesis-funded dev account, left in the pool."""
        self.sequencer_l2.submit(to, b"", value, gas=21_000)

    # -- the story --------------------------------------------------------------------------

    def run(self) -> OptimisticReport:
        started = time.monotonic()
        try:
            self._run()
        finally:
            self.report.seconds = time.monotonic() - started
        return self.report

    def _run(self) -> None:
        say = self.say
        self.rollup, info, receipt = deploy_optimistic(
            self.sequencer_l1,
            self.l2,
            self.sequencer_l1.address,
            self.l2_funding,
            CHALLENGE_WINDOW,
            PROPOSER_BOND,
            CHALLENGER_BOND,
        )
        native, native_info, _ = deploy_rollup(
            self.sequencer_l1, self.l2, self.sequencer_l1.address, self.l2_funding
        )
        say(
            f"1. deployed OptimisticRollup at {info.address} ({h2i(receipt['gasUsed']):,} gas): "
            f"window {CHALLENGE_WINDOW} L1 blocks, proposer bond {eth(PROPOSER_BOND)} ETH, "
            f"challenger bond {eth(CHALLENGER_BOND)} ETH; and a NativeRollup at "
            f"{native_info.address} on the same L2 genesis, to compare L1 gas"
        )
        relayer = Relayer(self.rollup, self.l2, self.sequencer_l2, min_fee=1)
        self.builder = BlockBuilder(
            self.rollup, self.l2, relayer, self.control, self.sequencer_l1.address
        )
        native_sequencer = Sequencer(native, self.l2, self.sequencer_l1, control=self.control)
        self.watcher = Watcher(self.rollup, self.watcher_l1)
        self.proposer = Proposer(self.rollup, self.l2, self.sequencer_l1)
        bob = self.bob_l1.address

        say(
            f"2. an honest chain of {HONEST_BLOCKS} L2 blocks, proposed (and advanced on the "
            "NativeRollup for comparison)"
        )
        for i in range(HONEST_BLOCKS):
            self.transfer(bob, (i + 1) * ETHER // 1000)
            number = self.l2_block()
            receipt = self.propose(number)
            inp = fetch_advance_input(self.l2, number)
            settled = native_sequencer.settle(number)
            self.report.figures.append(
                Figure(
                    number,
                    h2i(receipt["gasUsed"]),
                    settled.gas.total,
                    len(inp.transactions) + inp.witness_bytes,
                    settled.execute_fee,
                )
            )
            say(
                f"   L2 block {number}: propose {h2i(receipt['gasUsed']):,} L1 gas, "
                f"advance {settled.gas.total:,} L1 gas ({inp.witness_bytes:,} witness bytes)"
            )
        self.watcher.poll()
        self.check(
            "the watcher re-executed every proposal and found them valid",
            [v.valid for v in self.watcher.verdicts] == [True] * HONEST_BLOCKS
            and not self.watcher.challenges,
        )
        self.check(
            f"proposal {HONEST_BLOCKS} is not final inside the window",
            not self.rollup.is_finalized(HONEST_BLOCKS),
        )
        self.mine_l1(CHALLENGE_WINDOW + 1)
        self.check(
            f"after {CHALLENGE_WINDOW} L1 blocks proposals 1-{HONEST_BLOCKS} are final",
            self.rollup.finalized_number() == HONEST_BLOCKS,
        )
        self.rollup.finalize(self.bob_l1, HONEST_BLOCKS)  # anyone may finalize
        self.check(
            f"finalize credited {HONEST_BLOCKS} bonds to the sequencer",
            self.rollup.sequencer_credit() == HONEST_BLOCKS * PROPOSER_BOND,
        )
        before = self.l1.balance(self.sequencer_l1.address)
        receipt = self.rollup.withdraw_credit(self.sequencer_l1)
        self.check(
            "withdrawCredit paid them out",
            self.l1.balance(self.sequencer_l1.address)
            == before + HONEST_BLOCKS * PROPOSER_BOND - gas_cost(receipt)
            and self.rollup.sequencer_credit() == 0,
        )

        say("3. Alice deposits, the relayer claims it on L2, Alice withdraws on L2")
        alice = self.alice_l1.address
        self.rollup.deposit(self.alice_l1, alice, DEPOSIT, FEE)
        relayed = self.l2_block()
        self.propose(relayed)
        self.check(f"Alice has {eth(DEPOSIT)} ETH on L2", self.l2.balance(alice) == DEPOSIT)
        withdraw(self.alice_l2, alice, WITHDRAWAL, wait=False)
        withdrawn = self.l2_block()
        self.propose(withdrawn)
        message, sent_in = find_withdrawal(self.l2, 0, self.rollup.domain)
        proof = WithdrawalProof(
            message, sent_in, withdrawn, *withdrawal_proof(self.l2, message, withdrawn)
        )
        try:
            self.alice_l1.estimate(self.rollup.address, proof.calldata())
            early = None
        except RpcError as exc:
            early = decode_revert(exc.revert_data)
        self.check(
            f"her claim on L1 is refused while L2 block {withdrawn} is not final ({early})",
            early is not None and early.name == "NotFinalized",
        )

        say("4. the sequencer proposes a forged block (wrong post-state root) and one on top")
        self.transfer(bob, ETHER // 1000)
        forged = self.l2_block()
        inp = fetch_advance_input(self.l2, forged)
        self.propose(forged, L2Head.of_input(inp).replace(post_state_root=FORGED_ROOT))
        self.transfer(bob, ETHER // 1000)
        on_top = self.l2_block()
        self.propose(on_top)
        contract_before = self.l1.balance(self.rollup.address)
        credit_before = self.rollup.sequencer_credit()
        watcher_before = self.l1.balance(self.watcher_l1.address)
        challenges = self.watcher.poll()
        self.check(
            f"the watcher challenged proposal {forged} by itself",
            [c.number for c in challenges] == [forged],
        )
        challenge = challenges[0]
        receipt = self.l1.receipt(challenge.l1_tx)
        block = self.l1.block(h2i(receipt["blockNumber"]))
        execute_fee = h2i(block["executeGasUsed"]) * h2i(block["executeBaseFeePerGas"])
        self.report.challenge_gas = challenge.gas_used
        self.report.challenge_execute_fee = execute_fee
        self.check(
            "the challenge called EXECUTE exactly once (debug_traceTransaction)",
            calls_to(self.trace(receipt), EXECUTE_ADDRESS) == 1,
        )
        self.check(
            f"EXECUTE said post-state root (reason {challenge.reason}); proposals "
            f"{forged}-{challenge.discarded_up_to} discarded",
            challenge.reason == 10
            and challenge.discarded_up_to == on_top
            and self.rollup.last_proposed_number() == forged - 1,
        )
        reward = PROPOSER_BOND // 2
        self.check(
            f"the bond moved: the watcher got {eth(reward)} ETH (minus gas and execute fee), "
            f"{eth(PROPOSER_BOND - reward)} ETH burned, the other bond credited to the sequencer",
            self.l1.balance(self.watcher_l1.address)
            == watcher_before + reward - gas_cost(receipt) - execute_fee
            and self.l1.balance(self.rollup.address) == contract_before - PROPOSER_BOND
            and self.rollup.sequencer_credit() == credit_before + PROPOSER_BOND,
        )
        self.wait_l1_time(on_top)
        reproposed = self.proposer.propose_pending()
        for n, r in reproposed:
            self.check(
                f"proposal {n} made no EXECUTE call",
                calls_to(self.trace(r), EXECUTE_ADDRESS) == 0,
            )
        self.check(
            f"the sequencer re-proposed {forged}-{on_top} honestly and the watcher agrees",
            [n for n, _ in reproposed] == [forged, on_top]
            and not self.watcher.poll()
            and all(v.valid for v in self.watcher.verdicts[-2:]),
        )

        say(f"5. Bob challenges the honest proposal {on_top}")
        data = self.watcher.data_of(self.rollup.proposal(on_top).commitment)
        credit_before = self.rollup.sequencer_credit()
        bob_before = self.l1.balance(bob)
        receipt = self.rollup.challenge(self.bob_l1, data)
        block = self.l1.block(h2i(receipt["blockNumber"]))
        fee = h2i(block["executeGasUsed"]) * h2i(block["executeBaseFeePerGas"])
        self.report.frivolous_gas = h2i(receipt["gasUsed"])
        self.report.frivolous_execute_fee = fee
        self.check(
            f"EXECUTE accepted it: the challenge failed and cost Bob his {eth(CHALLENGER_BOND)} "
            "ETH bond (credited to the sequencer); the proposal stays",
            self.l1.balance(bob) == bob_before - CHALLENGER_BOND - gas_cost(receipt) - fee
            and self.rollup.sequencer_credit() == credit_before + CHALLENGER_BOND
            and self.rollup.last_proposed_number() == on_top
            and self.rollup.proposal(on_top).verified,
        )

        say("6. the window passes; Alice claims her withdrawal on L1")
        self.mine_l1(CHALLENGE_WINDOW + 1)
        self.check(
            f"every proposal up to {on_top} is final", self.rollup.finalized_number() == on_top
        )
        before = self.l1.balance(alice)
        receipt = self.alice_l1.send(self.rollup.address, proof.calldata(), what="claimL2Message")
        self.check(
            f"Alice received {eth(WITHDRAWAL)} ETH on L1 against final L2 block {withdrawn}",
            self.l1.balance(alice) == before + WITHDRAWAL - gas_cost(receipt),
        )


def summary(report: OptimisticReport) -> str:
    lines = ["", "== optimistic native rollup: summary =="]
    lines.append("L1 gas per L2 block: propose (no EXECUTE) vs advance (EXECUTE) of the same block")
    for f in report.figures:
        saving = f"{f.advance_gas - f.propose_gas:,}" if f.advance_gas else "-"
        pct = (
            f" ({100 * (f.advance_gas - f.propose_gas) / f.advance_gas:.0f}%)"
            if f.advance_gas
            else ""
        )
        lines.append(
            f"  L2 block {f.number}: propose {f.propose_gas:,}, advance {f.advance_gas or 0:,}, "
            f"saved {saving}{pct} and the execute fee ({f.advance_execute_fee:,} wei), "
            f"{f.data_bytes:,} data bytes"
        )
    lines.append(
        f"challenge of the forged block: {report.challenge_gas:,} L1 gas, execute fee "
        f"{report.challenge_execute_fee:,} wei"
    )
    lines.append(
        f"frivolous challenge of an honest block: {report.frivolous_gas:,} L1 gas, execute fee "
        f"{report.frivolous_execute_fee:,} wei, bond lost {eth(CHALLENGER_BOND)} ETH"
    )
    passed = sum(ok for _, ok in report.checks)
    lines.append(f"checks: {passed}/{len(report.checks)} passed in {report.seconds:.1f}s")
    lines.append("OK" if report.ok else "FAILED")
    return "\n".join(lines)


def run_local(log_dir=None, say: Callable[[str], None] = print) -> int:
    """Fresh local nodes, the scenario, the summary; the nodes are stopped either way."""
    from sequencer.localnet import L2_FUNDING, local_nodes

    say("starting a fresh L1 and L2 node on free loopback ports...")
    with local_nodes(log_dir) as (l1, l2):
        scenario = OptimisticScenario(l1.url, l2.url, L2_FUNDING, l2.control, say)
        try:
            report = scenario.run()
        except (ScenarioError, TxFailed) as exc:
            say(f"FAILED: {exc}")
            say(summary(scenario.report))
            return 1
        say(summary(report))
        return 0 if report.ok else 1
