"""The rollup contracts (``NativeRollup`` on L1, the ``L2Messenger`` predeploy on L2) driving a
native rollup in process: two ``node.chain.Chain`` objects, the L1 settling every L2 block
through EXECUTE, messages both ways with real proofs (see ``tests/rollup_env.py``).

One history is built once per module (``world``):

    L2 #1  relayer deploys a MessageRecorder                         settled
    L1     deposits m0 alice->alice 5 ETH, m1 bob->recorder(7) 1 ETH, m2 bob->bob 2 ETH
    L2 #2  anchors the 3-message root, relayer claims m0, m1, m2     settled
    L1     deposit m3 (after the anchor: not claimable yet)
    L2 #3  alice withdraws w0 1 ETH to herself, w1 0.5 ETH to an L1 recorder(9),
           w2 0.25 ETH to bob                                         settled
    L1     relayer claims w0 and w1 with eth_getProof-shaped proofs (w2 stays unclaimed)
    L2 #4  alice withdraws w3                                         NOT settled

Failure tests simulate calls on that history (``eth_call``), so they leave it unchanged;
the forged-advance test mines its reverting transactions, which move no rollup state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from eth_hash.auto import keccak

from node.chain import BuiltBlock
from node.genesis import DEFAULT_L2_GENESIS, load_genesis
from tests.contracts import load
from tests.rollup_env import (
    ADVANCE_GAS,
    ALICE,
    BOB,
    ETHER,
    L1_SEND,
    MESSENGER,
    RELAYER,
    RELAYER_SEED,
    SEQUENCER,
    Layer,
    Message,
    MessageTree,
    RollupEnv,
    calldata,
    error_data,
    verify_proof,
)

FEE = ETHER // 100
MESSENGER_SUPPLY = 1_000_000 * ETHER
EXECUTE_INVALID = "ExecuteInvalid(uint256)"
BLOCK_SETTLED = "BlockSettled(uint256,bytes32,bytes32,uint256,uint256,uint256)"
REASON_GAS_USED, REASON_POST_STATE_ROOT = 8, 10
INVALID_ROOT = 2  # TrieProof.ProofError.INVALID_ROOT


@dataclass
class World:
    env: RollupEnv
    l2_recorder: bytes = b""
    l1_recorder: bytes = b""
    deposits: list[Message] = field(default_factory=list)
    withdrawals: list[Message] = field(default_factory=list)
    anchor_timestamp: int = 0
    settled_hashes: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    settle_receipts: dict = field(default_factory=dict)
    l1_before_claims: dict[str, int] = field(default_factory=dict)
    l2_after_deposits: dict[str, int] = field(default_factory=dict)
    unsettled: BuiltBlock | None = None

    @property
    def l1(self) -> Layer:
        return self.env.l1

    @property
    def l2(self) -> Layer:
        return self.env.l2

    def settle(self, built) -> None:
        balance = self.l1.balance(self.l1.address(SEQUENCER))
        receipt = self.env.settle(built)
        self.settled_hashes[built.block.number] = (
            self.env.rollup_view("lastBlockHash()", "bytes32"),
            built.block.hash,
        )
        self.settle_receipts[built.block.number] = (receipt, built, balance)


@pytest.fixture(scope="module")
def world() -> World:
    env = RollupEnv.create()
    w = World(env)
    l1, l2 = env.l1, env.l2
    alice, bob = l1.address(ALICE), l1.address(BOB)

    w.l1_recorder = l1.deploy(BOB, "MessageRecorder")
    deploy = env.l2_block([l2.create_tx(RELAYER, "MessageRecorder")])
    w.l2_recorder = deploy.receipts[0].contract_address
    w.settle(deploy)

    w.deposits = [
        env.deposit(ALICE, alice, 5 * ETHER, FEE),
        env.deposit(BOB, w.l2_recorder, ETHER, FEE, calldata("record(uint256)", 7)),
        env.deposit(BOB, bob, 2 * ETHER),
    ]
    w.anchor_timestamp = env.next_l2_timestamp()
    relayed = env.relay(w.deposits)
    assert [r.status for r in relayed.receipts] == [1, 1, 1]
    w.l2_after_deposits = {
        "alice": l2.balance(alice),
        "bob": l2.balance(bob),
        "relayer": l2.balance(l2.address(RELAYER)),
    }
    w.settle(relayed)
    w.deposits.append(env.deposit(ALICE, alice, 3 * ETHER, FEE))  # m3: after the anchor

    w0, w0_msg = env.withdraw_tx(ALICE, alice, ETHER, FEE // 10, index=0)
    w1, w1_msg = env.withdraw_tx(
        ALICE, w.l1_recorder, ETHER // 2, 0, calldata("record(uint256)", 9), index=1
    )
    w2, w2_msg = env.withdraw_tx(ALICE, bob, ETHER // 4, FEE // 10, index=2)
    w.withdrawals = [w0_msg, w1_msg, w2_msg]
    withdrawn = env.l2_block([w0, w1, w2])
    assert [r.status for r in withdrawn.receipts] == [1, 1, 1]
    w.settle(withdrawn)

    relayer = l1.address(RELAYER)
    w.l1_before_claims = {
        "alice": l1.balance(alice),
        "relayer": l1.balance(relayer),
        "recorder": l1.balance(w.l1_recorder),
    }
    for message in w.withdrawals[:2]:
        l1.send(RELAYER, env.rollup, env.l1_claim_data(message, 3))

    w3, w3_msg = env.withdraw_tx(ALICE, alice, ETHER // 8, 0, index=3)
    w.withdrawals.append(w3_msg)
    w.unsettled = env.l2_block([w3])
    l1.mine()  # L1 time passes the unsettled block's timestamp
    return w


def reverts(layer: Layer, key: int, to: bytes, data: bytes, value: int = 0) -> bytes:
    """The revert data of the call, which must revert."""
    result = layer.call(to, data, layer.address(key), value)
    assert result.is_revert, f"expected a revert, got {result.error!r} {result.output.hex()}"
    return result.output


def rollup_state(env: RollupEnv) -> tuple:
    return tuple(
        env.rollup_view(sig, typ)
        for sig, typ in (
            ("lastBlockHash()", "bytes32"),
            ("lastBlockNumber()", "uint256"),
            ("escrowed()", "uint256"),
            ("anchoredMessageCount()", "uint256"),
        )
    )


# -- genesis and the message tree ----------------------------------------------------------


def test_messenger_predeploy_is_the_compiled_contract_with_the_escrow_capacity():
    doc = json.loads(DEFAULT_L2_GENESIS.read_text())
    entry = doc["alloc"]["0x4200000000000000000000000000000000000007"]
    assert entry["code"] == load("L2Messenger").deployed_bytecode
    genesis = load_genesis(DEFAULT_L2_GENESIS)
    messenger = genesis.alloc[MESSENGER]
    assert messenger.balance == MESSENGER_SUPPLY and messenger.storage == {}
    assert genesis.role == "l2" and genesis.chain_id == 31338 and genesis.gas_limit == 5_000_000


def test_l1_message_tree_is_the_python_tree_and_proofs_verify(world):
    env = world.env
    tree = MessageTree(leaves=[m.hash for m in world.deposits])
    assert env.rollup_view("messageRoot()", "bytes32") == tree.root
    assert env.rollup_view("messageCount()", "uint256") == 4
    for m in world.deposits:
        assert env.rollup_view("messageLeaves(uint256)", "bytes32", m.index) == m.hash
        assert verify_proof(tree.proof(m.index), tree.root, m.hash)
    # every intermediate root was registered; a root never seen was not
    for count in range(5):
        root = MessageTree(leaves=tree.leaves[:count]).root
        assert env.rollup_view("isMessageRoot(bytes32)", "bool", root)
    assert not env.rollup_view("isMessageRoot(bytes32)", "bool", b"\x01" * 32)
    # the anchored root covers the first three messages
    assert env.rollup_view("anchoredMessageCount()", "uint256") == 3
    anchored = world.l2.view(MESSENGER, "anchorRoot(uint256)", ["bytes32"], world.anchor_timestamp)
    assert anchored == MessageTree(leaves=tree.leaves[:3]).root


# -- settlement ------------------------------------------------------------------------------


def test_every_settled_block_hash_is_the_l2_block_hash(world):
    env = world.env
    for number, (settled, built) in world.settled_hashes.items():
        assert settled == built, number
    assert env.rollup_view("lastBlockNumber()", "uint256") == 3
    for number in range(4):
        header = world.l2.chain.header_by_number(number)
        assert env.rollup_view("settledStateRoot(uint256)", "bytes32", number) == header.state_root


def test_advance_pays_the_burned_l2_base_fee_to_the_sequencer(world):
    env, l1 = world.env, world.l1
    receipt, built, balance_before = world.settle_receipts[3]
    ((topics, (post_root, gas_used, burned, execute_fee)),) = l1.events(
        receipt, env.rollup, BLOCK_SETTLED, ["bytes32", "uint256", "uint256", "uint256"]
    )
    header = built.block.header
    assert topics == [3, int.from_bytes(header.hash, "big")]
    assert (post_root, gas_used) == (header.state_root, header.gas_used)
    assert burned == header.base_fee_per_gas * header.gas_used > 0
    assert execute_fee > 0
    gas_cost = receipt.gas_used * receipt.effective_gas_price
    balance_after = l1.chain.balance(
        l1.address(SEQUENCER), l1.chain.header_by_hash(receipt.block_hash)
    )
    assert balance_after == balance_before - gas_cost - execute_fee + burned


def test_escrow_equals_l2_circulation_plus_messages_in_flight(world):
    """Escrow backs every L2 wei outside the messenger at the settled head, plus what is in
    flight: m3 (escrowed on L1, unclaimed on L2) and w2 (locked on L2, unclaimed on L1)."""
    env, l2 = world.env, world.l2
    settled = l2.chain.header_by_number(3)
    burned = sum(
        (h := l2.chain.header_by_number(n)).base_fee_per_gas * h.gas_used for n in range(1, 4)
    )
    circulating = MESSENGER_SUPPLY + RELAYER_SEED - burned - l2.chain.balance(MESSENGER, settled)
    in_flight = [world.deposits[3], world.withdrawals[2]]
    assert env.rollup_view("escrowed()", "uint256") == (
        circulating + sum(m.value + m.fee for m in in_flight)
    )


def test_only_the_sequencer_may_advance(world):
    env = world.env
    data = env.advance_data(world.unsettled.block)
    out = reverts(world.l1, ALICE, env.rollup, data)
    assert out == error_data("NotSequencer(address)", world.l1.address(ALICE))
    # the same input from the sequencer is valid
    assert world.l1.call(env.rollup, data, world.l1.address(SEQUENCER)).error is None


def test_forged_advance_reverts_with_the_reason_and_moves_nothing(world):
    env, l1 = world.env, world.l1
    block = world.unsettled.block
    before = rollup_state(env)
    forgeries = {
        REASON_GAS_USED: env.advance_data(block, gas_used=block.header.gas_used + 1),
        REASON_POST_STATE_ROOT: env.advance_data(block, post_state_root=b"\x42" * 32),
    }
    for reason, data in forgeries.items():
        assert reverts(l1, SEQUENCER, env.rollup, data) == error_data(EXECUTE_INVALID, reason)
        balance = l1.balance(l1.address(SEQUENCER))
        receipt = l1.send(SEQUENCER, env.rollup, data, gas=ADVANCE_GAS, expect_success=False)
        assert receipt.status == 0
        # the invalid answer is paid for: more than the transaction's gas left the sequencer
        assert balance - l1.balance(l1.address(SEQUENCER)) > (
            receipt.gas_used * receipt.effective_gas_price
        )
        assert rollup_state(env) == before
    out = reverts(l1, ALICE, env.rollup, calldata("settledStateRoot(uint256)", 4))
    assert out == error_data("L2BlockNotSettled(uint256)", 4)


def test_advance_rejects_unknown_and_stale_anchors_and_future_timestamps(world):
    env, l1 = world.env, world.l1
    block = world.unsettled.block
    bogus = b"\x07" * 32
    out = reverts(l1, SEQUENCER, env.rollup, env.advance_data(block, anchor=bogus))
    assert out == error_data("UnknownAnchor(bytes32)", bogus)
    stale = MessageTree(leaves=[world.deposits[0].hash]).root  # 1 message < 3 anchored
    out = reverts(l1, SEQUENCER, env.rollup, env.advance_data(block, anchor=stale))
    assert out == error_data("StaleAnchor(bytes32,uint256,uint256)", stale, 1, 3)
    future = l1.chain.head.timestamp + 1
    out = reverts(l1, SEQUENCER, env.rollup, env.advance_data(block, timestamp=future))
    assert out == error_data("TimestampInFuture(uint256,uint256)", future, l1.chain.head.timestamp)


# -- L1 -> L2 ----------------------------------------------------------------------------------


def test_deposits_arrive_on_l2_and_pay_the_relayer(world):
    l2 = world.l2
    bob = l2.address(BOB)
    assert world.l2_after_deposits["alice"] == 5 * ETHER
    assert world.l2_after_deposits["bob"] == 2 * ETHER
    # the relayer paid gas out of its seed and earned two fees
    assert RELAYER_SEED < world.l2_after_deposits["relayer"] < RELAYER_SEED + 2 * FEE
    for m in world.deposits[:3]:
        assert l2.view(MESSENGER, "isClaimed(uint256)", ["bool"], m.index)
    assert not l2.view(MESSENGER, "isClaimed(uint256)", ["bool"], 3)
    # the recorder saw the L1 sender through xDomainMessageSender while it ran
    recorder = world.l2_recorder
    assert l2.view(recorder, "lastSender()", ["address"]) == "0x" + bob.hex()
    assert l2.view(recorder, "lastMessenger()", ["address"]) == "0x" + MESSENGER.hex()
    assert l2.view(recorder, "lastValue()", ["uint256"]) == ETHER
    assert l2.view(recorder, "lastTag()", ["uint256"]) == 7
    assert l2.balance(recorder) == ETHER
    out = reverts(l2, ALICE, MESSENGER, calldata("xDomainMessageSender()"))
    assert out == error_data("NotInMessage()")


def test_l2_claim_failures(world):
    l2 = world.l2
    ts = world.anchor_timestamp
    m0, m3 = world.deposits[0], world.deposits[3]
    anchored = MessageTree(leaves=[m.hash for m in world.deposits[:3]])

    def claim(message, proof, timestamp=ts):
        return reverts(l2, RELAYER, MESSENGER, world.env.claim_data(message, timestamp, proof))

    # double claim
    assert claim(m0, anchored.proof(0)) == error_data("AlreadyClaimed(uint256)", 0)
    # m3 was sent after the anchored root: not in that tree, whatever proof
    full = MessageTree(leaves=[m.hash for m in world.deposits])
    assert claim(m3, full.proof(3)) == error_data("InvalidMessageProof(uint256)", 3)
    # a message nobody sent (m3 with another value)
    forged = Message(m3.sender, m3.to, 100 * ETHER, 0, b"", 3)
    assert claim(forged, anchored.proof(2)) == error_data("InvalidMessageProof(uint256)", 3)
    # another leaf's proof
    assert claim(m3, anchored.proof(2)) == error_data("InvalidMessageProof(uint256)", 3)
    # a timestamp with no L2 block, and an L2 block anchored with zero
    assert claim(m3, full.proof(3), ts + 1) == error_data("UnknownAnchor(uint256)", ts + 1)
    no_anchor = l2.chain.header_by_number(3).timestamp
    assert claim(m3, full.proof(3), no_anchor) == error_data("UnknownAnchor(uint256)", no_anchor)


def test_send_message_needs_value_for_the_fee(world):
    env = world.env
    to = world.l1.address(ALICE)
    out = reverts(world.l1, ALICE, env.rollup, calldata(L1_SEND, to, 2, b""), value=1)
    assert out == error_data("FeeExceedsValue(uint256,uint256)", 2, 1)
    out = reverts(world.l2, ALICE, MESSENGER, calldata(L1_SEND, to, 2, b""), value=1)
    assert out == error_data("FeeExceedsValue(uint256,uint256)", 2, 1)


# -- L2 -> L1 ----------------------------------------------------------------------------------


def test_withdrawals_are_released_on_l1_with_proofs(world):
    env, l1 = world.env, world.l1
    alice, relayer = l1.address(ALICE), l1.address(RELAYER)
    w0, w1 = world.withdrawals[:2]
    before = world.l1_before_claims
    assert l1.balance(alice) == before["alice"] + ETHER
    assert l1.balance(world.l1_recorder) == before["recorder"] + ETHER // 2
    assert 0 < before["relayer"] + w0.fee - l1.balance(relayer) < ETHER // 100  # gas only
    for m in (w0, w1):
        assert env.rollup_view("isL2MessageClaimed(uint256)", "bool", m.index)
    recorder = world.l1_recorder
    assert l1.view(recorder, "lastSender()", ["address"]) == "0x" + alice.hex()
    assert l1.view(recorder, "lastMessenger()", ["address"]) == "0x" + env.rollup.hex()
    assert l1.view(recorder, "lastTag()", ["uint256"]) == 9
    out = reverts(l1, ALICE, env.rollup, calldata("xDomainMessageSender()"))
    assert out == error_data("NotInMessage()")


def test_l1_claim_failures(world):
    env, l1 = world.env, world.l1
    w0, _, w2, w3 = world.withdrawals

    def claim(data):
        return reverts(l1, RELAYER, env.rollup, data)

    trie_error = "TrieProofTraversalError(uint8)"
    # double claim
    assert claim(env.l1_claim_data(w0, 3)) == error_data("AlreadyClaimed(uint256)", 0)
    # w3 was sent in L2 block 4, which is not settled ...
    assert claim(env.l1_claim_data(w3, 4)) == error_data("L2BlockNotSettled(uint256)", 4)
    # ... and block 3's state does not hold it: its slot is absent from the storage trie, and
    # OpenZeppelin's TrieProof fails on the empty branch child while decoding it
    assert claim(env.l1_claim_data(w3, 3)) == error_data("RLPInvalidEncoding()")
    # proofs taken at another state root than the settled one named
    out = claim(env.l1_claim_data(w2, 3, proof_number=4))
    assert out == error_data(trie_error, INVALID_ROOT)
    # a message that was never sent: the proven slot holds another hash
    forged = Message(w2.sender, w2.sender, 50 * ETHER, 0, b"", w2.index)
    assert claim(env.l1_claim_data(forged, 3)) == error_data("MessageNotSent(uint256)", 2)
    # the genuine w2 is claimable (and left unclaimed)
    assert l1.call(env.rollup, env.l1_claim_data(w2, 3), l1.address(RELAYER)).error is None


# -- failed calls: the claim reverts and stays claimable ---------------------------------------


def test_a_failed_delivery_reverts_and_can_be_retried_on_both_layers():
    env = RollupEnv.create()
    l1, l2 = env.l1, env.l2
    bob, relayer = l1.address(BOB), l1.address(RELAYER)
    l1_recorder = l1.deploy(BOB, "MessageRecorder")
    l1.send(BOB, l1_recorder, calldata("setClosed(bool)", True))
    deploy = l2.create_tx(RELAYER, "MessageRecorder")
    block1 = env.l2_block([deploy])
    l2_recorder = block1.receipts[0].contract_address
    block1b = env.l2_block([l2.tx(RELAYER, l2_recorder, calldata("setClosed(bool)", True))])

    d0 = env.deposit(BOB, l2_recorder, ETHER, FEE, calldata("record(uint256)", 1))
    anchor_ts = env.next_l2_timestamp()
    failed = env.relay([d0])
    assert failed.receipts[0].status == 0
    assert not l2.view(MESSENGER, "isClaimed(uint256)", ["bool"], 0)
    out = reverts(l2, RELAYER, MESSENGER, env.claim_data(d0, anchor_ts))
    assert out == error_data("MessageCallFailed(uint256,bytes)", 0, keccak(b"Closed()")[:4])
    tampered = env.tree.proof(0)
    tampered[5] = b"\x99" * 32  # a wrong proof fails before any call
    out = reverts(l2, RELAYER, MESSENGER, env.claim_data(d0, anchor_ts, tampered))
    assert out == error_data("InvalidMessageProof(uint256)", 0)

    retry = env.l2_block(
        [
            l2.tx(RELAYER, l2_recorder, calldata("setClosed(bool)", False)),
            env.claim_tx(d0, anchor_ts),
        ]
    )
    assert [r.status for r in retry.receipts] == [1, 1]
    assert l2.view(MESSENGER, "isClaimed(uint256)", ["bool"], 0)
    assert l2.view(l2_recorder, "lastSender()", ["address"]) == "0x" + bob.hex()

    w0_tx, w0 = env.withdraw_tx(
        RELAYER, l1_recorder, ETHER // 10, 0, calldata("record(uint256)", 2)
    )
    withdrawn = env.l2_block([w0_tx])
    for built in (block1, block1b, failed, retry, withdrawn):
        env.settle(built)
    number = withdrawn.block.number
    data = env.l1_claim_data(w0, number)
    out = reverts(l1, RELAYER, env.rollup, data)
    assert out == error_data("MessageCallFailed(uint256,bytes)", 0, keccak(b"Closed()")[:4])
    assert l1.send(RELAYER, env.rollup, data, expect_success=False).status == 0
    assert not env.rollup_view("isL2MessageClaimed(uint256)", "bool", 0)

    l1.send(BOB, l1_recorder, calldata("setClosed(bool)", False))
    l1.send(RELAYER, env.rollup, data)
    assert env.rollup_view("isL2MessageClaimed(uint256)", "bool", 0)
    assert l1.view(l1_recorder, "lastSender()", ["address"]) == "0x" + relayer.hex()
    assert l1.balance(l1_recorder) == ETHER // 10
