"""The end-to-end native rollup scenario (docs/ROLLUP.md, steps 1-7) and its summary.

Roles (the public dev keys of the ``test ... junk`` mnemonic): account 0 is the rollup's
sequencer on L1 and the relayer on L2, account 1 is Alice, account 2 is Bob.

1. deploy ``NativeRollup`` with the L2 genesis hash / state root, escrowing the L2 dev funding;
2. Alice deposits 5 ETH to herself (fee 0.01 ETH for the relayer) and 1 ETH to Bob with no
   fee (the relayer delivers only paid messages, so this one stays for Bob to claim);
3. the relayer anchors the root and claims her deposit on L2; Alice transfers to Bob and
   deploys a ``MessageRecorder``; her next L1 message calls it (``record(42)``, with the L1
   sender read through ``xDomainMessageSender``); she deploys a ``Counter`` and calls it;
4. every L2 block is settled on L1 through ``advance`` -> EXECUTE, and the L1 contract's
   ``lastBlockHash`` must equal the L2 node's block hash after each;
5. Alice withdraws 1 ETH on L2 and, once settled, claims it on L1 with ``eth_getProof`` data;
6. forged advances of the next block (wrong post-state root, gas used +1 and -1, a missing
   witness node, missing code) are rejected with ``ExecuteInvalid`` 10, 8, 8, 7, 7 and move
   nothing in the contract;
7. claims that must fail do (double claims, an unsettled block, wrong proofs, messages that
   were never sent), on both layers;
8. the summary: balances on both layers and the escrow identity, blocks settled, L1 gas of
   each ``advance`` and its split, execute fees, witness bytes, wall time per block.

It runs in one of two modes. Driving (default): this process is the sequencer and relayer
(``Sequencer`` in process) against fresh nodes, so a block can be held back unsettled to be
forged with real L1 transactions. External (``--external-sequencer``, e.g. docker-compose):
a running ``native-rollup sequence`` owns the L2; the scenario submits its transactions and
watches them settle, and forged advances are simulated (``eth_call`` from the sequencer at
the L1 state just before the genuine block was settled).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_abi import decode, encode

from sequencer.artifacts import load_artifact
from sequencer.client import ETHER, RpcClient, Signer, TxFailed, b2h, gas_cost, h2b, h2i
from sequencer.messages import Message, calldata, contract_address
from sequencer.relayer import (
    Relayer,
    claim_withdrawal,
    find_withdrawal,
    is_claimed_on_l2,
    messenger_view,
    prove_withdrawal,
    withdraw,
    withdrawal_from_receipt,
)
from sequencer.rollup import MESSENGER, Rollup, RollupInfo, deploy_rollup, open_rollup
from sequencer.scenario_attacks import ScenarioAttacks
from sequencer.scenario_drivers import Driver, DrivingSequencer, WatchingSequencer
from sequencer.scenario_results import (
    ALICE_KEY,
    BOB_DEPOSIT,
    BOB_KEY,
    COUNTER_INITIAL,
    DEPOSIT,
    EXPECTED_REASONS,
    FEE,
    RECORDER_MIN_GAS,
    RECORDER_TAG,
    RECORDER_VALUE,
    SEQUENCER_KEY,
    WITHDRAWAL,
    EscrowCheck,
    Report,
    ScenarioError,
    eth,
    expect,
)
from sequencer.scenario_summary import load_rollup_file, summary
from sequencer.sequencer import Sequencer
from sequencer.settlement import Settlement

# -- the scenario ---------------------------------------------------------------------------------


class Scenario(ScenarioAttacks):
    """docs/ROLLUP.md's end-to-end scenario against an L1 and an L2 node."""

    def __init__(
        self,
        l1_url: str,
        l2_url: str,
        l2_funding: int,
        rollup_info: RollupInfo | None = None,
        external: bool = False,
        say: Callable[[str], None] = print,
        l2_control: RpcClient | None = None,
    ) -> None:
        self.l1 = RpcClient(l1_url)
        self.l2 = RpcClient(l2_url)
        self.l2_control = l2_control  # the L2's authenticated endpoint, where evm_mine is
        self.l2_funding = l2_funding
        self.say = say
        self.external = external
        self.sequencer_l1 = Signer.from_key(self.l1, SEQUENCER_KEY)
        self.alice_l1 = Signer.from_key(self.l1, ALICE_KEY)
        self.alice_l2 = Signer.from_key(self.l2, ALICE_KEY)
        self.bob = Signer.from_key(self.l2, BOB_KEY).address
        self.alice = self.alice_l1.address
        self._info = rollup_info
        self.rollup: Rollup
        self.driver: Driver
        self.report: Report

    # -- setup ------------------------------------------------------------------------------

    def setup(self) -> None:
        if self._info is None:
            expect(not self.external, "an external sequencer needs --rollup-file")
            rollup, info, receipt = deploy_rollup(
                self.sequencer_l1, self.l2, self.sequencer_l1.address, self.l2_funding
            )
            self.say(
                f"1. deployed NativeRollup at {info.address} (L1 block {info.deploy_block}, "
                f"{h2i(receipt['gasUsed']):,} gas) for L2 chain {info.l2_chain_id}, genesis "
                f"{info.l2_genesis_hash[:18]}..., escrowing the L2 dev funding "
                f"{eth(self.l2_funding)} ETH"
            )
        else:
            info = self._info
            rollup = open_rollup(self.l1, info)
            self.say(f"1. using NativeRollup at {info.address} (sequenced by another process)")
        self.rollup = rollup
        self.report = Report(self.l1.url, self.l2.url, info, self.external)
        if self.external:
            self.driver = WatchingSequencer(rollup, self.l2)
        else:
            relayer = Relayer(rollup, self.l2, Signer.from_key(self.l2, SEQUENCER_KEY), min_fee=1)
            sequencer = Sequencer(
                rollup, self.l2, self.sequencer_l1, relayer, control=self.l2_control
            )
            sequencer.check_chain()
            self.driver = DrivingSequencer(sequencer)
        self.report.addresses.update(
            rollup=rollup.address,
            alice=self.alice,
            bob=self.bob,
            sequencer=rollup.sequencer(),
            messenger=MESSENGER,
        )
        self.messenger_supply = self.l2.balance(MESSENGER, 0)

    def include(self, tx_hashes: list[str], anchor_only: bool = False) -> list[Settlement]:
        settled = self.driver.include(tx_hashes, anchor_only)
        for s in settled:
            self._record(s)
        return settled

    def _record(self, s: Settlement) -> None:
        l2_hash = h2b(self.l2.block(s.number)["hash"])
        on_l1 = s.l2_hash
        self.report.hashes_checked.append((s.number, on_l1, l2_hash))
        expect(
            on_l1 == l2_hash,
            f"L1 settled 0x{on_l1.hex()} for L2 #{s.number}, L2 has 0x{l2_hash.hex()}",
        )
        self.report.settlements.append(s)
        self.say(
            f"   settled L2 #{s.number} ({s.tx_count} txs) in L1 tx {s.l1_tx[:12]}...: "
            f"L1 lastBlockHash == L2 hash 0x{l2_hash.hex()[:16]}... "
            f"[{s.gas.total:,} L1 gas, witness {s.witness_bytes:,} B, {s.seconds:.2f}s]"
        )

    # -- steps ------------------------------------------------------------------------------

    def deposits(self) -> None:
        alice_before = self.l2.balance(self.alice)
        m0, _ = self.rollup.deposit(self.alice_l1, self.alice, DEPOSIT, FEE)
        m1, _ = self.rollup.deposit(self.alice_l1, self.bob, BOB_DEPOSIT, 0)
        self.m0, self.m1 = m0, m1
        self.say(
            f"2. Alice deposited {eth(DEPOSIT)} ETH to herself (message {m0.index}, fee "
            f"{eth(FEE)} ETH) and {eth(BOB_DEPOSIT)} ETH to Bob (message {m1.index}, no fee)"
        )
        self.say(
            "3. relayer: anchor the message root in the next L2 block and claim message "
            f"{m0.index} there (its fee pays the relayer); every L2 block is settled on L1 "
            "through advance -> EXECUTE (step 4):"
        )
        self.include([], anchor_only=True)
        expect(is_claimed_on_l2(self.l2, m0), "the relayer did not deliver message 0")
        expect(not is_claimed_on_l2(self.l2, m1), "a fee-less message was relayed")
        expect(
            self.l2.balance(self.alice) == alice_before + DEPOSIT,
            "Alice's L2 balance did not grow by her deposit",
        )
        self.say(
            f"   Alice has {eth(self.l2.balance(self.alice))} ETH on L2; message {m1.index} "
            "(no fee) waits for Bob to claim it himself"
        )

    def l2_activity(self) -> None:
        a = self.alice_l2
        recorder_nonce = self.l2.nonce(self.alice, "pending")
        txs = [
            a.submit(self.bob, value=ETHER // 2, gas=21_000),
            a.submit(self.bob, value=ETHER // 4, gas=21_000),
            a.submit(None, load_artifact("MessageRecorder").bytecode, gas=1_500_000),
        ]
        self.recorder = contract_address(self.alice, recorder_nonce + 2)
        self.include(txs)
        expect(
            self.l2.code(self.recorder) == load_artifact("MessageRecorder").deployed_bytecode,
            "MessageRecorder not deployed on L2",
        )
        self.say(
            f"   Alice sent Bob 0.5 + 0.25 ETH and deployed a MessageRecorder at "
            f"{b2h(self.recorder)} on L2"
        )

        m2, _ = self.rollup.deposit(
            self.alice_l1,
            self.recorder,
            RECORDER_VALUE,
            FEE,
            calldata("record(uint256)", RECORDER_TAG),
            min_gas_limit=RECORDER_MIN_GAS,
        )
        self.m2 = m2
        self.include([], anchor_only=True)
        expect(is_claimed_on_l2(self.l2, m2), "the recorder message was not delivered")
        sender = self.l2_view(self.recorder, "lastSender()", "address")
        tag = self.l2_view(self.recorder, "lastTag()", "uint256")
        value = self.l2_view(self.recorder, "lastValue()", "uint256")
        expect(
            h2b(sender) == self.alice and tag == RECORDER_TAG and value == RECORDER_VALUE,
            "the L2 recorder did not see Alice's message",
        )
        self.say(
            f"   message {m2.index} called MessageRecorder.record({RECORDER_TAG}) on L2 with "
            f"{eth(RECORDER_VALUE)} ETH: it saw L1 sender {sender} via xDomainMessageSender"
        )

        counter_nonce = self.l2.nonce(self.alice, "pending")
        self.counter = contract_address(self.alice, counter_nonce)
        init = load_artifact("Counter").bytecode + encode(["uint256"], [COUNTER_INITIAL])
        txs = [
            a.submit(None, init, gas=1_000_000),
            a.submit(self.counter, calldata("increment()"), gas=200_000),
        ]
        self.include(txs)
        number = self.l2_view(self.counter, "number()", "uint256")
        expect(number == COUNTER_INITIAL + 1, f"Counter reads {number}")
        blocks = {h2i(self.l2.receipt(h)["blockNumber"]) for h in txs}
        where = (
            "the same L2 block"
            if len(blocks) == 1
            else "L2 blocks " + ", ".join(f"#{b}" for b in sorted(blocks))
        )
        self.say(
            f"   Alice deployed Counter({COUNTER_INITIAL}) at {b2h(self.counter)} and "
            f"called increment() in {where}: number() == {number}"
        )

    def withdrawal(self) -> None:
        tx_hash, _ = withdraw(self.alice_l2, self.alice, WITHDRAWAL, 0, wait=False)
        self.include([tx_hash])
        self.w0 = withdrawal_from_receipt(self.l2.receipt(tx_hash), self.rollup.domain)
        sent_in = h2i(self.l2.receipt(tx_hash)["blockNumber"])
        proof = prove_withdrawal(self.rollup, self.l2, self.w0.index)
        before = self.l1.balance(self.alice)
        receipt = claim_withdrawal(self.rollup, self.alice_l1, proof)
        after = self.l1.balance(self.alice)
        gas = gas_cost(receipt)
        self.report.alice_withdrawal = {
            "before": before,
            "after": after,
            "gas": gas,
            "value": WITHDRAWAL,
            "sent_in": sent_in,
            "proven_at": proof.l2_block,
        }
        expect(
            after - before == WITHDRAWAL - gas,
            f"Alice's L1 balance moved by {after - before}, expected {WITHDRAWAL - gas}",
        )
        self.say(
            f"5. Alice withdrew {eth(WITHDRAWAL)} ETH on L2 (message {self.w0.index}, L2 "
            f"#{sent_in}) and claimed it on L1 with eth_getProof at settled L2 #{proof.l2_block}: "
            f"L1 balance +{eth(after - before)} ETH = {eth(WITHDRAWAL)} - {gas:,} wei gas"
        )

    def escrow_check(self) -> EscrowCheck:
        """Everything read at one L1 block and the L2 block it had settled."""
        tag = self.l1.block_number()
        settled = self.rollup.last_block_number(tag)
        escrowed = self.rollup.escrowed(tag)
        burned = 0
        for n in range(1, settled + 1):
            block = self.l2.block(n)
            burned += h2i(block["baseFeePerGas"]) * h2i(block["gasUsed"])
        messenger = self.l2.balance(MESSENGER, settled)
        circulating = self.messenger_supply + self.l2_funding - burned - messenger
        sent_l1 = self.rollup.message_count(tag)
        deposits = 0
        for i in range(sent_l1):
            if not is_claimed_on_l2(self.l2, self._l1_message(i), tag=settled):
                deposits += self._l1_message(i).value + self._l1_message(i).fee
        sent_l2 = messenger_view(self.l2, "sentMessageCount()", tag=settled)
        withdrawals = 0
        for i in range(sent_l2):
            message, _ = find_withdrawal(self.l2, i, self.rollup.domain)
            if not self.rollup.is_l2_message_claimed(message.hash, tag=tag):
                withdrawals += message.value + message.fee
        check = EscrowCheck(
            tag,
            settled,
            escrowed,
            circulating,
            deposits,
            withdrawals,
            self.messenger_supply,
            messenger,
            self.l2_funding,
            burned,
        )
        self.report.escrow = check
        return check

    def _l1_message(self, index: int) -> Message:
        if not hasattr(self, "_l1_messages"):
            logs = self.rollup.message_logs(self.rollup.deploy_block)
            self._l1_messages = {m.index: m for m in logs}
        if index not in self._l1_messages:
            logs = self.rollup.message_logs(self.rollup.deploy_block)
            self._l1_messages = {m.index: m for m in logs}
        return self._l1_messages[index]

    def balances(self) -> None:
        settled = self.rollup.last_block_number()
        a = self.report.addresses
        self.report.balances = {
            "L1": {
                "Alice": self.l1.balance(self.alice),
                "sequencer": self.l1.balance(a["sequencer"]),
                "rollup contract": self.l1.balance(self.rollup.address),
            },
            f"L2 (settled #{settled})": {
                "Alice": self.l2.balance(self.alice, settled),
                "Bob": self.l2.balance(self.bob, settled),
                "relayer/coinbase": self.l2.balance(a["sequencer"], settled),
                "MessageRecorder": self.l2.balance(self.recorder, settled),
                "messenger": self.l2.balance(MESSENGER, settled),
            },
        }

    def l2_view(self, to: bytes, signature: str, out: str) -> Any:
        value = decode([out], self.l2.eth_call(to, calldata(signature)))[0]
        return value

    # -- all of it --------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        self.setup()
        self.deposits()
        self.l2_activity()
        self.withdrawal()
        self.forgeries()
        self.failing_claims()
        # settle anything still open (nothing in driving mode), then account
        check = self.escrow_check()
        self.balances()
        self.report.seconds = time.monotonic() - started
        expect(
            check.ok,
            f"escrow {check.escrowed} != circulating {check.circulating} + "
            f"in flight {check.deposits_in_flight} + {check.withdrawals_in_flight}",
        )
        expect(
            self.l1.balance(self.rollup.address) == check.escrowed,
            "the rollup's L1 balance is not its escrow",
        )
        return self.report


__all__ = [
    "ALICE_KEY",
    "BOB_KEY",
    "EXPECTED_REASONS",
    "Report",
    "SEQUENCER_KEY",
    "Scenario",
    "ScenarioError",
    "TxFailed",
    "load_rollup_file",
    "summary",
]
