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
from dataclasses import dataclass, field, replace

import pytest
from eth_abi import decode
from eth_hash.auto import keccak

from devtools.contracts import load
from node.chain import BuiltBlock
from node.genesis import DEFAULT_L2_GENESIS, load_genesis
from precompiles.execute_wire import EXECUTE_ADDRESS, EXECUTE_INVALID
from sequencer.messages import SENT_MESSAGES_SLOT, namespace_slot
from tests.rollup_env import (
    ADVANCE_GAS,
    ALICE,
    BOB,
    ETHER,
    L1_SEND,
    L2_SEND,
    L2_TO_L1,
    MESSENGER,
    RELAYER,
    RELAYER_SEED,
    SEQUENCER,
    Domain,
    Layer,
    Message,
    MessageTree,
    RollupEnv,
    calldata,
    error_data,
    selector,
    sent_message_slot,
    verify_proof,
)

FEE = ETHER // 100
MESSENGER_SUPPLY = 1_000_000 * ETHER
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


def not_sent(out: bytes, message: Message) -> bool:
    """The L1 refused ``message`` as never sent: the storage proof does not show
    ``sent[hash]`` (whichever way the proof fails)."""
    return out == error_data("MessageNotSent(bytes32)", message.hash)


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
        assert l2.view(MESSENGER, "isDone(bytes32)", ["bool"], m.hash)
    assert not l2.view(MESSENGER, "isDone(bytes32)", ["bool"], world.deposits[3].hash)
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
    assert claim(m0, anchored.proof(0)) == error_data("AlreadyDone(bytes32)", m0.hash)
    # m3 was sent after the anchored root: not in that tree, whatever proof
    full = MessageTree(leaves=[m.hash for m in world.deposits])
    invalid = "InvalidMessageProof(bytes32)"
    assert claim(m3, full.proof(3)) == error_data(invalid, m3.hash)
    # a message nobody sent (m3 with another value)
    forged = replace(m3, value=100 * ETHER, fee=0)
    assert claim(forged, anchored.proof(2)) == error_data(invalid, forged.hash)
    # another leaf's proof
    assert claim(m3, anchored.proof(2)) == error_data(invalid, m3.hash)
    # a proof of the right root but not of the tree's depth (an inner node as the "leaf")
    assert claim(m3, full.proof(3)[:5]) == error_data(invalid, m3.hash)
    # a timestamp with no L2 block, and an L2 block anchored with zero
    assert claim(m3, full.proof(3), ts + 1) == error_data("UnknownAnchor(uint256)", ts + 1)
    no_anchor = l2.chain.header_by_number(3).timestamp
    assert claim(m3, full.proof(3), no_anchor) == error_data("UnknownAnchor(uint256)", no_anchor)


def test_send_message_needs_value_for_the_fee(world):
    env = world.env
    to = world.l1.address(ALICE)
    out = reverts(world.l1, ALICE, env.rollup, calldata(L1_SEND, to, 0, 2, b""), value=1)
    assert out == error_data("FeeExceedsValue(uint256,uint256)", 2, 1)
    out = reverts(world.l2, ALICE, MESSENGER, calldata(L2_SEND, to, 0, 2, b""), value=1)
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
        assert env.rollup_view("isL2MessageClaimed(bytes32)", "bool", m.hash)
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
    assert claim(env.l1_claim_data(w0, 3)) == error_data("AlreadyClaimed(bytes32)", w0.hash)
    # w3 was sent in L2 block 4, which is not settled ...
    assert claim(env.l1_claim_data(w3, 4)) == error_data("L2BlockNotSettled(uint256)", 4)
    # ... and block 3's state does not hold it: its slot is absent from the storage trie
    assert not_sent(claim(env.l1_claim_data(w3, 3)), w3)
    # proofs taken at another state root than the settled one named
    out = claim(env.l1_claim_data(w2, 3, proof_number=4))
    assert out == error_data(trie_error, INVALID_ROOT)
    # a message that was never sent: the proven slot holds another hash
    forged = replace(w2, to=w2.sender, value=50 * ETHER, fee=0)
    out = claim(env.l1_claim_data(forged, 3))
    assert not_sent(out, forged)
    # the genuine w2's proof presented for the forged message: its slot is another one
    assert not_sent(claim(env.l1_claim_data(forged, 3, proof_of=w2)), forged)
    # the genuine w2 is claimable (and left unclaimed)
    assert l1.call(env.rollup, env.l1_claim_data(w2, 3), l1.address(RELAYER)).error is None


# -- failed calls: recorded on L2 (retryable, refundable later), reverted on L1 ----------------

DELIVERY_FAILED = "MessageDeliveryFailed(bytes32,uint256,bytes)"
MESSAGE_SENT = "MessageSent(uint256,address,address,uint256,uint256,uint256,bytes,bytes32)"


def closed_recorders(env: RollupEnv) -> tuple[bytes, bytes, list[BuiltBlock]]:
    """A closed MessageRecorder on each layer: (L1 recorder, L2 recorder, L2 blocks mined)."""
    l1, l2 = env.l1, env.l2
    l1_recorder = l1.deploy(BOB, "MessageRecorder")
    l1.send(BOB, l1_recorder, calldata("setClosed(bool)", True))
    block1 = env.l2_block([l2.create_tx(RELAYER, "MessageRecorder")])
    l2_recorder = block1.receipts[0].contract_address
    block2 = env.l2_block([l2.tx(RELAYER, l2_recorder, calldata("setClosed(bool)", True))])
    return l1_recorder, l2_recorder, [block1, block2]


def test_a_failed_delivery_is_recorded_and_can_be_retried_on_both_layers():
    env = RollupEnv.create()
    l1, l2 = env.l1, env.l2
    bob, relayer = l1.address(BOB), l1.address(RELAYER)
    l1_recorder, l2_recorder, blocks = closed_recorders(env)

    d0 = env.deposit(BOB, l2_recorder, ETHER, FEE, calldata("record(uint256)", 1), 100_000)
    anchor_ts = env.next_l2_timestamp()
    relayer_before = l2.balance(l2.address(RELAYER))
    failed = env.relay([d0])
    # the claim succeeds as a transaction, records the failure, pays no fee
    receipt = failed.receipts[0]
    assert receipt.status == 1
    ((topics, (returned,)),) = l2.events(receipt, MESSENGER, DELIVERY_FAILED, ["bytes"])
    assert topics == [int.from_bytes(d0.hash, "big"), 0]
    assert returned == keccak(b"Closed()")[:4]
    assert not l2.view(MESSENGER, "isDone(bytes32)", ["bool"], d0.hash)
    assert l2.view(MESSENGER, "failedAt(bytes32)", ["uint256"], d0.hash) == anchor_ts
    assert l2.balance(l2.address(RELAYER)) < relayer_before  # gas only, no fee
    assert l2.balance(l2_recorder) == 0
    tampered = env.tree.proof(0)
    tampered[5] = b"\x99" * 32  # a wrong proof fails before any call
    out = reverts(l2, RELAYER, MESSENGER, env.claim_data(d0, anchor_ts, tampered))
    assert out == error_data("InvalidMessageProof(bytes32)", d0.hash)

    retry = env.l2_block(
        [
            l2.tx(RELAYER, l2_recorder, calldata("setClosed(bool)", False)),
            env.claim_tx(d0, anchor_ts),
        ]
    )
    assert [r.status for r in retry.receipts] == [1, 1]
    assert l2.view(MESSENGER, "isDone(bytes32)", ["bool"], d0.hash)
    assert l2.view(l2_recorder, "lastSender()", ["address"]) == "0x" + bob.hex()
    assert l2.balance(l2_recorder) == ETHER

    w0_tx, w0 = env.withdraw_tx(
        RELAYER, l1_recorder, ETHER // 10, 0, calldata("record(uint256)", 2)
    )
    withdrawn = env.l2_block([w0_tx])
    for built in (*blocks, failed, retry, withdrawn):
        env.settle(built)
    number = withdrawn.block.number
    data = env.l1_claim_data(w0, number)
    out = reverts(l1, RELAYER, env.rollup, data)
    assert out == error_data("MessageCallFailed(bytes32,bytes)", w0.hash, keccak(b"Closed()")[:4])
    assert l1.send(RELAYER, env.rollup, data, expect_success=False).status == 0
    assert not env.rollup_view("isL2MessageClaimed(bytes32)", "bool", w0.hash)

    l1.send(BOB, l1_recorder, calldata("setClosed(bool)", False))
    l1.send(RELAYER, env.rollup, data)
    assert env.rollup_view("isL2MessageClaimed(bytes32)", "bool", w0.hash)
    assert l1.view(l1_recorder, "lastSender()", ["address"]) == "0x" + relayer.hex()
    assert l1.balance(l1_recorder) == ETHER // 10


# -- the message layout: nothing the attacker sends can steer the proven slot ---------------------

BITMAP_WORD_0 = int.from_bytes(keccak((0).to_bytes(32, "big") + (1).to_bytes(32, "big")), "big")
ARRAY_BASE = int.from_bytes(keccak((0).to_bytes(32, "big")), "big")
# the index that made the first layout prove word 0 of the claimed bitmap (issue: finding 1)
BITMAP_INDEX = BITMAP_WORD_0 - ARRAY_BASE


def messenger_storage(world: World, slot: int, number: int = 3) -> int:
    header = world.l2.chain.header_by_number(number)
    proof = world.l2.chain.proof(MESSENGER, [slot], header)
    return proof.storage[0].value


def test_a_withdrawal_with_an_out_of_range_index_is_refused(world):
    """The forged withdrawal of the drain: its index pointed the first layout's proof at the
    claimed bitmap. It is refused before any proof is read, and its proven slot would be a
    hash of the message itself, which nothing wrote."""
    env, l1 = world.env, world.l1
    w2 = world.withdrawals[2]
    forged = replace(w2, to=l1.address(BOB), value=5 * ETHER, index=BITMAP_INDEX)
    out = reverts(l1, BOB, env.rollup, env.l1_claim_data(forged, 3, proof_of=w2))
    assert out == error_data("NonceOutOfRange(uint256,uint256)", BITMAP_INDEX, 2**64 - 1)
    # within range, the forged message's own slot is empty and the claim is refused
    in_range = replace(forged, index=2**64 - 1)
    out = reverts(l1, BOB, env.rollup, env.l1_claim_data(in_range, 3))
    assert not_sent(out, in_range)
    # the old slots are empty: no array at slot 0, no bitmap at slot 1 (3 messages delivered)
    assert messenger_storage(world, 0) == 0
    assert messenger_storage(world, BITMAP_WORD_0) == 0


def test_messenger_state_is_hash_keyed_in_its_namespace(world):
    namespace = namespace_slot("native-rollup.L2Messenger")
    assert namespace == SENT_MESSAGES_SLOT
    assert world.l2.view(MESSENGER, "STORAGE_LOCATION()", ["bytes32"]) == namespace.to_bytes(
        32, "big"
    )
    assert world.env.rollup_view("SENT_MESSAGES_SLOT()", "bytes32") == namespace.to_bytes(32, "big")
    for w in world.withdrawals[:3]:
        assert messenger_storage(world, sent_message_slot(w.hash)) == 1
    # delivered L1 -> L2 messages: `done[hash]` at the namespace's second member
    for m in world.deposits[:3]:
        slot = int.from_bytes(keccak(m.hash + (namespace + 1).to_bytes(32, "big")), "big")
        assert messenger_storage(world, slot) == 1
    assert messenger_storage(world, namespace + 3) == 3  # sentCount
    bound = world.l2.view(MESSENGER, "boundRollup()", ["uint256", "address"])
    assert bound == (world.l1.chain.chain_id, "0x" + world.env.rollup.hex())


# -- domain separation ---------------------------------------------------------------------------


def test_messages_are_bound_to_their_direction_and_rollup(world):
    env, l1, l2 = world.env, world.l1, world.l2
    ts = world.anchor_timestamp
    anchored = MessageTree(leaves=[m.hash for m in world.deposits[:3]])
    m0 = world.deposits[0]
    other_rollup = Domain(m0.domain.l1_chain_id, m0.domain.l2_chain_id, b"\x77" * 20)
    other_l1 = replace(m0.domain, l1_chain_id=m0.domain.l1_chain_id + 1)
    other_l2 = replace(m0.domain, l2_chain_id=m0.domain.l2_chain_id + 1)
    variants = [
        replace(m0, domain=other_rollup),
        replace(m0, domain=other_l1),
        replace(m0, domain=other_l2),
        replace(m0, direction=L2_TO_L1),
    ]
    assert len({v.hash for v in variants} | {m0.hash}) == 5
    # the messenger is bound to this rollup: another domain is refused outright ...
    for v in variants[:2]:
        out = reverts(l2, RELAYER, MESSENGER, env.claim_data(v, ts, anchored.proof(0)))
        d = v.domain
        assert out == error_data("WrongDomain(uint256,address)", d.l1_chain_id, d.rollup)
    # ... and the L2 chain id and direction are the messenger's own (block.chainid, L1 -> L2):
    # a claimer cannot name others, so these are m0 itself, already delivered
    for v in variants[2:]:
        out = reverts(l2, RELAYER, MESSENGER, env.claim_data(v, ts, anchored.proof(0)))
        assert out == error_data("AlreadyDone(bytes32)", m0.hash)
    # the L1 hashes a claim as L2 -> L1 itself: a deposit's fields presented as a withdrawal
    # (with a genuine withdrawal's proof) name a hash the messenger never sent
    w2 = world.withdrawals[2]
    as_withdrawal = replace(m0, direction=L2_TO_L1)
    out = reverts(l1, RELAYER, env.rollup, env.l1_claim_data(m0, 3, proof_of=w2))
    assert not_sent(out, as_withdrawal)


def test_the_messenger_binds_on_its_first_claim_and_refuses_to_send_before():
    env = RollupEnv.create()
    l2 = env.l2
    to = l2.address(ALICE)
    out = reverts(l2, RELAYER, MESSENGER, calldata(L2_SEND, to, 0, 0, b""), value=1)
    assert out == error_data("NotBound()")
    assert l2.view(MESSENGER, "boundRollup()", ["uint256", "address"]) == (0, "0x" + "00" * 20)
    m0 = env.deposit(ALICE, to, ETHER, FEE)
    relayed = env.relay([m0])
    (log,) = [x for x in relayed.receipts[0].receipt.logs if x.topics[0] == topic_of(BOUND)]
    bound = l2.view(MESSENGER, "boundRollup()", ["uint256", "address"])
    assert bound == (env.l1.chain.chain_id, "0x" + env.rollup.hex())
    assert l2.call(MESSENGER, calldata(L2_SEND, to, 0, 0, b""), to, 1).error is None


# -- recipients, gas floors, return data ---------------------------------------------------------

BOUND = "RollupBound(uint256,address)"
BEACON_ROOTS = bytes.fromhex("000F3df6D732807Ef1319fB7B8bB8522d0Beac02")


def topic_of(signature: str) -> int:
    return int.from_bytes(keccak(signature.encode()), "big")


def test_messengers_and_system_addresses_cannot_be_recipients(world):
    env, l1, l2 = world.env, world.l1, world.l2
    forbidden = "ForbiddenRecipient(address)"
    for to in (MESSENGER, BEACON_ROOTS, EXECUTE_ADDRESS, (1).to_bytes(20, "big")):
        out = reverts(l1, ALICE, env.rollup, calldata(L1_SEND, to, 0, 0, b""), value=1)
        assert out == error_data(forbidden, to)
    for to in (env.rollup, EXECUTE_ADDRESS, BEACON_ROOTS):
        out = reverts(l2, ALICE, MESSENGER, calldata(L2_SEND, to, 0, 0, b""), value=1)
        assert out == error_data(forbidden, to)
    too_high = "MinGasLimitTooHigh(uint256,uint256)"
    alice = l1.address(ALICE)
    out = reverts(l1, ALICE, env.rollup, calldata(L1_SEND, alice, 4_000_001, 0, b""), value=1)
    assert out == error_data(too_high, 4_000_001, 4_000_000)
    out = reverts(l2, ALICE, MESSENGER, calldata(L2_SEND, alice, 4_000_001, 0, b""), value=1)
    assert out == error_data(too_high, 4_000_001, 4_000_000)


def test_a_claim_with_too_little_gas_for_min_gas_limit_reverts_on_both_layers():
    env = RollupEnv.create()
    l1, l2 = env.l1, env.l2
    alice = l1.address(ALICE)
    min_gas = 500_000
    d0 = env.deposit(ALICE, alice, ETHER, FEE, b"", min_gas)
    anchored = env.l2_block([], env.tree.root)
    anchor_ts = anchored.block.header.timestamp
    claim = env.claim_data(d0, anchor_ts)
    out = l2.call(MESSENGER, claim, l2.address(RELAYER), gas=400_000)
    assert out.is_revert
    assert out.output[:4] == selector("InsufficientRelayGas(uint256,uint256)")
    block = env.l2_block(
        [
            l2.tx(RELAYER, MESSENGER, claim, gas=400_000),
            l2.tx(RELAYER, MESSENGER, claim, gas=900_000),
        ]
    )
    assert [r.status for r in block.receipts] == [0, 1]
    assert l2.view(MESSENGER, "isDone(bytes32)", ["bool"], d0.hash)

    w_tx, w0 = env.withdraw_tx(ALICE, alice, ETHER // 2, 0, b"", min_gas_limit=min_gas)
    withdrawn = env.l2_block([w_tx])
    for built in (anchored, block, withdrawn):
        env.settle(built)
    data = env.l1_claim_data(w0, withdrawn.block.number)
    low = l1.send(RELAYER, env.rollup, data, gas=450_000, expect_success=False)
    assert low.status == 0
    assert not env.rollup_view("isL2MessageClaimed(bytes32)", "bool", w0.hash)
    l1.send(RELAYER, env.rollup, data, gas=1_500_000)
    assert env.rollup_view("isL2MessageClaimed(bytes32)", "bool", w0.hash)


def test_relayed_calls_copy_a_bounded_prefix_of_the_return_data():
    env = RollupEnv.create()
    l1, l2 = env.l1, env.l2
    l1_bomb = l1.deploy(BOB, "ReturnBomb")
    made = env.l2_block([l2.create_tx(RELAYER, "ReturnBomb")])
    l2_bomb = made.receipts[0].contract_address
    d0 = env.deposit(BOB, l2_bomb, ETHER, FEE, b"\x01")
    relayed = env.relay([d0])
    ((_, (returned,)),) = l2.events(relayed.receipts[0], MESSENGER, DELIVERY_FAILED, ["bytes"])
    assert len(returned) == 256  # of 100,000 bytes returned

    to = l1.address(RELAYER)
    fund = env.deposit(RELAYER, to, ETHER, FEE)
    funded = env.relay([fund])
    w_tx, w0 = env.withdraw_tx(RELAYER, l1_bomb, ETHER // 10, 0, b"\x01")
    withdrawn = env.l2_block([w_tx])
    for built in (made, relayed, funded, withdrawn):
        env.settle(built)
    out = reverts(l1, RELAYER, env.rollup, env.l1_claim_data(w0, withdrawn.block.number))
    assert out[:4] == selector("MessageCallFailed(bytes32,bytes)")
    hash_, returned = decode(["bytes32", "bytes"], out[4:])
    assert hash_ == w0.hash and len(returned) == 256


# -- refunds -------------------------------------------------------------------------------------

REFUND_DELAY = 24 * 3600


def test_an_undeliverable_deposit_is_refunded_on_l1_after_the_delay_and_only_once():
    env = RollupEnv.create()
    l1, l2 = env.l1, env.l2
    bob = l1.address(BOB)
    _, l2_recorder, blocks = closed_recorders(env)
    d0 = env.deposit(BOB, l2_recorder, ETHER, FEE, calldata("record(uint256)", 1), 100_000)
    anchor_ts = env.next_l2_timestamp()
    failed = env.relay([d0])
    assert l2.view(MESSENGER, "failedAt(bytes32)", ["uint256"], d0.hash) == anchor_ts

    # not before the delay; never for a message that did not fail
    out = reverts(l2, BOB, MESSENGER, env.refund_data(d0, anchor_ts))
    due = anchor_ts + REFUND_DELAY
    assert out == error_data("RefundNotDue(bytes32,uint256)", d0.hash, due)
    d1 = env.deposit(BOB, l2.address(BOB), ETHER, 0)
    early = env.l2_block([], env.tree.root)  # anchors d1
    out = reverts(l2, BOB, MESSENGER, env.refund_data(d1, early.block.header.timestamp))
    assert out == error_data("NotFailed(bytes32)", d1.hash)

    env.l2.clock.now += REFUND_DELAY
    anchor = env.l2_block([], env.tree.root)
    ts = anchor.block.header.timestamp
    refund_data = env.refund_data(d0, ts)
    refunded = env.l2_block([l2.tx(RELAYER, MESSENGER, refund_data, gas=500_000)])
    receipt = refunded.receipts[0]
    assert receipt.status == 1
    ((topics, (value, fee, min_gas, data, refund_hash)),) = l2.events(
        receipt, MESSENGER, MESSAGE_SENT, ["uint256", "uint256", "uint256", "bytes", "bytes32"]
    )
    assert topics == [0, int.from_bytes(MESSENGER, "big"), int.from_bytes(bob, "big")]
    assert (value, fee, min_gas, data) == (ETHER + FEE, 0, 0, b"")
    refund = Message(MESSENGER, bob, ETHER + FEE, 0, b"", 0, env.domain, L2_TO_L1)
    assert refund.hash == refund_hash
    assert l2.view(MESSENGER, "isDone(bytes32)", ["bool"], d0.hash)
    # delivered or refunded, once: no delivery after the refund, no second refund
    l2.send(RELAYER, l2_recorder, calldata("setClosed(bool)", False))
    for data in (env.claim_data(d0, ts), refund_data):
        assert reverts(l2, RELAYER, MESSENGER, data) == error_data("AlreadyDone(bytes32)", d0.hash)

    for built in (*blocks, failed, early, anchor, refunded, l2.blocks[-1]):
        env.settle(built)
    before = l1.balance(bob)
    claim = env.l1_claim_data(refund, l2.blocks[-1].block.number)
    receipt = l1.send(ALICE, env.rollup, claim)
    assert l1.balance(bob) - before == ETHER + FEE
    assert reverts(l1, ALICE, env.rollup, claim) == error_data(
        "AlreadyClaimed(bytes32)", refund.hash
    )


# -- burned fees: never capped silently ---------------------------------------------------------


def test_an_escrow_short_of_the_burned_fees_refuses_the_block_until_backed():
    env = RollupEnv.create(initial_escrow=0)  # the relayer's L2 seed is not backed
    l1, l2 = env.l1, env.l2
    built = env.l2_block([l2.create_tx(RELAYER, "MessageRecorder")])
    header = built.block.header
    burned = header.base_fee_per_gas * header.gas_used
    assert burned > 0
    data = env.advance_data(built.block)
    l1.mine()  # L1 time passes the L2 block's
    out = reverts(l1, SEQUENCER, env.rollup, data)
    assert out == error_data("BurnedFeesExceedEscrow(uint256,uint256)", burned, 0)
    assert env.rollup_view("lastBlockNumber()", "uint256") == 0

    l1.send(BOB, env.rollup, calldata("addEscrow()"), value=burned)
    assert env.rollup_view("escrowed()", "uint256") == burned
    sequencer = l1.address(SEQUENCER)
    before = l1.balance(sequencer)
    receipt = env.settle(built)
    assert env.rollup_view("lastBlockNumber()", "uint256") == 1
    assert env.rollup_view("escrowed()", "uint256") == 0
    paid = receipt.gas_used * receipt.effective_gas_price
    ((_, (_, _, settled_burned, execute_fee)),) = l1.events(
        receipt, env.rollup, BLOCK_SETTLED, ["bytes32", "uint256", "uint256", "uint256"]
    )
    assert settled_burned == burned
    assert l1.balance(sequencer) == before - paid - execute_fee + burned
