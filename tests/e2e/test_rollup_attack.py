"""The forged-withdrawal drain of the rollup-security issue, end to end on real L1 and L2 nodes.

The attack against the first message layout (``sentMessages`` as an array at slot 0, the
claimed bitmap at slot 1, the L1 proving slot ``keccak256(abi.encode(0)) + index`` with an
unbounded ``index``): pick ``index = keccak256(abi.encode(0, 1)) - keccak256(abi.encode(0))``
so the proven "sent message" is word 0 of the messenger's claimed-messages bitmap, i.e. the
delivery bits of L1 -> L2 messages 0..255. Grind a forged withdrawal (5 ETH of the victim's
deposit to the attacker, the victim as L2 sender) whose hash has the bits the attacker can
set, send one cheap L1 message per bit (paid ones the honest relayer delivers: bit 1; fee-less
ones it leaves alone: bit 0; all from one batching contract in one L1 transaction), let the
honest sequencer settle, and claim.

The test drives the honest sequencer and relayer in process (``sequencer`` package) and
asserts that the forged claim is refused and the victim can still withdraw. Against the first
layout it failed: "forged withdrawal accepted (status 0x1): the attacker gained 4.9998 ETH
after 245 messages (126 wei of fees)". The messenger now keeps its state in hash-keyed
mappings of an ERC-7201 namespace and the L1 proves ``sent[messageHash]`` at
``keccak256(abi.encode(messageHash, namespace))``, with the nonce bounded: the same forged
claim is refused (``NonceOutOfRange``).
"""

from __future__ import annotations

import time

import pytest
from eth_hash.auto import keccak

from sequencer.artifacts import load_artifact
from sequencer.client import ETHER, RpcClient, RpcError, Signer, b2h, h2b, h2i
from sequencer.localnet import L2_FUNDING
from sequencer.messages import L1_CLAIM, L2_TO_L1, Domain, Message, calldata, decode_revert
from sequencer.relayer import (
    Relayer,
    claim_withdrawal,
    prove_withdrawal,
    withdraw,
    withdrawal_from_receipt,
)
from sequencer.rollup import MESSENGER, deploy_rollup
from sequencer.scenario import ALICE_KEY, BOB_KEY, SEQUENCER_KEY
from sequencer.sequencer import Sequencer
from tests.e2e.test_rollup_scenario import nodes  # noqa: F401  (the fixture: L1, L2, L2 auth)
from tests.procs import under_test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE"),
]

VICTIM_DEPOSIT = 5 * ETHER
FEE = ETHER // 100
GRIND_TRIES = 4096  # enough to clear ~12 top bits of the forged hash: fewer messages to send
WORD = 0  # bitmap word 0: the delivery bits of L1 messages 0..255
SETTLE_TIMEOUT = 120.0
BATCH_SIZE = 128  # sendMessage calls per batch transaction (about 70,000 gas each)
BATCH_GAS = 12_000_000  # under Osaka's transaction gas cap (EIP-7825: 2**24)


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def bitmap_word_slot(w: int) -> int:
    """Slot of word ``w`` of the first layout's claimed bitmap (a mapping at slot 1)."""
    return int.from_bytes(keccak(word(w) + word(1)), "big")


def grind(
    victim: bytes, attacker: bytes, index: int, domain: Domain, fixed_bits: dict[int, int]
) -> Message:
    """The forged withdrawal whose hash agrees with ``fixed_bits`` (bit -> value the attacker
    cannot change) and has the lowest top set bit among ``GRIND_TRIES`` fees."""
    best = None
    for fee in range(GRIND_TRIES):
        m = Message(victim, attacker, VICTIM_DEPOSIT, fee, b"", index, domain, L2_TO_L1)
        h = int.from_bytes(m.hash, "big")
        if any((h >> bit) & 1 != value for bit, value in fixed_bits.items()):
            continue
        if best is None or h < int.from_bytes(best.hash, "big"):
            best = m
    assert best is not None
    return best


def test_a_withdrawal_forged_from_the_claimed_bitmap_is_refused(nodes):  # noqa: F811
    l1_node, l2_node, auth = nodes
    started = time.monotonic()
    l1, l2 = RpcClient(l1_node.url), RpcClient(l2_node.url)
    sequencer_l1 = Signer.from_key(l1, SEQUENCER_KEY)
    victim_l1, victim_l2 = Signer.from_key(l1, ALICE_KEY), Signer.from_key(l2, ALICE_KEY)
    attacker_l1 = Signer.from_key(l1, BOB_KEY)
    victim, attacker = victim_l1.address, attacker_l1.address
    rollup, _, _ = deploy_rollup(sequencer_l1, l2, sequencer_l1.address, L2_FUNDING)
    relayer = Relayer(rollup, l2, Signer.from_key(l2, SEQUENCER_KEY), min_fee=1)
    sequencer = Sequencer(
        rollup, l2, sequencer_l1, relayer, control=auth.client(), measure_execution=False
    )

    # the victim deposits 5 ETH: message 0, delivered by the relayer (bit 0 of word 0 is 1)
    deposit, _ = rollup.deposit(victim_l1, victim, VICTIM_DEPOSIT, FEE)
    assert deposit.index == 0
    sequencer.step(force=True)

    # grind the forged withdrawal against the word the attacker will write
    base = int.from_bytes(keccak(word(0)), "big")
    forged_index = bitmap_word_slot(WORD) - base
    forged = grind(victim, attacker, forged_index, rollup.domain, {0: 1})
    target = int.from_bytes(forged.hash, "big")
    top = target.bit_length()
    assert top > 1

    # fill the word: one message per bit, paid (relayed: 1) or fee-less (left alone: 0), all
    # sent from one batching contract in a few L1 transactions, in order
    fees = [(target >> bit) & 1 for bit in range(1, top)]
    deploy = attacker_l1.send(None, load_artifact("MessageBatcher").bytecode, gas=1_000_000)
    batcher = h2b(deploy["contractAddress"])
    for start in range(0, len(fees), BATCH_SIZE):
        chunk = fees[start : start + BATCH_SIZE]
        batch = calldata("sendAll(address,address,uint256[])", rollup.address, attacker, chunk)
        attacker_l1.send(batcher, batch, sum(chunk), gas=BATCH_GAS, what="sendAll")
    assert rollup.message_count() == top
    spent_on_messages = sum(fees)

    # the honest sequencer anchors, relays every paid message, and settles
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while relayer.in_flight or len(relayer.done) < spent_on_messages + 1:
        assert time.monotonic() < deadline, "the relayer did not deliver the messages in time"
        sequencer.step(force=True)
    settled = rollup.last_block_number()
    assert settled == l2.block_number()

    # the claim: the proven slot is base + forged_index, i.e. the bitmap word
    before = l1.balance(attacker)
    proof = l2.call("eth_getProof", b2h(MESSENGER), [b2h(word(base + forged_index))], hex(settled))
    claim = calldata(
        L1_CLAIM,
        forged.abi(),
        settled,
        [bytes.fromhex(n[2:]) for n in proof["accountProof"]],
        [bytes.fromhex(n[2:]) for n in proof["storageProof"][0]["proof"]],
    )
    try:
        l1.eth_call(rollup.address, claim, sender=attacker)
        refused = None
    except RpcError as exc:
        refused = decode_revert(exc.revert_data)
    if refused is None:  # show the drain for what it is before failing
        receipt = attacker_l1.send(rollup.address, claim, what="forged claim", check=False)
        gained = l1.balance(attacker) - before
        pytest.fail(
            f"forged withdrawal accepted (status {receipt['status']}): the attacker gained "
            f"{gained / ETHER:.4f} ETH after {top - 1} messages ({spent_on_messages} wei of "
            f"fees), word value 0x{proof['storageProof'][0]['value'][2:]:0>64}"
        )
    assert refused.name == "NonceOutOfRange", refused
    assert l1.balance(attacker) == before

    # the victim's own withdrawal is still fully backed
    tx_hash, receipt = withdraw(victim_l2, victim, ETHER, 0, wait=False)
    sequencer.step(force=True)
    w = withdrawal_from_receipt(l2.receipt(tx_hash), rollup.domain)
    before = l1.balance(victim)
    receipt = claim_withdrawal(rollup, victim_l1, prove_withdrawal(rollup, l2, w.index))
    assert h2i(receipt["status"]) == 1
    assert l1.balance(victim) > before
    assert time.monotonic() - started < 180
