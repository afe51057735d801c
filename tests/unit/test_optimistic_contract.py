"""``OptimisticRollup`` in process: an L1 ``Chain`` with EXECUTE and an L2 ``Chain`` on
genesis/l2.json (``tests/rollup_env.py``), the sequencer proposing L2 blocks with a bond and
no EXECUTE call, challenges judged by one EXECUTE call, finality after the window, and a
withdrawal proven against a final root only.

Each test builds its own small history (a fresh pair of chains costs well under a second).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import rlp
from eth_abi import encode
from eth_hash.auto import keccak

from node.chain import BuiltBlock
from sequencer.messages import calldata
from sequencer.optimistic import CHALLENGE, PROPOSE, L2Head, challenge_gas, commitment
from tests.rollup_env import (
    ADVANCE_GAS,
    ALICE,
    BOB,
    ETHER,
    MESSENGER,
    RELAYER,
    SEQUENCER,
    RollupEnv,
    error_data,
)

WINDOW = 4
PROPOSER_BOND = ETHER
CHALLENGER_BOND = ETHER // 2
CHALLENGER = BOB
ZERO = b"\x00" * 20
OPTIMISTIC_ARGS = [
    "bytes32",
    "bytes32",
    "uint256",
    "uint256",
    "address",
    "address",
    "uint256",
    "uint256",
    "uint256",
]


@dataclass
class Optimistic:
    env: RollupEnv  # its ``rollup`` is a NativeRollup on the same L2 genesis (for figures)
    address: bytes

    @property
    def l1(self):
        return self.env.l1

    @property
    def l2(self):
        return self.env.l2

    def view(self, signature: str, out_type: str, *args):
        return self.l1.view(self.address, signature, [out_type], *args)

    def head(self, built: BuiltBlock, **changes) -> tuple[L2Head, bytes, bytes]:
        block = built.block
        head = L2Head.of_header(block.header, block.hash)
        for name, value in changes.items():
            head = head.replace(**{name: value})
        transactions = rlp.encode(list(block.transactions))
        witness = self.l2.chain.witnesses[block.hash].encode_rlp()
        return head, transactions, witness

    def propose(self, built: BuiltBlock, expect_success: bool = True, **changes):
        head, txs, witness = self.head(built, **changes)
        data = calldata(PROPOSE, head.abi(), txs, witness)
        return self.l1.send(
            SEQUENCER, self.address, data, PROPOSER_BOND, ADVANCE_GAS, expect_success
        )

    def challenge(
        self,
        number: int,
        built: BuiltBlock,
        key: int = CHALLENGER,
        bond: int = CHALLENGER_BOND,
        expect_success: bool = True,
        **changes,
    ):
        head, txs, witness = self.head(built, **changes)
        data = calldata(CHALLENGE, number, head.abi(), txs, witness)
        return self.l1.send(key, self.address, data, bond, ADVANCE_GAS, expect_success)

    def challenge_error(self, number: int, built: BuiltBlock, key: int = CHALLENGER, **kw):
        bond = kw.pop("bond", CHALLENGER_BOND)
        head, txs, witness = self.head(built, **kw)
        data = calldata(CHALLENGE, number, head.abi(), txs, witness)
        result = self.l1.call(self.address, data, self.l1.address(key), bond)
        assert result.is_revert
        return result.output

    def last_proposed(self) -> int:
        return self.view("lastProposedNumber()", "uint256")

    def finalized(self, number: int) -> bool:
        return self.view("isFinalized(uint256)", "bool", number)

    def pass_window(self) -> None:
        for _ in range(WINDOW + 1):
            self.l1.mine()


def make_world(sequencer: bytes | None = None) -> Optimistic:
    env = RollupEnv.create()
    genesis = env.l2.chain.head
    address = env.l1.deploy(
        SEQUENCER,
        "OptimisticRollup",
        OPTIMISTIC_ARGS,
        [
            genesis.hash,
            env.l2.chain.state_root_after(genesis),
            env.l2.chain.chain_id,
            genesis.gas_limit,
            sequencer or env.l1.address(SEQUENCER),
            MESSENGER,
            WINDOW,
            PROPOSER_BOND,
            CHALLENGER_BOND,
        ],
        value=10**18,  # RELAYER_SEED: the L2 genesis funding outside the messenger
        gas=10_000_000,
    )
    return Optimistic(env, address)


def transfer_block(w: Optimistic, value: int = 1000) -> BuiltBlock:
    """An L2 block in which the (genesis-funded) relayer pays Alice."""
    tx = w.l2.tx(RELAYER, w.l2.address(ALICE), value=value, gas=21_000)
    return w.env.l2_block([tx])


def executes(receipt_block) -> int:
    return receipt_block.block.header.execute_gas_used


@pytest.fixture
def world() -> Optimistic:
    return make_world()


def test_propose_calls_no_execute_and_costs_less_than_advance(world):
    blocks = [transfer_block(world, 1000 + i) for i in range(3)]
    for i, built in enumerate(blocks, start=1):
        receipt = world.propose(built)
        assert world.l1.blocks[-1].block.header.execute_gas_used == 0  # no EXECUTE ran
        assert world.last_proposed() == i
        stored = world.l1.call(world.address, calldata("proposal(uint256)", i)).output
        head, txs, witness = world.head(built)
        assert stored[:32] == built.block.hash and stored[32:64] == built.block.header.state_root
        assert stored[64:96] == commitment(head, txs, witness)
        # the same block through NativeRollup.advance costs more: it runs EXECUTE
        advance = world.env.settle(built)
        assert world.l1.blocks[-1].block.header.execute_gas_used == built.block.header.gas_used
        assert receipt.gas_used < advance.gas_used
    # the onchain commitment is the Python one
    head, txs, witness = world.head(blocks[0])
    assert world.l1.call(
        world.address,
        calldata(
            "commitmentOf((bytes32,bytes32,uint256,uint256,address,bytes32,bytes32,bytes32),bytes,bytes)",
            head.abi(),
            txs,
            witness,
        ),
    ).output == commitment(head, txs, witness)


def test_final_only_after_the_window_and_finalize_settles_and_returns_bonds(world):
    built = transfer_block(world)
    world.propose(built)
    assert not world.finalized(1)
    assert world.l1.call(world.address, calldata("finalize(uint256)", 1)).output == error_data(
        "NotFinalized(uint256)", 1
    )
    assert world.l1.call(world.address, calldata("finalizedStateRoot(uint256)", 1)).output == (
        error_data("NotFinalized(uint256)", 1)
    )
    for _ in range(WINDOW):
        world.l1.mine()
    assert not world.finalized(1)  # views run at the head: the window's last block
    world.l1.mine()
    assert world.finalized(1) and world.view("finalizedNumber()", "uint256") == 1
    sequencer = world.l1.address(SEQUENCER)
    before = world.l1.balance(sequencer)
    receipt = world.l1.send(RELAYER, world.address, calldata("finalize(uint256)", 1))
    assert world.l1.balance(sequencer) == before  # credited, not pushed
    assert world.view("sequencerCredit()", "uint256") == PROPOSER_BOND
    world.l1.send(RELAYER, world.address, calldata("withdrawCredit()"))
    assert world.l1.balance(sequencer) == before + PROPOSER_BOND
    assert world.view("sequencerCredit()", "uint256") == 0
    assert world.view("lastFinalizedNumber()", "uint256") == 1
    assert world.view("finalizedStateRoot(uint256)", "bytes32", 1) == built.block.header.state_root
    assert receipt.status == 1
    # after the window nobody can challenge it
    assert world.challenge_error(1, built) == error_data(
        "ChallengeWindowClosed(uint256,uint256)", 1, _closes(world, 1)
    )


def _closes(world: Optimistic, number: int) -> int:
    out = world.l1.call(world.address, calldata("proposal(uint256)", number)).output
    return int.from_bytes(out[96:128], "big") + WINDOW


def test_forged_post_root_is_challenged_with_one_execute_and_discards_descendants(world):
    blocks = [transfer_block(world, 1000 + i) for i in range(3)]
    world.propose(blocks[0])
    world.propose(blocks[1], post_state_root=b"\x13" * 32)  # forged
    world.propose(blocks[2])  # built on the forged one
    assert world.last_proposed() == 3

    l1 = world.l1
    challenger, sequencer = l1.address(CHALLENGER), l1.address(SEQUENCER)
    before = {a: l1.balance(a) for a in (challenger, sequencer, ZERO)}
    receipt = world.challenge(2, blocks[1], post_state_root=b"\x13" * 32)
    mined = l1.blocks[-1]
    # one EXECUTE call judged it: an invalid block keeps its whole reservation, the tx's gas
    assert mined.block.header.execute_gas_used == blocks[1].block.transactions[0].gas
    assert world.last_proposed() == 1
    assert world.view("anchoredMessageCount()", "uint256") == 0
    header = mined.block.header
    cost = receipt.gas_used * receipt.effective_gas_price
    tips = receipt.gas_used * (receipt.effective_gas_price - header.base_fee_per_gas)
    execute_fee = header.execute_gas_used * header.execute_base_fee_per_gas
    reward = PROPOSER_BOND // 2
    # the challenger: bond back plus half the proposer's bond, minus gas and the execute fee
    assert l1.balance(challenger) == before[challenger] + reward - cost - execute_fee
    assert header.coinbase == ZERO  # the devnet's coinbase is the burn address: minus tips
    assert l1.balance(ZERO) == before[ZERO] + tips + PROPOSER_BOND - reward  # burned half
    assert l1.balance(sequencer) == before[sequencer]
    assert world.view("sequencerCredit()", "uint256") == PROPOSER_BOND  # descendant's bond
    (topics, data) = l1.events(
        receipt,
        world.address,
        "ProposalsDiscarded(uint256,uint256,address,uint256,uint256)",
        ["uint256", "uint256", "uint256"],
    )[0]
    assert topics[0] == 2 and data == (3, 10, reward)  # reason 10: post-state root

    # discarded: neither 2 nor 3 exists; the sequencer re-proposes the honest blocks
    assert world.challenge_error(2, blocks[1]) == error_data("NoSuchProposal(uint256)", 2)
    world.propose(blocks[1])
    world.propose(blocks[2])
    world.pass_window()
    assert world.finalized(3)
    world.l1.send(RELAYER, world.address, calldata("finalize(uint256)", 3))
    assert world.view("lastFinalizedNumber()", "uint256") == 3
    assert (
        world.view("finalizedStateRoot(uint256)", "bytes32", 3) == blocks[2].block.header.state_root
    )


def test_forged_block_hash_is_discarded_with_reason_zero(world):
    built = transfer_block(world)
    world.propose(built, block_hash=b"\x77" * 32)
    receipt = world.challenge(1, built, block_hash=b"\x77" * 32)
    events = world.l1.events(
        receipt,
        world.address,
        "ProposalsDiscarded(uint256,uint256,address,uint256,uint256)",
        ["uint256", "uint256", "uint256"],
    )
    assert events[0][1] == (1, 0, PROPOSER_BOND // 2)
    assert world.last_proposed() == 0


def test_frivolous_challenge_costs_the_bond_and_verifies_the_proposal(world):
    built = transfer_block(world)
    world.propose(built)
    l1 = world.l1
    challenger, sequencer = l1.address(CHALLENGER), l1.address(SEQUENCER)
    before_c, before_s = l1.balance(challenger), l1.balance(sequencer)
    receipt = world.challenge(1, built)
    assert receipt.status == 1
    # one EXECUTE call accepted it: a valid block is charged its gas used
    assert l1.blocks[-1].block.header.execute_gas_used == built.block.header.gas_used
    assert world.last_proposed() == 1  # still there
    assert l1.balance(sequencer) == before_s
    assert world.view("sequencerCredit()", "uint256") == CHALLENGER_BOND
    assert l1.balance(challenger) < before_c - CHALLENGER_BOND
    assert l1.events(
        receipt, world.address, "ChallengeFailed(uint256,address,uint256)", ["uint256"]
    )
    assert world.challenge_error(1, built) == error_data("AlreadyVerified(uint256)", 1)


def test_challenge_checks_data_bond_and_window(world):
    built = transfer_block(world)
    world.propose(built)
    assert world.challenge_error(1, built, receipts_root=b"\x01" * 32) == error_data(
        "DataMismatch(uint256)", 1
    )
    assert world.challenge_error(1, built, bond=1) == error_data(
        "WrongBond(uint256,uint256)", 1, CHALLENGER_BOND
    )
    assert world.challenge_error(0, built) == error_data("NoSuchProposal(uint256)", 0)
    assert world.challenge_error(2, built) == error_data("NoSuchProposal(uint256)", 2)


def test_propose_rules(world):
    built = transfer_block(world)
    head, txs, witness = world.head(built)
    l1 = world.l1
    l1.mine()  # L1 time reaches the L2 block's

    def refused(key: int, value: int, h=head, t=txs, wit=witness) -> bytes:
        result = l1.call(world.address, calldata(PROPOSE, h.abi(), t, wit), l1.address(key), value)
        assert result.is_revert
        return result.output

    assert refused(BOB, PROPOSER_BOND) == error_data("NotSequencer(address)", l1.address(BOB))
    assert refused(SEQUENCER, PROPOSER_BOND - 1) == error_data(
        "WrongBond(uint256,uint256)", PROPOSER_BOND - 1, PROPOSER_BOND
    )
    limit = built.block.header.gas_limit
    assert refused(SEQUENCER, PROPOSER_BOND, head.replace(gas_used=limit + 1)) == error_data(
        "GasUsedAboveLimit(uint256,uint256)", limit + 1, limit
    )
    future = 2**40
    assert (
        refused(SEQUENCER, PROPOSER_BOND, head.replace(timestamp=future))[:4]
        == (error_data("TimestampInFuture(uint256,uint256)", 0, 0)[:4])
    )
    assert refused(SEQUENCER, PROPOSER_BOND, head.replace(anchor=b"\x05" * 32)) == error_data(
        "UnknownAnchor(bytes32)", b"\x05" * 32
    )
    big = b"\x00" * (512 * 1024)
    assert refused(SEQUENCER, PROPOSER_BOND, t=big) == error_data(
        "BlockDataTooLarge(uint256,uint256)", len(big) + len(witness), 512 * 1024
    )


def test_withdrawal_claims_only_after_finalization(world):
    env, l1 = world.env, world.l1
    # the rollup's domain is the optimistic contract's
    env.rollup, native = world.address, env.rollup
    alice = l1.address(ALICE)
    deposit = env.deposit(ALICE, alice, ETHER // 2, ETHER // 100)
    relayed = env.relay([deposit])  # the messenger binds to this rollup on its first claim
    assert relayed.receipts[0].status == 1
    world.propose(relayed)
    tx, message = env.withdraw_tx(ALICE, alice, ETHER // 10, 0)
    built = env.l2_block([tx])
    assert built.receipts[0].status == 1
    world.propose(built)
    claim = env.l1_claim_data(message, 2)
    result = l1.call(world.address, claim, alice)
    assert result.is_revert and result.output == error_data("NotFinalized(uint256)", 2)
    world.pass_window()  # no finalize call needed
    before = l1.balance(alice)
    l1.send(RELAYER, world.address, claim)
    assert l1.balance(alice) == before + ETHER // 10
    assert world.view("escrowed()", "uint256") == 10**18 + ETHER // 2 + ETHER // 100 - ETHER // 10
    env.rollup = native


def test_discard_restores_the_parents_anchor(world):
    env = world.env
    env.rollup, native = world.address, env.rollup
    env.deposit(ALICE, world.l1.address(ALICE), ETHER)
    relay = env.relay([])  # anchors the 1-message root, claims nothing
    env.rollup = native
    world.propose(relay, post_state_root=b"\x13" * 32)
    assert world.view("anchoredMessageCount()", "uint256") == 1
    world.challenge(1, relay, post_state_root=b"\x13" * 32)
    assert world.view("anchoredMessageCount()", "uint256") == 0
    world.propose(relay)
    assert world.view("anchoredMessageCount()", "uint256") == 1


def test_commitment_is_keccak_of_head_and_data_hashes():
    head = L2Head(
        *(b"\x01" * 32, b"\x02" * 32, 5, 6, b"\x03" * 20, b"\x04" * 32, b"\x05" * 32, b"\x06" * 32)
    )
    expected = keccak(
        encode(
            [
                "(bytes32,bytes32,uint256,uint256,address,bytes32,bytes32,bytes32)",
                "bytes32",
                "bytes32",
            ],
            [head.abi(), keccak(b"tx"), keccak(b"w")],
        )
    )
    assert commitment(head, b"tx", b"w") == expected


@pytest.mark.parametrize("late", [False, True])
def test_the_window_closes_after_challenge_window_blocks(world, late):
    built = transfer_block(world)
    world.propose(built)
    proposed_at = world.l1.blocks[-1].block.number
    while world.l1.blocks[-1].block.number < proposed_at + WINDOW - 1 + late:
        world.l1.mine()
    receipt = world.challenge(1, built, expect_success=False)
    assert world.l1.blocks[-1].block.number == proposed_at + WINDOW + late
    assert receipt.status == (0 if late else 1)


def test_a_sequencer_refusing_eth_cannot_block_a_challenge():
    probe = make_world()
    refusing = probe.l1.deploy(SEQUENCER, "OptimisticRefusingSequencer")
    world = make_world(sequencer=refusing)  # fresh chains: the same deployer nonce, address
    assert world.l1.deploy(SEQUENCER, "OptimisticRefusingSequencer") == refusing
    blocks = [transfer_block(world, 1000 + i) for i in range(2)]
    for built, changes in ((blocks[0], {"post_state_root": b"\x13" * 32}), (blocks[1], {})):
        head, txs, witness = world.head(built, **changes)
        world.l1.send(
            SEQUENCER,
            refusing,
            calldata(
                "forward(address,bytes)", world.address, calldata(PROPOSE, head.abi(), txs, witness)
            ),
            PROPOSER_BOND,
            ADVANCE_GAS,
        )
    assert world.last_proposed() == 2
    receipt = world.challenge(1, blocks[0], post_state_root=b"\x13" * 32)  # discards 1 and 2
    assert receipt.status == 1 and world.last_proposed() == 0
    assert world.view("sequencerCredit()", "uint256") == PROPOSER_BOND
    # the credit waits: paying it fails while the sequencer refuses ETH
    failed = world.l1.send(
        RELAYER, world.address, calldata("withdrawCredit()"), expect_success=False
    )
    assert failed.status == 0
    assert world.view("sequencerCredit()", "uint256") == PROPOSER_BOND


def test_finalized_number_follows_each_proposals_own_window(world):
    blocks = [transfer_block(world, 1000 + i) for i in range(3)]
    world.propose(blocks[0])
    world.l1.mine()
    world.l1.mine()
    world.propose(blocks[1])
    world.propose(blocks[2])
    first = _closes(world, 1) - WINDOW
    while world.l1.blocks[-1].block.number <= first + WINDOW:
        world.l1.mine()
    # 1's window is over, 2's (two L1 blocks later) is not
    assert world.view("finalizedNumber()", "uint256") == 1
    assert world.finalized(1) and not world.finalized(2) and not world.finalized(3)
    for _ in range(3):  # 2 was proposed three L1 blocks after 1, 3 one more after
        world.l1.mine()
    assert world.view("finalizedNumber()", "uint256") == 2
    world.l1.mine()
    assert world.view("finalizedNumber()", "uint256") == 3
    assert not world.finalized(4)  # never proposed


def test_the_challenge_gas_bound_covers_a_challenge_and_fits_an_l1_block(world):
    built = transfer_block(world)
    world.propose(built, post_state_root=b"\x13" * 32)
    head, txs, witness = world.head(built, post_state_root=b"\x13" * 32)
    data = calldata(CHALLENGE, 1, head.abi(), txs, witness)
    receipt = world.challenge(1, built, post_state_root=b"\x13" * 32)
    assert receipt.status == 1 and receipt.gas_used <= challenge_gas(len(data))
    # the largest proposal's challenge still fits the devnet L1's 30M gas limit
    largest = len(calldata(CHALLENGE, 1, head.abi(), b"\x01" * (512 * 1024 - 1024), b"\x01" * 1024))
    assert challenge_gas(largest) < world.l1.chain.head.gas_limit == 30_000_000
