"""Invariants of the native rollup's escrow and messaging under random operation, on REAL
L1 and L2 node processes (rollup-security issue #18).

A hypothesis ``RuleBasedStateMachine`` drives the two nodes the way users, relayers and the
sequencer do: deposits (L1 -> L2 messages with random recipient, value, fee, data and
``minGasLimit``; some to contracts that revert, some relayed with too little gas), relays on
L2 (against an anchor already on L2 or the one the next block carries), L2 transfers,
withdrawals (``L2Messenger.sendMessage``), L2 blocks mined with or without a new anchor,
settlements (``advance`` -> EXECUTE), steps of the package's own ``Sequencer`` with its
``Relayer`` (catch up, anchor, relay, mine, settle, as ``native-rollup sequence``), claims on L1 with real ``eth_getProof`` proofs, refunds
of failed deliveries after the delay (the L1 clock is moved a day on), ``addEscrow``, and
attempts that must fail: double claims, claims of unsent, unsettled or forged messages
(index, fields, slot, proof, block, direction), claims short of gas, refunds twice, early or
of delivered messages, claims with bad proofs, unknown anchors or another rollup's domain.

After every step, at one L1 block and the L2 block it has settled, the chains themselves are
read (contract views, balances, logs), not the model:

- the contract's settled block hash is the L2 node's block hash of that number;
- the rollup's L1 balance is its ``escrowed``;
- every ``L2MessageClaimed`` on L1 names a message the L2 messenger logged as sent in a
  settled block, and no message is claimed twice;
- the L2 ETH outside the messenger, summed over every account the test knows, equals the
  messenger's pre-mint plus the genesis funding minus the messenger's balance minus the base
  fees burned in settled blocks (so no account the test does not know holds L2 ETH);
- ``escrowed`` == L2 circulation + deposits not yet delivered or refunded + withdrawals sent
  and not yet claimed + ``addEscrow`` top-ups; hence escrow >= every claimable message plus
  the deposits in flight, and escrow >= L2 circulation.

The model (what the test sent and saw in receipts) is checked against those readings, each
L2 receipt against what the model expects of it (a refund succeeds exactly when it is due,
a claim of a done message reverts, ...), each settlement's burned fees against the block,
each L1 claim's balance changes exactly, and after every settlement the contracts' views
(``isDone``, ``failedAt``, ``isSent``, ``isL2MessageClaimed``, ``sentMessageCount``).

Run against a ``NativeRollup`` without the claimed mark, without the escrow debit of a
claim, or without the burned-fee release (artifacts from ``NATIVE_ROLLUP_ARTIFACTS``), the
default size fails each time (``isL2MessageClaimed ...`` and ``escrow moved wrongly``
within the examples, shrinking included about six minutes; ``advance did not release
exactly the burned fees`` already while building the base).

Nodes start once per run; every example starts from the same base (rollup deployed, users
funded on L2, test contracts deployed, one withdrawal and one failed deposit on record)
through ``evm_snapshot``/``evm_revert`` on both nodes. Sizes: ``ROLLUP_INVARIANT_EXAMPLES``
(default 10) examples of ``ROLLUP_INVARIANT_STEPS`` (default 30) steps, about a minute on
two busy cores; a failure is shrunk on the same nodes (minutes) and kept in hypothesis's
example database, which replays it first next time.
"""

from __future__ import annotations

import copy
import functools
import os
import time
from dataclasses import dataclass, field

import pytest
from eth_abi import decode
from eth_hash.auto import keccak
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sequencer.artifacts import load_artifact
from sequencer.client import (
    ETHER,
    GWEI,
    RpcClient,
    RpcError,
    Signer,
    b2h,
    h2b,
    h2i,
    read_jwt_secret,
)
from sequencer.localnet import L2_FUNDING
from sequencer.messages import (
    L1_CLAIM,
    L1_SEND,
    L1_TO_L2,
    L2_CLAIM,
    L2_REFUND,
    L2_SEND,
    L2_TO_L1,
    MAX_MIN_GAS_LIMIT,
    REFUND_DELAY,
    Domain,
    Message,
    MessageTree,
    calldata,
    contract_address,
    decode_revert,
    selector,
    split_types,
    topic,
)
from sequencer.relayer import Relayer, beacon_root_override, withdrawal_proof
from sequencer.rollup import BEACON_ROOTS, MESSENGER, deploy_rollup
from sequencer.sequencer import Sequencer
from tests.e2e.test_rollup_scenario import L2_ARGS
from tests.procs import DEV_KEYS, free_port, start_node, under_test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE"),
]

EXAMPLES = int(os.environ.get("ROLLUP_INVARIANT_EXAMPLES", "10"))
STEPS = int(os.environ.get("ROLLUP_INVARIANT_STEPS", "30"))

SEQUENCER = 0  # L1 sequencer; on L2 the genesis-funded relayer and the blocks' coinbase
USERS = (1, 2, 3)
L2_MAX_FEE = 10 * GWEI  # the L2 base fee starts at 1 gwei and only rises in full blocks
L1_CLAIM_GAS = 2_000_000  # forged claims sent as real transactions
L2_TX_GAS = 1_500_000
ZERO32 = b"\x00" * 32
WARP = REFUND_DELAY + 60
USER_L2_FUNDING = 3 * ETHER

# L2 recipients that hold no key: they only ever receive
FRESH_L2 = (keccak(b"invariant fresh L2 1")[12:], keccak(b"invariant fresh L2 2")[12:])
FRESH_L1 = (keccak(b"invariant fresh L1 1")[12:],)
RECORD = "record(uint256)"

MESSAGE_DELIVERED = "MessageDelivered(bytes32,uint256,address)"
MESSAGE_DELIVERY_FAILED = "MessageDeliveryFailed(bytes32,uint256,bytes)"
MESSAGE_REFUNDED = "MessageRefunded(bytes32,uint256,bytes32)"
MESSAGE_SENT = "MessageSent(uint256,address,address,uint256,uint256,uint256,bytes,bytes32)"
L2_MESSAGE_CLAIMED = "L2MessageClaimed(bytes32,uint256,address)"
ESCROW_ADDED = "EscrowAdded(address,uint256)"

VALUES = st.sampled_from([0, 1, 10**9, 10**15, 10**17, ETHER // 2, ETHER])
FEES = st.sampled_from([0, 0, 1, 10**12, 10**15])
MIN_GAS_LIMITS = st.sampled_from([0, 0, 30_000, 200_000, 1_000_000, MAX_MIN_GAS_LIMIT])


# -- the model: what the test sent and what the receipts said --------------------------------


@dataclass
class Deposit:
    """An L1 -> L2 message."""

    message: Message
    target: str  # "eoa" (accepts any call), "recorder" (while open), "refuses"
    done_in: int | None = None  # L2 block that delivered or refunded it
    refunded: bool = False
    failed_at: int | None = None  # L2 timestamp of its first failed delivery


@dataclass
class Withdrawal:
    """An L2 -> L1 message (a withdrawal, or a refund sent by the messenger itself)."""

    message: Message
    sent_in: int  # L2 block
    target: str  # as for deposits, on L1
    claimed: bool = False


@dataclass
class Block:
    number: int
    timestamp: int
    block_hash: bytes
    anchor_count: int | None  # messages under the anchor it carries (None: no anchor)
    burned: int


@dataclass
class Pending:
    """An L2 transaction in the pool, and what its receipt must show."""

    tx_hash: str
    kind: str
    sender: int
    reserved: int
    info: dict = field(default_factory=dict)


@dataclass
class Model:
    deposits: list[Deposit] = field(default_factory=list)
    withdrawals: dict[bytes, Withdrawal] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)  # L2 blocks after genesis
    settled: int = 0
    pending: list[Pending] = field(default_factory=list)
    planned: tuple[int, int] | None = None  # (timestamp, message count) of the next block
    l1_recorder_closed: bool = False
    l2_recorder_closed: bool = False
    added_escrow: int = 0
    claims_on_l1: int = 0
    refunds: int = 0
    failures_checked: int = 0

    def anchors(self) -> list[tuple[int, int]]:
        return [(b.timestamp, b.anchor_count) for b in self.blocks if b.anchor_count]

    def reserved(self, key: int) -> int:
        return sum(p.reserved for p in self.pending if p.sender == key)


class Finding(AssertionError):
    """The rollup broke a rule the test checks."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise Finding(what)


# -- the harness: real nodes, driven step by step --------------------------------------------


class Harness:
    """The nodes, the rollup, the keys and the model, with one method per protocol step."""

    def __init__(self, l1_url: str, l2_url: str, control: RpcClient) -> None:
        self.l1 = RpcClient(l1_url)
        self.l2 = RpcClient(l2_url)
        self.control = control
        self.l1_signers = [Signer.from_key(self.l1, k) for k in DEV_KEYS]
        self.l2_signers = [Signer.from_key(self.l2, k) for k in DEV_KEYS]
        self.model = Model()
        self.messenger_supply = self.l2.balance(MESSENGER, 0)
        self.l2_block_gas_limit = h2i(self.l2.block(0)["gasLimit"])
        seq = self.l1_signers[SEQUENCER]
        self.rollup, _, _ = deploy_rollup(seq, self.l2, seq.address, L2_FUNDING)
        self.domain = self.rollup.domain
        self.sequencer = Sequencer(
            self.rollup, self.l2, seq, control=control, measure_execution=False
        )
        self.l1_recorder = self._deploy_l1("MessageRecorder")
        self.l1_bomb = self._deploy_l1("ReturnBomb")
        user = self.address(USERS[0])
        nonce = self.l2.nonce(b2h(user))
        self.l2_recorder = contract_address(user, nonce)
        self.l2_bomb = contract_address(user, nonce + 1)
        self.l2_accounts = [self.address(k) for k in range(len(DEV_KEYS))]
        self.l2_accounts += [*FRESH_L2, self.l2_recorder, self.l2_bomb]
        self.l1_snapshot: str | None = None
        self.l2_snapshot: str | None = None
        self.base: Model | None = None

    def address(self, key: int) -> bytes:
        return self.l1_signers[key].address

    def _deploy_l1(self, name: str) -> bytes:
        receipt = self.l1_signers[SEQUENCER].send(
            None, load_artifact(name).bytecode, gas=1_000_000, what=f"deploy {name}"
        )
        return h2b(receipt["contractAddress"])

    # -- the common starting point of every example ---------------------------------------

    def build_base(self) -> None:
        """Fund the users on L2, deploy the L2 test contracts, leave one withdrawal and one
        failed deposit on record, settle everything, and snapshot both nodes."""
        for key in USERS:
            self.deposit(key, self.address(key), USER_L2_FUNDING, 10**15, b"", 0, "eoa")
        self.relay_all()
        user = USERS[0]
        for name in ("MessageRecorder", "ReturnBomb"):
            self.submit(user, "deploy", None, load_artifact(name).bytecode, 0, 1_000_000)
        self.mine(anchor=False)
        assert self.l2.code(self.l2_recorder) and self.l2.code(self.l2_bomb)
        bomb = self.deposit(USERS[1], self.l2_bomb, ETHER // 10, 10**15, b"", 0, "refuses")
        self.withdraw(USERS[2], self.address(USERS[2]), ETHER // 2, 0, b"", 0, "eoa")
        self.mine(anchor=True)
        self.relay(bomb.message.index, SEQUENCER, None, anchor=self.model.anchors()[-1])
        self.mine(anchor=False)
        expect(self.model.deposits[bomb.message.index].failed_at is not None, "bomb delivered")
        self.settle()
        self.base = copy.deepcopy(self.model)
        self.l1_snapshot = self.l1.call("evm_snapshot")
        self.l2_snapshot = self.control.call("evm_snapshot")

    def reset(self) -> None:
        """Back to the base on both nodes (a snapshot is used up by its revert: take it
        again)."""
        assert self.l1.call("evm_revert", self.l1_snapshot) is True
        assert self.control.call("evm_revert", self.l2_snapshot) is True
        self.l1_snapshot = self.l1.call("evm_snapshot")
        self.l2_snapshot = self.control.call("evm_snapshot")
        for signer in self.l1_signers + self.l2_signers:
            signer.resync()
        self.model = copy.deepcopy(self.base)
        self.sequencer.settlements.clear()
        self.driver = self.relaying_sequencer()

    def relaying_sequencer(self) -> Sequencer:
        """The package's own sequencer with its relayer (fresh bookkeeping), as
        ``native-rollup sequence`` runs them."""
        relayer = Relayer(self.rollup, self.l2, self.l2_signers[SEQUENCER], retry_blocks=2)
        seq = self.l1_signers[SEQUENCER]
        return Sequencer(
            self.rollup, self.l2, seq, relayer, control=self.control, measure_execution=False
        )

    def sequencer_step(self) -> None:
        """``Sequencer.step(force=True)``: settle what is open, mine a block anchoring the L1
        root with the relayer's claims (and the pool's transactions), settle it; the test
        then takes the block into its model and checks each settlement."""
        known = len(self.model.blocks)
        settled = self.driver.step(force=True)
        head = self.l2.block_number()
        expect(head == known + 1, f"the sequencer step mined {head - known} blocks")
        self.ingest(self.l2.block(head))
        for s in settled:
            block = self.model.blocks[s.number - 1]
            expect(s.l2_hash == block.block_hash, f"L1 settled another block {s.number}")
            expect(s.burned_fees == block.burned, f"block {s.number}: burned fees differ")
        expect(
            [s.number for s in settled] == list(range(self.model.settled + 1, head + 1)),
            "the sequencer step did not settle every open block in order",
        )
        self.model.settled = head

    # -- L1 -> L2 ---------------------------------------------------------------------------

    def deposit(
        self, key: int, to: bytes, value: int, fee: int, data: bytes, min_gas: int, target: str
    ) -> Deposit:
        escrow = self.rollup.escrowed()
        message, receipt = self.rollup.deposit(self.l1_signers[key], to, value, fee, data, min_gas)
        expect(message.index == len(self.model.deposits), "deposit nonce out of sequence")
        expect(
            (message.sender, message.to, message.value, message.fee, message.data)
            == (self.address(key), to, value, fee, data)
            and message.min_gas_limit == min_gas,
            "MessageSent does not log the message sent",
        )
        expect(self.rollup.escrowed() == escrow + value + fee, "deposit not escrowed")
        deposit = Deposit(message, target)
        self.model.deposits.append(deposit)
        return deposit

    def tree(self, count: int) -> MessageTree:
        return MessageTree([d.message.hash for d in self.model.deposits[:count]])

    def next_timestamp(self) -> int:
        parent = h2i(self.l2.block("latest")["timestamp"])
        return max(parent + 1, h2i(self.l1.block("latest")["timestamp"]))

    def plan_anchor(self) -> tuple[int, int]:
        """The next L2 block will anchor the current L1 root at a fixed timestamp (what the
        relayer claims against in that same block)."""
        if self.model.planned is None:
            self.model.planned = (self.next_timestamp(), len(self.model.deposits))
        return self.model.planned

    def relay(
        self,
        index: int,
        relayer: int,
        gas: int | None,
        anchor: tuple[int, int] | None = None,
    ) -> str | None:
        """Submit ``claim`` of deposit ``index`` against ``anchor`` (timestamp, count) (default:
        the next block's); ``gas`` None: the estimate with a margin. None if the pool refused."""
        override = None
        if anchor is None:
            anchor = self.plan_anchor()
            override = beacon_root_override(anchor[0], self.tree(anchor[1]).root)
        timestamp, count = anchor
        message = self.model.deposits[index].message
        data = claim_data(message, self.tree(count).proof(index), timestamp)
        if gas is None:
            request = {"from": b2h(self.address(relayer)), "to": b2h(MESSENGER), "data": b2h(data)}
            params = [request, "latest"] + ([override] if override else [])
            gas = h2i(self.l2.call("eth_estimateGas", *params))
            gas = min(gas + gas // 4 + 30_000, self.l2_block_gas_limit)
            mode = "enough"
        else:
            mode = "tight"
        return self.submit(
            relayer, "claim", MESSENGER, data, 0, gas, {"index": index, "mode": mode}
        )

    def relay_all(self) -> None:
        """Claim every deposit not done yet in the next block (which anchors them)."""
        for d in self.model.deposits:
            if d.done_in is None:
                self.relay(d.message.index, SEQUENCER, None)
        self.mine(anchor=True)

    # -- L2 transactions --------------------------------------------------------------------

    def l2_available(self, key: int) -> int:
        return self.l2.balance(self.address(key)) - self.model.reserved(key)

    def submit(
        self,
        key: int,
        kind: str,
        to: bytes | None,
        data: bytes,
        value: int,
        gas: int,
        info: dict | None = None,
    ) -> str | None:
        """Sign and send an L2 transaction into the pool (mined by ``mine``)."""
        signer = self.l2_signers[key]
        raw, tx_hash = signer.sign(to, data, value, gas, max_fee=L2_MAX_FEE)
        try:
            self.l2.call("eth_sendRawTransaction", b2h(raw))
        except RpcError as exc:
            signer.resync()
            expect("intrinsic gas" in exc.message or "floor" in exc.message, str(exc))
            return None
        reserved = value + gas * L2_MAX_FEE
        self.model.pending.append(Pending(tx_hash, kind, key, reserved, info or {}))
        return tx_hash

    def withdraw(
        self, key: int, to: bytes, value: int, fee: int, data: bytes, min_gas: int, target: str
    ) -> str | None:
        send = calldata(L2_SEND, to, min_gas, fee, data)
        info = {"to": to, "value": value, "fee": fee, "data": data, "min_gas": min_gas}
        info["target"] = target
        return self.submit(key, "withdraw", MESSENGER, send, value + fee, L2_TX_GAS, info)

    # -- L2 blocks ----------------------------------------------------------------------------

    def mine(self, anchor: bool) -> Block:
        """The next L2 block with the pool's transactions: it anchors the planned root, or the
        current root if ``anchor``, or none; then every receipt is checked in order."""
        if self.model.planned is not None:
            timestamp, count = self.model.planned
        else:
            timestamp = self.next_timestamp()
            count = len(self.model.deposits) if anchor else None
        root = self.tree(count).root if count is not None else ZERO32
        l1_head = self.l1.block("latest")
        self.control.call(
            "evm_mine",
            {
                "timestamp": timestamp,
                "parentBeaconBlockRoot": b2h(root),
                "coinbase": b2h(self.address(SEQUENCER)),
                "prevRandao": l1_head["mixHash"],
            },
        )
        self.model.planned = None
        raw = self.l2.block("latest")
        expect(h2i(raw["timestamp"]) == timestamp, "L2 block timestamp is not the one asked")
        expect(h2b(raw["parentBeaconBlockRoot"]) == root, "L2 block does not carry its anchor")
        return self.ingest(raw)

    def ingest(self, raw: dict) -> Block:
        """Take a mined L2 block into the model: its anchor, then every receipt in order
        (the test's own transactions, and claims the sequencer's relayer sent)."""
        number = h2i(raw["number"])
        expect(number == len(self.model.blocks) + 1, f"L2 mined block {number}")
        root = h2b(raw["parentBeaconBlockRoot"])
        count = None
        if root != ZERO32:
            counts = [
                c for c in range(len(self.model.deposits), -1, -1) if self.tree(c).root == root
            ]
            expect(bool(counts), f"L2 block {number} anchors a root the L1 tree never had")
            count = counts[0]
        block = Block(
            number,
            h2i(raw["timestamp"]),
            h2b(raw["hash"]),
            count,
            h2i(raw["baseFeePerGas"]) * h2i(raw["gasUsed"]),
        )
        self.model.blocks.append(block)
        mine = {p.tx_hash.lower(): p for p in self.model.pending}
        included = [tx_hash.lower() for tx_hash in raw["transactions"]]
        done = []
        for tx_hash in included:
            pending = mine.get(tx_hash) or self.relayer_claim(tx_hash)
            done.append(pending)
        still = []
        for pending in self.model.pending:
            if pending.tx_hash.lower() in included:
                continue
            if self.l2.call("eth_getTransactionByHash", pending.tx_hash) is None:
                raise Finding(f"L2 dropped {pending.kind} transaction {pending.tx_hash}")
            still.append(pending)  # over the block gas limit: the next block takes it
        receipts = {p.tx_hash: self.l2.receipt(p.tx_hash) for p in done}
        for pending in done:  # in block order
            self.check_receipt(pending, receipts[pending.tx_hash], block)
        self.model.pending = still
        self.check_recorder(block, done, receipts)
        return block

    def relayer_claim(self, tx_hash: str) -> Pending:
        """A transaction the sequencer's relayer sent: it must be a claim of an L1 message."""
        tx = self.l2.call("eth_getTransactionByHash", tx_hash)
        data = h2b(tx["input"])
        expect(
            h2b(tx["from"]) == self.address(SEQUENCER)
            and h2b(tx["to"]) == MESSENGER
            and data[:4] == selector(L2_CLAIM),
            f"L2 block holds a transaction the test did not send: {tx_hash}",
        )
        args = decode(split_types(L2_CLAIM[L2_CLAIM.index("(") + 1 : -1]), data[4:])
        index = args[2][0]
        expect(index < len(self.model.deposits), f"the relayer claimed unknown message {index}")
        return Pending(tx_hash, "claim", SEQUENCER, 0, {"index": index, "mode": "relayer"})

    def check_receipt(self, pending: Pending, receipt: dict, block: Block) -> None:
        """What the model expects of one L2 receipt, in block order; the model follows it."""
        ok = h2i(receipt["status"]) == 1
        info = pending.info
        what = f"L2 {pending.kind} {pending.tx_hash} in block {block.number}"
        if pending.kind in ("transfer", "deploy", "toggle"):
            expect(ok, f"{what} reverted")
            if pending.kind == "toggle":
                self.model.l2_recorder_closed = info["closed"]
        elif pending.kind == "must_fail":
            expect(not ok, f"{what} ({info['why']}) succeeded")
        elif pending.kind == "withdraw":
            expect(ok, f"{what} reverted")
            (message,) = self.sent_in(receipt)
            wanted = (
                self.address(pending.sender),
                info["to"],
                info["value"],
                info["fee"],
                info["data"],
                info["min_gas"],
            )
            got = (message.sender, message.to, message.value, message.fee, message.data)
            expect(got + (message.min_gas_limit,) == wanted, f"{what} logged another message")
            self._record_withdrawal(message, block, info["target"])
        elif pending.kind == "claim":
            self._check_claim(pending, receipt, block, ok, what)
        elif pending.kind == "refund":
            self._check_refund(pending, receipt, block, ok, what)
        else:
            raise AssertionError(pending.kind)

    def _check_claim(
        self, pending: Pending, receipt: dict, block: Block, ok: bool, what: str
    ) -> None:
        deposit = self.model.deposits[pending.info["index"]]
        if deposit.done_in is not None:
            expect(not ok, f"{what}: a claim of a message already done succeeded")
            return
        delivered = self.logs(receipt, MESSENGER, MESSAGE_DELIVERED)
        failed = self.logs(receipt, MESSENGER, MESSAGE_DELIVERY_FAILED)
        if not ok:
            # only a tight gas limit may make a first claim revert (InsufficientRelayGas)
            expect(pending.info["mode"] == "tight", f"{what} ({pending.info['mode']}) reverted")
            return
        expect(len(delivered) + len(failed) == 1, f"{what}: no delivery outcome logged")
        h = deposit.message.hash
        if delivered:
            expect(delivered[0][0][0] == h, f"{what}: delivered another message")
            refused = deposit.target == "refuses" or (
                deposit.target == "recorder" and self.model.l2_recorder_closed
            )
            expect(not refused, f"{what}: a recipient that reverts took the message")
            deposit.done_in = block.number
        else:
            expect(failed[0][0][0] == h, f"{what}: failed another message")
            if pending.info["mode"] == "enough":
                expect(deposit.target != "eoa", f"{what}: delivery to an account failed")
            if deposit.failed_at is None:
                deposit.failed_at = block.timestamp

    def _check_refund(
        self, pending: Pending, receipt: dict, block: Block, ok: bool, what: str
    ) -> None:
        deposit = self.model.deposits[pending.info["index"]]
        due = (
            deposit.done_in is None
            and deposit.failed_at is not None
            and block.timestamp >= deposit.failed_at + REFUND_DELAY
        )
        expect(ok == due, f"{what}: refund {'failed' if due else 'succeeded'} (due: {due})")
        if not ok:
            return
        m = deposit.message
        (refund,) = self.sent_in(receipt)
        expect(
            (refund.sender, refund.to, refund.value, refund.fee, refund.data)
            == (MESSENGER, m.sender, m.value + m.fee, 0, b""),
            f"{what}: the refund message is not value + fee back to the L1 sender",
        )
        deposit.done_in, deposit.refunded = block.number, True
        self.model.refunds += 1
        self._record_withdrawal(refund, block, "eoa")

    def _record_withdrawal(self, message: Message, block: Block, target: str) -> None:
        expect(message.hash not in self.model.withdrawals, "an L2 message hash repeated")
        self.model.withdrawals[message.hash] = Withdrawal(message, block.number, target)

    def check_recorder(self, block: Block, done: list[Pending], receipts: dict) -> None:
        """The last delivery to the L2 recorder in the block left its L1 sender and value."""
        last = None
        for pending in done:
            if pending.kind == "claim":
                d = self.model.deposits[pending.info["index"]]
                if d.target == "recorder" and d.done_in == block.number and not d.refunded:
                    last = (h2i(receipts[pending.tx_hash]["transactionIndex"]), d.message)
        if last is None:
            return
        m = last[1]
        sender, value, tag = self.l2_recorder_view(block.number)
        expect(
            (sender, value, tag) == (m.sender, m.value, decode(["uint256"], m.data[4:])[0]),
            "the L2 recorder did not see the message's L1 sender, value and argument",
        )

    def l2_recorder_view(self, number: int) -> tuple[bytes, int, int]:
        def word(signature: str, kind: str):
            out = self.l2.eth_call(self.l2_recorder, calldata(signature), tag=number)
            return decode([kind], out)[0]

        return (
            h2b(word("lastSender()", "address")),
            word("lastValue()", "uint256"),
            word("lastTag()", "uint256"),
        )

    def sent_in(self, receipt: dict) -> list[Message]:
        return [
            Message.from_log(log, self.domain, L2_TO_L1)
            for log in receipt["logs"]
            if h2b(log["address"]) == MESSENGER and log["topics"][0] == topic(MESSAGE_SENT)
        ]

    @staticmethod
    def logs(receipt: dict, emitter: bytes, signature: str) -> list[tuple[list[bytes], bytes]]:
        return [
            ([h2b(t) for t in log["topics"][1:]], h2b(log["data"]))
            for log in receipt["logs"]
            if h2b(log["address"]) == emitter and log["topics"][0] == topic(signature)
        ]

    # -- settlement -------------------------------------------------------------------------

    def settle(self) -> int:
        """Settle every mined L2 block through ``advance`` -> EXECUTE."""
        for block in self.model.blocks[self.model.settled :]:
            escrow = self.rollup.escrowed()
            s = self.sequencer.settle(block.number)
            expect(s.l2_hash == block.block_hash, f"L1 settled another block {block.number}")
            expect(s.burned_fees == block.burned, f"block {block.number}: burned fees differ")
            expect(
                self.rollup.escrowed() == escrow - s.burned_fees,
                "advance did not release exactly the burned fees from the escrow",
            )
            self.model.settled = block.number
        return self.model.settled

    # -- L2 -> L1 -----------------------------------------------------------------------------

    def l1_claim_data(self, w: Withdrawal, number: int, proof_at: int | None = None) -> bytes:
        account, storage = withdrawal_proof(
            self.l2, w.message, number if proof_at is None else proof_at
        )
        return calldata(L1_CLAIM, w.message.abi(), number, account, storage)

    def l1_claimable(self, w: Withdrawal) -> bool:
        """Whether the L1 recipient accepts the call (the claim reverts otherwise)."""
        m = w.message
        if w.target == "eoa":
            return True
        if w.target == "recorder":
            return not self.model.l1_recorder_closed and m.data[:4] == calldata(RECORD, 0)[:4]
        return False

    def claim_on_l1(self, w: Withdrawal, claimer: int, number: int) -> None:
        """``claimL2Message`` with an ``eth_getProof`` proof at settled block ``number``: it
        succeeds exactly when the recipient accepts the call, and then moves exactly
        value + fee out of the escrow, value to ``to`` and the fee to the claimer."""
        data = self.l1_claim_data(w, number)
        signer = self.l1_signers[claimer]
        m = w.message
        try:
            gas = signer.estimate(self.rollup.address, data)
        except RpcError as exc:
            revert = decode_revert(exc.revert_data)
            expect(not self.l1_claimable(w), f"claim of {m.index} refused: {revert}")
            expect(
                revert is not None and revert.name == "MessageCallFailed",
                f"claim to a refusing recipient: {revert}",
            )
            self.model.failures_checked += 1
            return
        expect(self.l1_claimable(w), f"claim of a message to a refusing {w.target} would pass")
        watched = {m.to, signer.address}
        before = {a: self.l1.balance(a) for a in watched}
        escrow = self.rollup.escrowed()
        calls = self.l1_recorder_calls() if w.target == "recorder" else 0
        receipt = signer.send(self.rollup.address, data, gas=gas + gas // 5 + 50_000, check=False)
        expect(h2i(receipt["status"]) == 1, f"claim of L2 message {m.index} reverted when mined")
        paid = h2i(receipt["gasUsed"]) * h2i(receipt["effectiveGasPrice"])
        (claimed,) = self.logs(receipt, self.rollup.address, L2_MESSAGE_CLAIMED)
        expect(claimed[0][0] == m.hash, "L2MessageClaimed names another message")
        expect(self.rollup.escrowed() == escrow - m.value - m.fee, "escrow moved wrongly")
        change = {a: 0 for a in watched}
        change[m.to] += m.value
        change[signer.address] += m.fee - paid
        for a in watched:
            expect(
                self.l1.balance(a) - before[a] == change[a],
                f"claim of {m.index}: 0x{a.hex()} changed by {self.l1.balance(a) - before[a]}, "
                f"not {change[a]}",
            )
        if w.target == "recorder":
            expect(self.l1_recorder_calls() == calls + 1, "L1 recorder not called once")
            sender = decode(
                ["address"], self.l1.eth_call(self.l1_recorder, calldata("lastSender()"))
            )
            expect(h2b(sender[0]) == m.sender, "xDomainMessageSender is not the L2 sender")
        w.claimed = True
        self.model.claims_on_l1 += 1

    def l1_recorder_calls(self) -> int:
        return decode(["uint256"], self.l1.eth_call(self.l1_recorder, calldata("calls()")))[0]

    # -- attempts that must fail --------------------------------------------------------------

    def simulate(
        self,
        rpc: RpcClient,
        to: bytes,
        data: bytes,
        sender: bytes,
        value: int = 0,
        gas: int | None = None,
    ):
        """``eth_call`` at the head: the decoded revert, or ``"ok"`` if it succeeds."""
        request = {"from": b2h(sender), "to": b2h(to), "data": b2h(data), "value": hex(value)}
        if gas is not None:
            request["gas"] = hex(gas)
        try:
            rpc.call("eth_call", request, "latest")
        except RpcError as exc:
            return decode_revert(exc.revert_data)
        return "ok"

    def must_fail_l1(
        self,
        data: bytes,
        allowed: set[str] | None,
        why: str,
        key: int,
        mined: bool,
        gas: int | None = None,
    ) -> None:
        """A call of the rollup on L1 that must revert (with an error in ``allowed``; None:
        any); ``mined``: also as a real transaction, which must revert and move nothing."""
        signer = self.l1_signers[key]
        revert = self.simulate(self.l1, self.rollup.address, data, signer.address, gas=gas)
        expect(revert != "ok", f"L1 {why}: the call succeeded")
        name = revert.name if revert is not None else None
        if allowed is not None:
            expect(name in allowed, f"L1 {why}: reverted with {revert}, expected {allowed}")
        event(f"L1 {why} -> {name}")
        if mined:
            escrow, balance = self.rollup.escrowed(), self.l1.balance(self.rollup.address)
            receipt = signer.send(self.rollup.address, data, gas=gas or L1_CLAIM_GAS, check=False)
            expect(h2i(receipt["status"]) == 0, f"L1 {why}: the transaction succeeded")
            expect(self.rollup.escrowed() == escrow, f"L1 {why}: the escrow moved")
            expect(self.l1.balance(self.rollup.address) == balance, f"L1 {why}: ETH moved")
        self.model.failures_checked += 1

    def must_fail_l2(
        self,
        to: bytes,
        data: bytes,
        allowed: set[str] | None,
        why: str,
        key: int,
        mined: bool,
        value: int = 0,
    ) -> None:
        """An L2 call that must revert at the head (error in ``allowed``; None: any);
        ``mined``: also sent into the pool, whose receipt must show a revert."""
        sender = self.address(key)
        revert = self.simulate(self.l2, to, data, sender, value)
        expect(revert != "ok", f"L2 {why}: the call succeeded")
        name = revert.name if revert is not None else None
        if allowed is not None:
            expect(name in allowed, f"L2 {why}: reverted with {revert}, expected {allowed}")
        event(f"L2 {why} -> {name}")
        if mined and self.l2_available(key) > value + L2_TX_GAS * L2_MAX_FEE:
            self.submit(key, "must_fail", to, data, value, L2_TX_GAS, {"why": why})
        self.model.failures_checked += 1

    # -- the invariants -----------------------------------------------------------------------

    def check_invariants(self) -> None:
        """Escrow and messaging invariants read from the chains at one L1 block and the L2
        block it has settled."""
        tag = self.l1.block_number()
        settled = self.rollup.last_block_number(tag)
        expect(
            settled == self.model.settled, f"L1 settled {settled}, the test {self.model.settled}"
        )
        l2_hash = h2b(self.l2.block(settled)["hash"])
        expect(
            self.rollup.last_block_hash(tag) == l2_hash,
            f"the L1's settled hash of L2 block {settled} is not the L2 node's",
        )
        escrowed = self.rollup.escrowed(tag)
        expect(
            self.l1.balance(self.rollup.address, tag) == escrowed,
            "the rollup's L1 balance is not its escrow",
        )

        # what the chains logged: L1 -> L2 messages and claims on L1; on L2 up to `settled`
        l1_logs = self.l1.call(
            "eth_getLogs",
            {
                "address": b2h(self.rollup.address),
                "fromBlock": hex(self.rollup.deploy_block),
                "toBlock": hex(tag),
            },
        )
        sent_l1 = [
            Message.from_log(log, self.domain, L1_TO_L2)
            for log in l1_logs
            if log["topics"][0] == topic(MESSAGE_SENT)
        ]
        claimed_l1 = [
            h2b(log["topics"][1])
            for log in l1_logs
            if log["topics"][0] == topic(L2_MESSAGE_CLAIMED)
        ]
        added = sum(h2i(log["data"]) for log in l1_logs if log["topics"][0] == topic(ESCROW_ADDED))
        l2_logs = self.l2.call(
            "eth_getLogs",
            {"address": b2h(MESSENGER), "fromBlock": "0x0", "toBlock": hex(settled)},
        )
        done_l2 = {
            h2b(log["topics"][1])
            for log in l2_logs
            if log["topics"][0] in (topic(MESSAGE_DELIVERED), topic(MESSAGE_REFUNDED))
        }
        sent_l2 = {
            m.hash: m
            for m in (
                Message.from_log(log, self.domain, L2_TO_L1)
                for log in l2_logs
                if log["topics"][0] == topic(MESSAGE_SENT)
            )
        }

        # no claim without a sent message, none twice
        expect(len(set(claimed_l1)) == len(claimed_l1), "an L2 -> L1 message was claimed twice")
        for h in claimed_l1:
            expect(h in sent_l2, f"L1 paid out message 0x{h.hex()}, never sent in a settled block")
        model_claimed = {h for h, w in self.model.withdrawals.items() if w.claimed}
        expect(set(claimed_l1) == model_claimed, "L1 claims differ from the claims the test made")
        expect(
            [m.hash for m in sent_l1] == [d.message.hash for d in self.model.deposits],
            "the L1 message log differs from the deposits the test made",
        )
        expect(added == self.model.added_escrow, "EscrowAdded differs from the test's top-ups")

        # L2 circulation, two ways: the known accounts, and supply minus locked minus burned
        burned = sum(b.burned for b in self.model.blocks[:settled])
        messenger = self.l2.balance(MESSENGER, settled)
        known = sum(self.l2.balance(a, settled) for a in self.l2_accounts)
        circulating = self.messenger_supply + L2_FUNDING - messenger - burned
        expect(
            known == circulating,
            f"L2 ETH outside the messenger: known accounts hold {known}, supply says "
            f"{circulating} (burned {burned})",
        )

        deposits_in_flight = sum(m.value + m.fee for m in sent_l1 if m.hash not in done_l2)
        claimed = set(claimed_l1)
        withdrawals_in_flight = sum(m.value + m.fee for h, m in sent_l2.items() if h not in claimed)
        expect(
            escrowed >= withdrawals_in_flight + deposits_in_flight,
            f"escrow {escrowed} < claimable {withdrawals_in_flight} + in flight "
            f"{deposits_in_flight}",
        )
        expect(escrowed >= circulating, f"escrow {escrowed} < L2 circulation {circulating}")
        expect(
            escrowed == circulating + deposits_in_flight + withdrawals_in_flight + added,
            f"escrow {escrowed} != circulation {circulating} + deposits in flight "
            f"{deposits_in_flight} + withdrawals in flight {withdrawals_in_flight} + "
            f"top-ups {added}",
        )

        # the model agrees with the logs (what it expects next rests on it)
        for d in self.model.deposits:
            in_settled = d.done_in is not None and d.done_in <= settled
            expect((d.message.hash in done_l2) == in_settled, f"deposit {d.message.index} state")
        model_sent = {h for h, w in self.model.withdrawals.items() if w.sent_in <= settled}
        expect(set(sent_l2) == model_sent, "L2 -> L1 messages differ from the model's")

    def check_views(self) -> None:
        """The contracts' own views agree with the model (at the end of an example)."""
        for d in self.model.deposits:
            h = d.message.hash
            done = decode(["bool"], self.l2.eth_call(MESSENGER, calldata("isDone(bytes32)", h)))[0]
            expect(done == (d.done_in is not None), f"isDone of deposit {d.message.index}")
            failed = decode(
                ["uint256"], self.l2.eth_call(MESSENGER, calldata("failedAt(bytes32)", h))
            )[0]
            expect(failed == (d.failed_at or 0), f"failedAt of deposit {d.message.index}")
        for h, w in self.model.withdrawals.items():
            sent = decode(["bool"], self.l2.eth_call(MESSENGER, calldata("isSent(bytes32)", h)))[0]
            expect(sent, f"isSent of L2 message {w.message.index}")
            expect(
                self.rollup.is_l2_message_claimed(h) == w.claimed,
                f"isL2MessageClaimed of L2 message {w.message.index}",
            )
        count = decode(["uint256"], self.l2.eth_call(MESSENGER, calldata("sentMessageCount()")))[0]
        expect(count == len(self.model.withdrawals), "sentMessageCount differs from the model")


def claim_data(message: Message, proof: list[bytes], anchor_timestamp: int) -> bytes:
    d = message.domain
    return calldata(L2_CLAIM, d.l1_chain_id, d.rollup, message.abi(), proof, anchor_timestamp)


def refund_data(message: Message, proof: list[bytes], anchor_timestamp: int) -> bytes:
    d = message.domain
    return calldata(L2_REFUND, d.l1_chain_id, d.rollup, message.abi(), proof, anchor_timestamp)


# -- the state machine ----------------------------------------------------------------------

L2_TARGETS = ("eoa", "fresh", "recorder", "recorder-junk", "bomb")
L1_TARGETS = ("eoa", "fresh", "recorder", "recorder-junk", "bomb")
JUNK = st.sampled_from([b"", b"\x01", b"\xff" * 36])  # no selector of MessageRecorder


@dataclass
class Stats:
    examples: int = 0
    steps: int = 0
    l2_blocks: int = 0
    deposits: int = 0
    withdrawals: int = 0
    claims_on_l1: int = 0
    deliveries: int = 0
    failed_deliveries: int = 0
    refunds: int = 0
    failures_checked: int = 0
    rules: dict[str, int] = field(default_factory=dict)

    def add(self, model: Model, base: Model) -> None:
        self.examples += 1
        self.l2_blocks += len(model.blocks) - len(base.blocks)
        self.deposits += len(model.deposits) - len(base.deposits)
        self.withdrawals += len(model.withdrawals) - len(base.withdrawals)
        self.claims_on_l1 += model.claims_on_l1 - base.claims_on_l1
        self.deliveries += sum(1 for d in model.deposits if d.done_in and not d.refunded) - sum(
            1 for d in base.deposits if d.done_in and not d.refunded
        )
        self.failed_deliveries += sum(1 for d in model.deposits if d.failed_at) - sum(
            1 for d in base.deposits if d.failed_at
        )
        self.refunds += model.refunds - base.refunds
        self.failures_checked += model.failures_checked - base.failures_checked


def counted(method):
    """Count the steps a rule takes (the run's figures)."""

    @functools.wraps(method)
    def step(self, *args, **kwargs):
        self.stats.steps += 1
        self.stats.rules[method.__name__] = self.stats.rules.get(method.__name__, 0) + 1
        return method(self, *args, **kwargs)

    return step


class RollupMachine(RuleBasedStateMachine):
    """Random protocol steps on the real nodes; the invariants after each."""

    harness: Harness
    stats: Stats

    def __init__(self) -> None:
        super().__init__()
        self.h = self.harness
        self.h.reset()
        self.m = self.h.model

    def teardown(self) -> None:
        self.stats.add(self.h.model, self.h.base)

    # helpers

    def l2_target(self, data, kind: str) -> tuple[bytes, bytes, str]:
        """(to, data, target class) of an L2 recipient."""
        h = self.h
        if kind == "eoa":
            key = data.draw(st.sampled_from((SEQUENCER, *USERS)))
            return h.address(key), data.draw(st.binary(max_size=40)), "eoa"
        if kind == "fresh":
            return data.draw(st.sampled_from(FRESH_L2)), b"", "eoa"
        if kind == "recorder":
            return h.l2_recorder, calldata(RECORD, data.draw(st.integers(0, 2**32))), "recorder"
        if kind == "recorder-junk":
            return h.l2_recorder, data.draw(JUNK), "refuses"
        return h.l2_bomb, b"", "refuses"

    def l1_target(self, data, kind: str) -> tuple[bytes, bytes, str]:
        h = self.h
        if kind == "eoa":
            key = data.draw(st.sampled_from((SEQUENCER, *USERS)))
            return h.address(key), data.draw(st.binary(max_size=40)), "eoa"
        if kind == "fresh":
            return FRESH_L1[0], b"", "eoa"
        if kind == "recorder":
            return h.l1_recorder, calldata(RECORD, data.draw(st.integers(0, 2**32))), "recorder"
        if kind == "recorder-junk":
            return h.l1_recorder, data.draw(JUNK), "refuses"
        return h.l1_bomb, b"", "refuses"

    def funded(self, keys=(SEQUENCER, *USERS), need: int = 0) -> list[int]:
        return [k for k in keys if self.h.l2_available(k) > need + L2_TX_GAS * L2_MAX_FEE]

    def covering_anchors(self, index: int) -> list[tuple[int, int]]:
        return [a for a in self.m.anchors() if a[1] > index]

    def open_deposits(self) -> list[Deposit]:
        return [d for d in self.m.deposits if d.done_in is None]

    def settled_withdrawals(self) -> list[Withdrawal]:
        return [w for w in self.m.withdrawals.values() if w.sent_in <= self.m.settled]

    # L1 -> L2

    @rule(
        data=st.data(),
        sender=st.sampled_from(USERS),
        value=VALUES,
        fee=FEES,
        min_gas=MIN_GAS_LIMITS,
        kind=st.sampled_from(L2_TARGETS),
    )
    @counted
    def deposit(self, data, sender, value, fee, min_gas, kind):
        to, payload, target = self.l2_target(data, kind)
        self.h.deposit(sender, to, value, fee, payload, min_gas, target)

    @precondition(lambda self: self.open_deposits())
    @rule(data=st.data(), tight=st.booleans())
    @counted
    def relay(self, data, tight):
        """A claim on L2 against an anchor on L2 or the next block's, with enough gas or a
        tight limit (a message with too small a ``minGasLimit`` then fails)."""
        deposit = data.draw(st.sampled_from(self.open_deposits()))
        index = deposit.message.index
        relayers = self.funded()
        if not relayers:
            return
        relayer = data.draw(st.sampled_from(relayers))
        anchors = self.covering_anchors(index)
        if self.m.planned is None or self.m.planned[1] > index:
            anchors.append(None)  # the next block's anchor
        if not anchors:
            return
        anchor = data.draw(st.sampled_from(anchors))
        gas = data.draw(st.integers(60_000, 400_000)) if tight else None
        self.h.relay(index, relayer, gas, anchor)

    @precondition(lambda self: self.m.pending or self.m.planned)
    @rule(anchor=st.booleans())
    @counted
    def mine(self, anchor):
        self.h.mine(anchor)

    @rule(relay=st.booleans())
    @counted
    def sequence(self, relay):
        """What the sequencer does: a block anchoring the current root (its relayer claiming
        every open deposit in it, when ``relay``), then settle all."""
        if relay:
            claiming = {p.info["index"] for p in self.m.pending if p.kind == "claim"}
            count = self.m.planned[1] if self.m.planned else len(self.m.deposits)
            for d in self.open_deposits():
                index = d.message.index
                if index < count and index not in claiming and self.funded((SEQUENCER,)):
                    self.h.relay(index, SEQUENCER, None)
        self.h.mine(anchor=True)
        self.h.settle()
        self.h.check_views()

    @precondition(lambda self: self.m.planned is None)
    @rule()
    @counted
    def sequencer_step(self):
        """The package's sequencer and relayer take one step (the test's pending claims
        against a planned anchor would miss it: not while one is planned)."""
        self.h.sequencer_step()
        self.h.check_views()

    @precondition(lambda self: len(self.m.blocks) > self.m.settled)
    @rule()
    @counted
    def settle(self):
        self.h.settle()
        self.h.check_views()

    # L2

    @rule(data=st.data(), percent=st.integers(0, 100))
    @counted
    def l2_transfer(self, data, percent):
        senders = self.funded()
        if not senders:
            return
        sender = data.draw(st.sampled_from(senders))
        to = data.draw(
            st.sampled_from([self.h.address(k) for k in (SEQUENCER, *USERS)] + list(FRESH_L2))
        )
        spare = self.h.l2_available(sender) - L2_TX_GAS * L2_MAX_FEE
        self.h.submit(sender, "transfer", to, b"", spare * percent // 200, 21_000)

    @rule(
        data=st.data(),
        value=VALUES,
        fee=FEES,
        min_gas=MIN_GAS_LIMITS,
        kind=st.sampled_from(L1_TARGETS),
    )
    @counted
    def withdraw(self, data, value, fee, min_gas, kind):
        senders = self.funded(need=value + fee)
        if not senders:
            return
        sender = data.draw(st.sampled_from(senders))
        to, payload, target = self.l1_target(data, kind)
        self.h.withdraw(sender, to, value, fee, payload, min_gas, target)

    @precondition(
        lambda self: any(
            w.sent_in <= self.m.settled and not w.claimed for w in self.m.withdrawals.values()
        )
    )
    @rule(data=st.data(), claimer=st.sampled_from((SEQUENCER, *USERS)))
    @counted
    def claim_on_l1(self, data, claimer):
        w = data.draw(st.sampled_from([w for w in self.settled_withdrawals() if not w.claimed]))
        number = data.draw(st.integers(w.sent_in, self.m.settled))
        self.h.claim_on_l1(w, claimer, number)

    # failed deliveries: refunds after the delay

    @precondition(lambda self: any(d.failed_at for d in self.m.deposits))
    @rule(data=st.data())
    @counted
    def refund(self, data):
        """A refund of a deposit whose delivery failed (due or not, done or not): the
        receipt must succeed exactly when it is due and the message not done."""
        l1_time = h2i(self.h.l1.block("latest")["timestamp"])
        due = [
            d
            for d in self.m.deposits
            if d.failed_at and d.done_in is None and d.failed_at + REFUND_DELAY <= l1_time
        ]
        candidates = [d for d in self.m.deposits if d.failed_at or d.done_in]
        if due and data.draw(st.booleans()):
            candidates = due  # most would be refused otherwise: get some through
        deposit = data.draw(st.sampled_from(candidates))
        anchors = self.covering_anchors(deposit.message.index)
        keys = self.funded()
        if not anchors or not keys:
            return
        timestamp, count = data.draw(st.sampled_from(anchors))
        m = deposit.message
        call = refund_data(m, self.h.tree(count).proof(m.index), timestamp)
        key = data.draw(st.sampled_from(keys))
        self.h.submit(key, "refund", MESSENGER, call, 0, L2_TX_GAS, {"index": m.index})

    def not_due(self) -> bool:
        l1_time = h2i(self.h.l1.block("latest")["timestamp"])
        return any(
            d.failed_at and d.done_in is None and d.failed_at + REFUND_DELAY > l1_time
            for d in self.m.deposits
        )

    @precondition(lambda self: self.not_due())
    @rule()
    @counted
    def warp(self):
        """Move the L1 clock (and so the next L2 block) past the refund delay."""
        self.h.l1.call("evm_increaseTime", WARP)
        self.h.l1.call("evm_mine")

    # the recorders and the escrow

    @rule(closed=st.booleans(), sender=st.sampled_from(USERS))
    @counted
    def toggle_l1_recorder(self, closed, sender):
        self.h.l1_signers[sender].send(self.h.l1_recorder, calldata("setClosed(bool)", closed))
        self.m.l1_recorder_closed = closed

    @rule(data=st.data(), closed=st.booleans())
    @counted
    def toggle_l2_recorder(self, data, closed):
        keys = self.funded()
        if keys:
            key = data.draw(st.sampled_from(keys))
            call = calldata("setClosed(bool)", closed)
            self.h.submit(key, "toggle", self.h.l2_recorder, call, 0, 100_000, {"closed": closed})

    @rule(sender=st.sampled_from(USERS), amount=st.sampled_from([1, 10**15, ETHER]))
    @counted
    def add_escrow(self, sender, amount):
        self.h.l1_signers[sender].send(self.h.rollup.address, calldata("addEscrow()"), amount)
        self.m.added_escrow += amount

    # attempts that must fail

    @rule(data=st.data(), mined=st.booleans(), key=st.sampled_from(USERS))
    @counted
    def forged_l1_claim(self, data, mined, key):
        """Claims on L1 that must revert: double, forged fields, index, slot, proof, block,
        direction, unsettled, short of gas."""
        h, m_ = self.h, self.m
        settled = self.settled_withdrawals()
        choices = []
        if any(w.claimed for w in settled):
            choices.append("double")
        if settled:
            choices += ["field", "nonce-range", "corrupt-storage", "corrupt-account"]
            choices += ["unsettled-block", "wrong-block", "before-sent"]
        if len(settled) > 1:
            choices.append("other-slot")
        if any(w.sent_in > m_.settled for w in m_.withdrawals.values()):
            choices.append("unsettled-message")
        choices.append("deposit-as-withdrawal")
        low_gas = [
            w
            for w in settled
            if not w.claimed and w.message.min_gas_limit >= 200_000 and h.l1_claimable(w)
        ]
        if low_gas:
            choices.append("low-gas")
        variant = data.draw(st.sampled_from(choices))
        claimed_first = {"AlreadyClaimed"}

        def pick(pool):
            return data.draw(st.sampled_from(pool))

        if variant == "double":
            w = pick([w for w in settled if w.claimed])
            number = data.draw(st.integers(w.sent_in, m_.settled))
            h.must_fail_l1(h.l1_claim_data(w, number), claimed_first, variant, key, mined)
            return
        if variant == "unsettled-message":
            w = pick([w for w in m_.withdrawals.values() if w.sent_in > m_.settled])
            if data.draw(st.booleans()):
                call = h.l1_claim_data(w, w.sent_in)
                h.must_fail_l1(call, {"L2BlockNotSettled"}, variant, key, mined)
            else:
                call = h.l1_claim_data(w, m_.settled)
                h.must_fail_l1(call, {"MessageNotSent"}, variant, key, mined)
            return
        if variant == "deposit-as-withdrawal":
            d = pick(m_.deposits)
            fake = Withdrawal(_replace(d.message, direction=L2_TO_L1), 0, "eoa")
            call = h.l1_claim_data(fake, m_.settled)
            h.must_fail_l1(call, {"MessageNotSent"}, variant, key, mined)
            return
        if variant == "low-gas":
            w = pick(low_gas)
            number = data.draw(st.integers(w.sent_in, m_.settled))
            call = h.l1_claim_data(w, number)
            gas = h.l1_signers[key].estimate(h.rollup.address, call)
            short = gas - w.message.min_gas_limit // 2
            h.must_fail_l1(call, {"InsufficientRelayGas"}, variant, key, mined, gas=short)
            return

        w = pick(settled)
        m = w.message
        number = data.draw(st.integers(w.sent_in, m_.settled))
        first = claimed_first if w.claimed else None
        if variant == "field":
            change = data.draw(
                st.sampled_from(["value", "fee", "to", "sender", "data", "gas", "index"])
            )
            attacker = h.address(key)
            forged = _replace(
                m,
                **{
                    "value": {"value": m.value + 1},
                    "fee": {"fee": m.fee + 1},
                    "to": {"to": attacker if m.to != attacker else FRESH_L1[0]},
                    "sender": {"sender": attacker if m.sender != attacker else FRESH_L1[0]},
                    "data": {"data": m.data + b"\x00"},
                    "gas": {"min_gas_limit": m.min_gas_limit + 1},
                    "index": {"index": m.index + 1 + data.draw(st.integers(0, 3))},
                }[change],
            )
            fake = Withdrawal(forged, w.sent_in, w.target)
            own_slot = data.draw(st.booleans())
            proof_of = fake if own_slot else w
            account, storage = withdrawal_proof(h.l2, proof_of.message, number)
            call = calldata(L1_CLAIM, forged.abi(), number, account, storage)
            h.must_fail_l1(call, {"MessageNotSent"}, f"{variant} {change}", key, mined)
            return
        if variant == "nonce-range":
            forged = _replace(
                m, index=data.draw(st.sampled_from([2**64, 2**64 + m.index, 2**256 - 1]))
            )
            account, storage = withdrawal_proof(h.l2, m, number)
            call = calldata(L1_CLAIM, forged.abi(), number, account, storage)
            h.must_fail_l1(call, {"NonceOutOfRange"}, variant, key, mined)
            return
        account, storage = withdrawal_proof(h.l2, m, number)
        if variant == "other-slot":
            other = pick([o for o in settled if o is not w])
            other_number = max(number, other.sent_in)
            account, storage = withdrawal_proof(h.l2, other.message, other_number)
            call = calldata(L1_CLAIM, m.abi(), other_number, account, storage)
            h.must_fail_l1(call, first or {"MessageNotSent"}, variant, key, mined)
        elif variant == "corrupt-storage":
            storage = _corrupt(data, storage)
            call = calldata(L1_CLAIM, m.abi(), number, account, storage)
            h.must_fail_l1(call, first or {"MessageNotSent"}, variant, key, mined)
        elif variant == "corrupt-account":
            account = _corrupt(data, account)
            call = calldata(L1_CLAIM, m.abi(), number, account, storage)
            h.must_fail_l1(call, first, variant, key, mined)
        elif variant == "unsettled-block":
            beyond = m_.settled + data.draw(st.integers(1, 3))
            call = calldata(L1_CLAIM, m.abi(), beyond, account, storage)
            h.must_fail_l1(call, first or {"L2BlockNotSettled"}, variant, key, mined)
        elif variant == "wrong-block":
            others = [n for n in range(m_.settled + 1) if n != number]
            named = pick(others)
            call = calldata(L1_CLAIM, m.abi(), named, account, storage)
            h.must_fail_l1(call, first, variant, key, mined)
        elif variant == "before-sent":
            before = data.draw(st.integers(0, w.sent_in - 1))
            account, storage = withdrawal_proof(h.l2, m, before)
            call = calldata(L1_CLAIM, m.abi(), before, account, storage)
            h.must_fail_l1(call, first or {"MessageNotSent"}, variant, key, mined)
        else:
            raise AssertionError(variant)

    @rule(data=st.data(), mined=st.booleans(), key=st.sampled_from(USERS))
    @counted
    def forged_l2_action(self, data, mined, key):
        """Claims and refunds on L2 that must revert, and messages the messenger refuses."""
        h, m_ = self.h, self.m
        anchored = [d for d in m_.deposits if self.covering_anchors(d.message.index)]
        choices = ["send-forbidden", "send-fee", "send-gas", "eth-to-messenger", "wrong-domain"]
        if any(d.done_in for d in anchored):
            choices += ["claim-done", "refund-done"]
        if any(d.done_in is None for d in anchored):
            choices += ["bad-proof", "short-proof", "forged-field", "unknown-anchor"]
        if any(d.done_in is None and not d.failed_at for d in anchored):
            choices.append("refund-unfailed")
        l1_time = h2i(h.l1.block("latest")["timestamp"])
        early = [
            d
            for d in anchored
            if d.done_in is None and d.failed_at and d.failed_at + REFUND_DELAY > l1_time + 3600
        ]
        if early:
            choices.append("refund-early")
        anchors = m_.anchors()
        if anchors and len(m_.deposits) > anchors[-1][1]:
            choices.append("unanchored")
        variant = data.draw(st.sampled_from(choices))

        def pick(pool):
            return data.draw(st.sampled_from(pool))

        def claim_parts(d: Deposit) -> tuple[Message, list[bytes], int]:
            timestamp, count = pick(self.covering_anchors(d.message.index))
            return d.message, h.tree(count).proof(d.message.index), timestamp

        fail = h.must_fail_l2
        if variant == "send-forbidden":
            to = pick(
                [h.rollup.address, b"\x00" * 19 + b"\x01", BEACON_ROOTS, b"\x00" * 18 + b"\x01\x01"]
            )
            call = calldata(L2_SEND, to, 0, 0, b"")
            fail(MESSENGER, call, {"ForbiddenRecipient"}, variant, key, mined, value=1)
        elif variant == "send-fee":
            call = calldata(L2_SEND, h.address(key), 0, 2, b"")
            fail(MESSENGER, call, {"FeeExceedsValue"}, variant, key, mined, value=1)
        elif variant == "send-gas":
            call = calldata(L2_SEND, h.address(key), MAX_MIN_GAS_LIMIT + 1, 0, b"")
            fail(MESSENGER, call, {"MinGasLimitTooHigh"}, variant, key, mined)
        elif variant == "eth-to-messenger":
            fail(MESSENGER, b"", None, variant, key, mined, value=ETHER // 100)
        elif variant == "wrong-domain":
            d = pick(m_.deposits)
            message = d.message
            domain = pick(
                [
                    Domain(h.domain.l1_chain_id, h.domain.l2_chain_id, FRESH_L1[0]),
                    Domain(h.domain.l1_chain_id + 1, h.domain.l2_chain_id, h.domain.rollup),
                ]
            )
            forged = _replace(message, domain=domain)
            anchor = anchors[-1][0] if anchors else 0
            call = claim_data(forged, h.tree(len(m_.deposits)).proof(message.index), anchor)
            fail(MESSENGER, call, {"WrongDomain"}, variant, key, mined)
        elif variant in ("claim-done", "refund-done"):
            message, proof, timestamp = claim_parts(pick([d for d in anchored if d.done_in]))
            build = claim_data if variant == "claim-done" else refund_data
            fail(MESSENGER, build(message, proof, timestamp), {"AlreadyDone"}, variant, key, mined)
        elif variant in ("bad-proof", "short-proof", "forged-field", "unknown-anchor"):
            message, proof, timestamp = claim_parts(
                pick([d for d in anchored if d.done_in is None])
            )
            allowed = {"InvalidMessageProof"}
            if variant == "bad-proof":
                i = data.draw(st.integers(0, len(proof) - 1))
                proof = [*proof[:i], keccak(proof[i]), *proof[i + 1 :]]
            elif variant == "short-proof":
                proof = proof[:-1]
            elif variant == "forged-field":
                message = _replace(message, value=message.value + 1)
            else:
                zero = [b.timestamp for b in m_.blocks if not b.anchor_count]
                timestamp = pick(zero + [m_.blocks[-1].timestamp + 1000])
                allowed = {"UnknownAnchor"}
                mined = False  # a future timestamp may become a real block's
            fail(MESSENGER, claim_data(message, proof, timestamp), allowed, variant, key, mined)
        elif variant == "refund-unfailed":
            d = pick([d for d in anchored if d.done_in is None and not d.failed_at])
            message, proof, timestamp = claim_parts(d)
            fail(
                MESSENGER,
                refund_data(message, proof, timestamp),
                {"NotFailed"},
                variant,
                key,
                False,
            )
        elif variant == "refund-early":
            message, proof, timestamp = claim_parts(pick(early))
            call = refund_data(message, proof, timestamp)
            fail(MESSENGER, call, {"RefundNotDue"}, variant, key, False)
        elif variant == "unanchored":
            timestamp, count = anchors[-1]
            d = pick(m_.deposits[count:])
            proof = h.tree(len(m_.deposits)).proof(d.message.index)
            call = claim_data(d.message, proof, timestamp)
            fail(MESSENGER, call, {"InvalidMessageProof"}, variant, key, mined)
        else:
            raise AssertionError(variant)

    @rule(
        variant=st.sampled_from(["messenger", "system", "fee", "gas"]),
        mined=st.booleans(),
        key=st.sampled_from(USERS),
    )
    @counted
    def bad_deposit(self, variant, mined, key):
        """L1 messages the rollup refuses to send."""
        h = self.h
        to, gas, fee, value, allowed = h.address(key), 0, 0, 1, "ForbiddenRecipient"
        if variant == "messenger":
            to = MESSENGER
        elif variant == "system":
            to = b"\x00" * 18 + b"\x01\x01"
        elif variant == "fee":
            fee, allowed = 2, "FeeExceedsValue"
        else:
            gas, allowed = MAX_MIN_GAS_LIMIT + 1, "MinGasLimitTooHigh"
        call = calldata(L1_SEND, to, gas, fee, b"")
        signer = h.l1_signers[key]
        revert = h.simulate(h.l1, h.rollup.address, call, signer.address, value)
        expect(
            revert != "ok" and revert is not None and revert.name == allowed,
            f"L1 send {variant}: {revert}",
        )
        h.model.failures_checked += 1

    @invariant()
    def invariants(self):
        self.h.check_invariants()


def _replace(message: Message, **changes) -> Message:
    from dataclasses import replace

    return replace(message, **changes)


def _corrupt(data, proof: list[bytes]) -> list[bytes]:
    """A proof with one node changed, dropped, or all of it gone."""
    how = data.draw(st.sampled_from(["flip", "drop-last", "drop-first", "empty"]))
    if how == "empty" or not proof:
        return []
    if how == "drop-last":
        return proof[:-1]
    if how == "drop-first":
        return proof[1:]
    i = data.draw(st.integers(0, len(proof) - 1))
    node = bytearray(proof[i])
    j = data.draw(st.integers(0, len(node) - 1))
    node[j] ^= 0x01
    return [*proof[:i], bytes(node), *proof[i + 1 :]]


# -- the test -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """L1 and L2 node processes (the L2 mined only through its authenticated endpoint), the
    rollup deployed and the base state built and snapshotted; stopped by PID at the end."""
    logs = tmp_path_factory.mktemp("rollup-invariants")
    nodes = []
    try:
        nodes.append(start_node([], log_dir=logs))
        auth_port, secret = free_port(), logs / "l2.jwt"
        auth = ["--auth-port", str(auth_port), "--jwt-secret", str(secret)]
        nodes.append(start_node([*L2_ARGS, *auth], log_dir=logs))
        control = RpcClient(f"http://127.0.0.1:{auth_port}", jwt_secret=read_jwt_secret(secret))
        h = Harness(nodes[0].url, nodes[1].url, control)
        h.build_base()
        yield h
    finally:
        for node in nodes:
            node.stop()


def test_escrow_and_messaging_invariants(harness, capsys):
    started = time.monotonic()
    RollupMachine.harness = harness
    RollupMachine.stats = stats = Stats()
    run_state_machine_as_test(
        RollupMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    elapsed = time.monotonic() - started
    rules = ", ".join(f"{name} {n}" for name, n in sorted(stats.rules.items()))
    with capsys.disabled():
        print(
            f"\nrollup invariants: {stats.examples} examples, {stats.steps} steps (at most "
            f"{STEPS} each) in {elapsed:.1f}s: {stats.l2_blocks} L2 blocks, {stats.deposits} "
            f"deposits, {stats.deliveries} delivered, {stats.failed_deliveries} failed "
            f"deliveries, {stats.refunds} refunds, {stats.withdrawals} L2 -> L1 messages, "
            f"{stats.claims_on_l1} claimed on L1, {stats.failures_checked} refused attempts\n"
            f"steps: {rules}"
        )
    assert stats.examples >= 1


def test_the_relayer_delivers_a_message_asking_for_the_largest_gas_floor(harness):
    """Regression (found by the state machine): a deposit with ``minGasLimit`` =
    ``MAX_MIN_GAS_LIMIT`` (4,000,000, which ``sendMessage`` accepts) needs a claim of about
    4.2M gas, inside the 5M L2 block. The relayer added a quarter to the estimate and asked
    for 5.3M: the L2 pool refused the claim ("exceeds block gas limit"), ``Sequencer.step``
    raised before mining, and ``native-rollup sequence`` retried the same claim every step:
    one cheap deposit stopped the L2 for good."""
    h = harness
    h.reset()
    user = USERS[0]
    d = h.deposit(user, h.address(user), ETHER // 10, 10**15, b"", MAX_MIN_GAS_LIMIT, "eoa")
    h.sequencer_step()
    assert h.model.deposits[d.message.index].done_in == len(h.model.blocks)
    h.check_invariants()
    h.check_views()
