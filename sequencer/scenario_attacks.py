"""The scenario's attacks: forged advances of the next block (steps 6) and claims that
must fail (step 7), on both layers. ``Scenario`` inherits them."""

from __future__ import annotations

from dataclasses import replace

from eth_hash.auto import keccak

from sequencer.advance import AdvanceInput, fetch_advance_input
from sequencer.client import ETHER, RpcError, gas_cost, h2b, h2i
from sequencer.messages import MessageTree, Revert, calldata, decode_revert
from sequencer.relayer import (
    WithdrawalProof,
    claim_calldata,
    prove_withdrawal,
    withdraw,
    withdrawal_from_receipt,
    withdrawal_proof,
)
from sequencer.rollup import MESSENGER, RollupState
from sequencer.scenario_drivers import settlement_tx
from sequencer.scenario_results import (
    EXPECTED_REASONS,
    SECOND_WITHDRAWAL,
    FailedClaim,
    Forgery,
    expect,
)
from sequencer.sequencer import Sequencer
from sequencer.settlement import calldata_gas


class ScenarioAttacks:
    """Steps 6 and 7 of ``Scenario`` (see ``sequencer.scenario``)."""

    def forgeries(self) -> None:
        txs = [
            self.alice_l2.submit(self.counter, calldata("increment()"), gas=200_000),
            self.alice_l2.submit(self.bob, value=ETHER // 10, gas=21_000),
        ]
        held = self.driver.hold(txs)
        if held is None:
            self._simulated_forgeries(txs)
            return
        inp = fetch_advance_input(self.l2, held)
        cases = self._forged_inputs(inp, held)
        seq: Sequencer = self.driver.sequencer  # type: ignore[attr-defined]
        genuine_gas = seq.estimate(inp)
        self.say(f"6. forged advances of L2 #{held} (held back unsettled), each a real L1 tx:")
        for name, forged in cases.items():
            got = seq.simulate(forged)
            before = self.rollup.state()
            balance = self.l1.balance(self.sequencer_l1.address)
            _, floor = calldata_gas(forged.calldata())
            gas = max(genuine_gas + genuine_gas // 5, 21_000 + floor + 50_000)
            receipt = seq.submit_advance(forged, gas=gas)
            fee = balance - self.l1.balance(self.sequencer_l1.address) - gas_cost(receipt)
            after = self.rollup.state()
            self._add_forgery(
                Forgery(
                    name,
                    EXPECTED_REASONS[name],
                    got,
                    False,
                    h2i(receipt["status"]),
                    before == after,
                    fee,
                ),
                before,
            )
        self._record(seq.settle(held))

    def _forged_inputs(self, inp: AdvanceInput, number: int) -> dict[str, AdvanceInput]:
        parent_root = h2b(self.l2.block(number - 1)["stateRoot"])
        counter_code = keccak(self.l2.code(self.counter, hex(number)))
        return {
            "wrong post-state root": replace(inp, post_state_root=keccak(b"forged root")),
            "gas used + 1": replace(inp, gas_used=inp.gas_used + 1),
            "gas used - 1": replace(inp, gas_used=inp.gas_used - 1),
            "missing witness node": replace(
                inp, witness=inp.witness.without_state_node(parent_root)
            ),
            "missing code": replace(inp, witness=inp.witness.without_code(counter_code)),
        }

    def _simulated_forgeries(self, txs: list[str]) -> None:
        settled = self.include(txs)
        number = h2i(self.l2.receipt(txs[0])["blockNumber"])
        expect(
            any(s.number == number for s in settled) or self.rollup.last_block_number() >= number,
            "block not settled",
        )
        receipt, _ = settlement_tx(self.rollup, number)
        l1_block = h2i(receipt["blockNumber"])
        tag = l1_block - 1
        timestamp = h2i(self.l1.block(l1_block)["timestamp"])
        inp = fetch_advance_input(self.l2, number)
        before = self.rollup.state(tag)
        self.say(
            f"6. forged advances of L2 #{number}, simulated by eth_call from the sequencer "
            f"at L1 block {tag} (just before the genuine settlement):"
        )
        for name, forged in self._forged_inputs(inp, number).items():
            got = None
            try:
                self.l1.eth_call(
                    self.rollup.address,
                    forged.calldata(),
                    sender=self.report.addresses["sequencer"],
                    tag=tag,
                    block_overrides={"time": hex(timestamp)},
                )
            except RpcError as exc:
                got = decode_revert(exc.revert_data)
            self._add_forgery(Forgery(name, EXPECTED_REASONS[name], got, True), before)

    def _add_forgery(self, forgery: Forgery, state: RollupState) -> None:
        self.report.forgeries.append(forgery)
        where = "simulated" if forgery.simulated else f"tx status {forgery.tx_status}"
        fee = (
            ""
            if forgery.execute_fee_paid is None
            else (f", execute fee still paid {forgery.execute_fee_paid:,} wei")
        )
        self.say(
            f"   {'OK ' if forgery.ok else 'BAD'} {forgery.name:<22} -> {forgery.got} "
            f"(expected reason {forgery.expected}; {where}; state "
            f"{'unchanged' if forgery.state_unchanged else 'MOVED'}{fee})"
        )
        expect(forgery.ok, f"forgery '{forgery.name}' was not rejected as expected")

    def failing_claims(self) -> None:
        self.say("7. claims that must fail:")
        # -- L2: the messenger
        latest = self.l2.block("latest")
        anchor = h2b(latest["parentBeaconBlockRoot"])
        anchor_ts = h2i(latest["timestamp"])
        leaves = self._message_leaves()
        count = next(c for c in range(len(leaves) + 1) if MessageTree(leaves[:c]).root == anchor)
        tree = MessageTree(leaves[:count])
        good = claim_calldata(self.m1, tree.proof(self.m1.index), anchor_ts)
        expect(self._l2_revert(good) is None, "Bob's genuine claim would fail")
        tampered = tree.proof(self.m1.index)
        tampered[3] = keccak(b"tampered")
        forged = replace(self.m1, to=self.bob, value=100 * ETHER)
        never = replace(self.m1, sender=self.alice, to=self.alice, index=count + 1000)
        l2_cases = [
            (
                f"double claim (message {self.m0.index})",
                f"AlreadyDone(0x{self.m0.hash.hex()})",
                claim_calldata(self.m0, tree.proof(self.m0.index), anchor_ts),
            ),
            (
                "wrong Merkle proof (message 1)",
                f"InvalidMessageProof(0x{self.m1.hash.hex()})",
                claim_calldata(self.m1, tampered, anchor_ts),
            ),
            (
                "message not in the tree (forged value)",
                f"InvalidMessageProof(0x{forged.hash.hex()})",
                claim_calldata(forged, tree.proof(self.m1.index), anchor_ts),
            ),
            (
                "message never sent (index past the tree)",
                f"InvalidMessageProof(0x{never.hash.hex()})",
                claim_calldata(never, tree.proof(self.m1.index), anchor_ts),
            ),
            (
                "anchor timestamp with no L2 block",
                f"UnknownAnchor({anchor_ts + 1})",
                claim_calldata(self.m1, tree.proof(self.m1.index), anchor_ts + 1),
            ),
        ]
        for name, expected, data in l2_cases:
            self._add_claim(FailedClaim("L2", name, expected, self._l2_revert(data)))

        # -- L1: the rollup contract
        tx_hash, _ = withdraw(self.alice_l2, self.alice, SECOND_WITHDRAWAL, 0, wait=False)
        held = self.driver.hold([tx_hash])
        if held is None:  # the external sequencer settles it at once
            self.include([tx_hash])
        w1 = withdrawal_from_receipt(self.l2.receipt(tx_hash), self.rollup.domain)
        sent_in = h2i(self.l2.receipt(tx_hash)["blockNumber"])
        unsettled = self.rollup.last_block_number() + 1
        if held is not None:
            account, storage = withdrawal_proof(self.l2, w1, held)
            data = WithdrawalProof(w1, sent_in, held, account, storage).calldata()
        else:
            account, storage = withdrawal_proof(self.l2, w1, sent_in)
            data = WithdrawalProof(w1, sent_in, unsettled, account, storage).calldata()
        self._add_claim(
            FailedClaim(
                "L1",
                "claim against an unsettled L2 block",
                f"L2BlockNotSettled({unsettled})",
                self._l1_revert(data),
            )
        )
        if held is not None:
            self._record(self.driver.settle(held))
        settled = self.rollup.last_block_number()
        w0_proof = prove_withdrawal(self.rollup, self.l2, self.w0.index, settled)
        # w1's slot proven at the block before it was sent, presented for the settled block
        stale_account, stale_storage = withdrawal_proof(self.l2, w1, sent_in - 1)
        w1_good = prove_withdrawal(self.rollup, self.l2, w1.index, settled)
        expect(self._l1_revert(w1_good.calldata()) is None, "Alice's genuine claim would fail")
        never = replace(w1, value=50 * ETHER)
        l1_cases = [
            (
                f"double claim (withdrawal {self.w0.index})",
                f"AlreadyClaimed(0x{self.w0.hash.hex()})",
                w0_proof.calldata(),
            ),
            (
                "proof from another L2 state",
                "TrieProofTraversalError(2)",
                WithdrawalProof(w1, sent_in, settled, stale_account, stale_storage).calldata(),
            ),
            (
                "message never sent (forged value)",
                f"MessageNotSent(0x{never.hash.hex()})",
                replace(w1_good, message=never).calldata(),
            ),
        ]
        for name, expected, data in l1_cases:
            self._add_claim(FailedClaim("L1", name, expected, self._l1_revert(data)))
        self.w1 = w1
        self.say(
            f"   (Bob's message {self.m1.index} and Alice's withdrawal {w1.index} stay "
            f"unclaimed: they are in flight in the escrow check)"
        )

    def _message_leaves(self) -> list[bytes]:
        count = self.rollup.message_count()
        return [self.rollup.view("messageLeaves(uint256)", ["bytes32"], i) for i in range(count)]

    def _l2_revert(self, data: bytes) -> Revert | None:
        try:
            self.l2.eth_call(MESSENGER, data, sender=self.alice)
        except RpcError as exc:
            return decode_revert(exc.revert_data)
        return None

    def _l1_revert(self, data: bytes) -> Revert | None:
        try:
            self.l1.eth_call(self.rollup.address, data, sender=self.alice)
        except RpcError as exc:
            return decode_revert(exc.revert_data)
        return None

    def _add_claim(self, claim: FailedClaim) -> None:
        self.report.failed_claims.append(claim)
        self.say(f"   {'OK ' if claim.ok else 'BAD'} {claim.layer} {claim.name:<42} -> {claim.got}")
        expect(
            claim.ok,
            f"{claim.layer} claim '{claim.name}': expected {claim.expected}, got {claim.got}",
        )

    # -- accounting -------------------------------------------------------------------------
