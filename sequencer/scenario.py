"""The end-to-end native rollup scenario (ROLLUP.md steps 1-7) and its summary.

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_hash.auto import keccak

from precompiles.execute_wire import Reason
from sequencer.artifacts import load_artifact
from sequencer.client import (
    ETHER,
    RpcClient,
    RpcError,
    Signer,
    TxFailed,
    b2h,
    gas_cost,
    h2b,
    h2i,
)
from sequencer.messages import (
    BLOCK_SETTLED,
    Message,
    MessageTree,
    Revert,
    calldata,
    contract_address,
    decode_revert,
    topic,
)
from sequencer.relayer import (
    Relayer,
    WithdrawalProof,
    claim_calldata,
    claim_withdrawal,
    find_withdrawal,
    is_claimed_on_l2,
    messenger_view,
    prove_withdrawal,
    withdraw,
    withdrawal_from_receipt,
    withdrawal_proof,
)
from sequencer.rollup import (
    MESSENGER,
    Rollup,
    RollupInfo,
    RollupState,
    deploy_rollup,
    open_rollup,
)
from sequencer.sequencer import (
    AdvanceInput,
    Sequencer,
    Settlement,
    calldata_gas,
    fetch_advance_input,
    settlement_of,
)

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


# -- how blocks get made -------------------------------------------------------------------------


class Driver:
    """Gets submitted L2 transactions into settled L2 blocks."""

    external = False

    def include(self, tx_hashes: list[str], anchor_only: bool = False) -> list[Settlement]:
        raise NotImplementedError

    def hold(self, tx_hashes: list[str]) -> int | None:
        """Mine a block with ``tx_hashes`` but leave it unsettled (``None``: cannot)."""
        raise NotImplementedError

    def settle(self, number: int) -> Settlement:
        raise NotImplementedError


class DrivingSequencer(Driver):
    """This process sequences: one ``Sequencer.step`` per call."""

    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer

    def include(self, tx_hashes: list[str], anchor_only: bool = False) -> list[Settlement]:
        settled = self.sequencer.step(force=True)
        l2 = self.sequencer.l2
        for tx_hash in tx_hashes:
            receipt = l2.receipt(tx_hash)
            expect(receipt is not None, f"L2 tx {tx_hash} was not included")
        return settled

    def hold(self, tx_hashes: list[str]) -> int | None:
        block = self.sequencer.produce_block(force=True)
        expect(block is not None, "no block produced")
        included = set(block["transactions"])
        expect(all(h in included for h in tx_hashes), "held block lacks the transactions")
        return h2i(block["number"])

    def settle(self, number: int) -> Settlement:
        return self.sequencer.settle(number)


class WatchingSequencer(Driver):
    """A ``native-rollup sequence`` process sequences; we wait and read the L1 record."""

    external = True

    def __init__(self, rollup: Rollup, l2: RpcClient, timeout: float = 120.0) -> None:
        self.rollup = rollup
        self.l2 = l2
        self.timeout = timeout
        self.seen = rollup.last_block_number()

    def include(self, tx_hashes: list[str], anchor_only: bool = False) -> list[Settlement]:
        started = time.monotonic()
        deadline = started + self.timeout
        target = 0
        for tx_hash in tx_hashes:
            receipt = self.l2.wait_receipt(tx_hash, timeout=self.timeout)
            target = max(target, h2i(receipt["blockNumber"]))
        if anchor_only:  # wait for a block anchoring every L1 message so far
            count = self.rollup.message_count()
            while self.rollup.anchored_message_count() < count:
                expect(time.monotonic() < deadline, "the sequencer did not anchor new messages")
                time.sleep(0.2)
            target = max(target, self.l2.block_number())
        while self.rollup.last_block_number() < target:
            expect(time.monotonic() < deadline, f"L2 block {target} not settled in time")
            time.sleep(0.2)
        return self.collect(time.monotonic() - started)

    def collect(self, seconds: float) -> list[Settlement]:
        out = []
        last = self.rollup.last_block_number()
        for number in range(self.seen + 1, last + 1):
            receipt, data = settlement_tx(self.rollup, number)
            out.append(
                settlement_of(self.rollup.l1, self.rollup.address, receipt, data, seconds=seconds)
            )
        self.seen = last
        return out

    def hold(self, tx_hashes: list[str]) -> int | None:
        return None

    def settle(self, number: int) -> Settlement:
        raise ScenarioError("the external sequencer settles blocks itself")


def settlement_tx(rollup: Rollup, number: int) -> tuple[dict, bytes]:
    """The L1 receipt and calldata of the ``advance`` that settled L2 block ``number``."""
    logs = rollup.l1.call(
        "eth_getLogs",
        {
            "address": b2h(rollup.address),
            "topics": [topic(BLOCK_SETTLED), b2h(number.to_bytes(32, "big"))],
            "fromBlock": hex(rollup.deploy_block),
            "toBlock": "latest",
        },
    )
    expect(len(logs) == 1, f"no BlockSettled event for L2 block {number}")
    tx_hash = logs[0]["transactionHash"]
    tx = rollup.l1.call("eth_getTransactionByHash", tx_hash)
    return rollup.l1.receipt(tx_hash), h2b(tx["input"])


# -- the scenario ---------------------------------------------------------------------------------


class Scenario:
    """ROLLUP.md's end-to-end scenario against an L1 and an L2 node."""

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


# -- the summary ----------------------------------------------------------------------------------


def eth(wei: int) -> str:
    text = f"{wei / ETHER:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def gwei(wei: int) -> str:
    return f"{wei / 10**9:,.1f}"


def summary(report: Report) -> str:
    """The readable summary the demo prints."""
    s = report.settlements
    lines = [
        "",
        "=" * 100,
        "Native rollup: summary",
        "=" * 100,
        f"L1 {report.l1_url}   L2 {report.l2_url}   rollup {report.rollup.address}",
        f"sequencing: {'external sequencer process' if report.external else 'this process'}; "
        f"wall time {report.seconds:.1f}s",
        "",
        f"Blocks settled: {len(s)} (L2 #{s[0].number}..#{s[-1].number}); after each advance the "
        f"L1 contract's lastBlockHash equals the L2 node's block hash "
        f"({sum(a == b for _, a, b in report.hashes_checked)}/{len(report.hashes_checked)} checked)",
        "",
        "Per settled block (L1 gas of advance = 21000 + calldata + EXECUTE + contract logic"
        " [+ EIP-7623 floor surcharge]):",
        f"{'L2#':>4} {'txs':>3} {'L2 gas':>8} {'witness B':>9} {'B/tx':>7} {'calldata B':>10} "
        f"{'L1 gas':>9} {'calldata':>8} {'floor':>8} {'EXECUTE':>8} {'logic':>7} "
        f"{'surcharge':>9} {'exec fee gwei':>13} {'burned gwei':>12} {'time s':>6}",
    ]
    for x in s:
        g = x.gas
        per_tx = f"{x.witness_bytes // x.tx_count:,}" if x.tx_count else "-"
        logic = f"{g.logic:,}" if g.logic is not None else "n/a"
        floor = f"{g.calldata_floor:,}" + ("*" if g.floor_binds else "")
        lines.append(
            f"{x.number:>4} {x.tx_count:>3} {x.l2_gas_used:>8,} {x.witness_bytes:>9,} "
            f"{per_tx:>7} {g.calldata_bytes:>10,} {g.total:>9,} {g.calldata_standard:>8,} "
            f"{floor:>8} {g.execute:>8,} {logic:>7} {g.floor_surcharge:>9,} "
            f"{gwei(x.execute_fee):>13} {gwei(x.burned_fees):>12} {x.seconds:>6.2f}"
        )
    n = len(s)
    txs = sum(x.tx_count for x in s)
    witness = sum(x.witness_bytes for x in s)
    gas = sum(x.gas.total for x in s)
    execute = sum(x.gas.execute for x in s)
    std = sum(x.gas.calldata_standard for x in s)
    logic_known = [x.gas.logic for x in s if x.gas.logic is not None]
    fees = sum(x.execute_fee for x in s)
    burned = sum(x.burned_fees for x in s)
    binds = sum(x.gas.floor_binds for x in s)
    surcharge = sum(x.gas.floor_surcharge for x in s)
    l1_gas_paid = sum(x.gas.total * x.l1_gas_price for x in s)
    lines += [
        "",
        f"Averages over {n} blocks ({txs} L2 txs):",
        f"  L1 gas per advance      {gas // n:,}  = 21,000 intrinsic ({21_000 * n * 100 // gas}%) "
        f"+ calldata {std // n:,} ({std * 100 // gas}%) + EXECUTE {execute // n:,} "
        f"({execute * 100 // gas}%) + contract logic "
        + (
            f"{sum(logic_known) // len(logic_known):,} ({sum(logic_known) * 100 // gas}%)"
            if logic_known
            else "n/a"
        ),
        f"  EIP-7623 floor          binds in {binds}/{n} blocks (10 gas/token, marked *): "
        f"surcharge {surcharge // n:,} per block on average ({surcharge * 100 // gas}%)",
        f"  execute fee per block   {fees // n:,} wei (output word 6; total {eth(fees)} ETH), "
        f"at execute base fee {s[-1].execute_base_fee:,} wei/gas at the end",
        f"  burned L2 base fees     {burned // n:,} wei per block, paid from escrow to the "
        f"sequencer (total {eth(burned)} ETH)",
        f"  sequencer on L1         paid {eth(l1_gas_paid)} ETH gas + {eth(fees)} ETH execute "
        f"fees for these advances, received {eth(burned)} ETH of burned L2 fees",
        f"  witness bytes           {witness // n:,} per L2 block, "
        f"{witness // max(txs, 1):,} per L2 tx",
        f"  wall time per block     {sum(x.seconds for x in s) / n:.2f}s "
        + (
            "(as the demo saw it: submit -> settled, incl. the sequencer's polling interval)"
            if report.external
            else "(anchor + claims + mine + witness + advance + hash check)"
        ),
    ]
    lines += ["", "Forged advances (rejected by EXECUTE, contract state unchanged):"]
    for f in report.forgeries:
        how = "eth_call" if f.simulated else f"L1 tx status {f.tx_status}"
        fee = "" if f.execute_fee_paid is None else f", execute fee paid {f.execute_fee_paid:,} wei"
        lines.append(f"  {'ok ' if f.ok else 'BAD'} {f.name:<22} {str(f.got):<45} {how}{fee}")
    lines += ["", "Claims that must fail (eth_call):"]
    for c in report.failed_claims:
        lines.append(f"  {'ok ' if c.ok else 'BAD'} {c.layer} {c.name:<42} {c.got}")
    w = report.alice_withdrawal
    if w:
        lines += [
            "",
            f"Alice's withdrawal: {eth(w['value'])} ETH sent in L2 #{w['sent_in']}, proven at "
            f"settled L2 #{w['proven_at']}; L1 balance {eth(w['before'])} -> {eth(w['after'])} "
            f"(+{eth(w['value'])} ETH - {w['gas']:,} wei gas)",
        ]
    lines += ["", "Balances (ETH):"]
    for layer, entries in report.balances.items():
        lines.append(f"  {layer:<18} " + "   ".join(f"{k} {eth(v)}" for k, v in entries.items()))
    e = report.escrow
    if e is not None:
        lines += [
            "",
            f"Escrow (L1 block {e.l1_block}, settled L2 #{e.l2_block}): "
            f"{'holds' if e.ok else 'DOES NOT HOLD'}",
            f"  escrowed {eth(e.escrowed)} = L2 circulation {eth(e.circulating)} "
            f"+ deposits in flight {eth(e.deposits_in_flight)} "
            f"+ withdrawals in flight {eth(e.withdrawals_in_flight)}",
            f"  L2 circulation = messenger pre-mint {eth(e.messenger_supply)} - its balance "
            f"{eth(e.messenger_balance)} + dev funding {eth(e.l2_dev_funding)} - burned "
            f"{eth(e.burned)}",
        ]
    lines += ["", "RESULT: " + ("all checks passed" if report.ok else "FAILED"), ""]
    return "\n".join(lines)


def load_rollup_file(path: Path | None) -> RollupInfo | None:
    if path is None:
        return None
    return RollupInfo.load(path)


__all__ = [
    "Report",
    "Scenario",
    "ScenarioError",
    "TxFailed",
    "load_rollup_file",
    "summary",
]
