"""Forced inclusion on real L1 and L2 node processes (``ForcedInclusion`` in the rollup
contract, ``sequencer.forced``, the ``forced`` scenario).

- ``test_the_forced_scenario``: a censoring sequencer's ``advance`` without the due forced
  transfer reverts with ``ForcedTxMissing`` and moves nothing, the same block with the
  transfer at its head settles; with the sequencer stopped the user settles the queue alone
  through the liveness fallback (open only after the delay, closed once drained); a forced
  transfer with a spent nonce is left out only with EXECUTE's "invalid transaction" verdict.
- ``test_the_rules_on_one_chain``: an entry included before it is due leaves the queue; a
  non-sequencer is refused before the fallback opens; a VALID due entry cannot be dropped
  with an invalidity witness (``ForcedTxNotProvenInvalid``); a witness for no entry is
  refused (``UnusedInvalidityProof``).
- ``test_a_paid_settler_cannot_settle_again_from_inside``: a contract settler paid during a
  settlement cannot re-enter it (``ReentrancyGuardReentrantCall``).
- the fallback opens exactly ``forceDelay`` L1 blocks after the due entry began to wait (not
  one block earlier); at most ``MAX_FORCED_PER_BLOCK`` (16) due entries must open one block,
  the 17th opens the next.
- ``forceInclude`` refuses what could never be judged (not EIP-1559, another chain, too
  much gas, too large, fee too low); a policy and sequencer that do not fit are refused at
  deployment; ``native-rollup force-include`` queues a transaction from the command line.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_abi import decode, encode
from eth_account import Account

from sequencer.artifacts import load_artifact
from sequencer.client import ETHER, GWEI, RpcClient, RpcError, Signer, TxFailed, b2h, h2b, h2i
from sequencer.forced import (
    entry_from_receipt,
    force_include,
    invalidity_witness,
    pending_entries,
    tx_hashes_in,
)
from sequencer.localnet import L2_DEV_BALANCE_ETH, local_nodes
from sequencer.messages import FORCE_INCLUDE, FORCED_TX_INCLUDED, calldata, decode_revert, topic
from sequencer.rollup import deploy_rollup
from sequencer.scenario_forced import L2_ACCOUNTS, ForcedScenario, sign_l2_transfer
from sequencer.scenario_results import DEV_KEYS
from sequencer.sequencer import Sequencer
from tests.procs import run_native_rollup, under_test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE"),
]

FUNDING = L2_ACCOUNTS * L2_DEV_BALANCE_ETH * ETHER
DELAY = 5


@pytest.fixture
def nodes(tmp_path):
    with local_nodes(tmp_path, l2_accounts=L2_ACCOUNTS) as (l1, l2):
        yield l1, l2


def revert_of(l1: RpcClient, to: bytes, data: bytes, sender: bytes, value: int = 0):
    try:
        l1.eth_call(to, data, sender=sender, value=value)
    except RpcError as exc:
        return decode_revert(exc.revert_data)
    return None


def tick(l1: RpcClient, l2: RpcClient) -> None:
    """An L1 block stamped after the L2 head (the next L2 block is settled at once)."""
    times = [h2i(c.block("latest")["timestamp"]) for c in (l1, l2)]
    l1.call("evm_mine", {"timestamp": max(times) + 1})


def test_the_forced_scenario(nodes):
    l1, l2 = nodes
    lines: list[str] = []
    story = ForcedScenario(l1.url, l2.url, l2.control, FUNDING, say=lines.append).run()
    assert story.ok, "\n".join(lines)
    names = [name for name, _ in story.checks]
    for wanted in (
        "Alice's transfer was censored",
        "advance without the forced tx reverts with ForcedTxMissing",
        "the contract did not move",
        "the forced tx opens the settled block",
        "due, but settling is still the sequencer's",
        "maySettle(Alice) is true",
        "the queue drained and the fallback closed",
        "leaving it out without a proof reverts with ForcedTxMissing",
        "ForcedTxSkipped was emitted for it",
    ):
        assert wanted in names, wanted
    figures = story.figures
    assert figures["L2 blocks settled"] == 5
    assert figures["Bob's L2 balance (ETH)"] == "0.22"  # 0.1 + 0.1 forced + 2 x 0.01
    # an invalidity proof costs a second EXECUTE call (and its witness) in the same advance
    assert (
        figures["L1 gas of the advance with one invalidity proof"]
        > figures["L1 gas of the fallback advance"]
    )
    assert "== forced inclusion: 19/19 checks" in story.summary()


def test_the_rules_on_one_chain(nodes):
    l1, l2 = nodes
    seq_l1 = Signer.from_key(l1.rpc, DEV_KEYS[0])
    alice_l1 = Signer.from_key(l1.rpc, DEV_KEYS[1])
    bob = Account.from_key(DEV_KEYS[2]).address
    rollup, _, _ = deploy_rollup(seq_l1, l2.rpc, seq_l1.address, FUNDING, force_delay=DELAY)
    seq = Sequencer(rollup, l2.rpc, seq_l1, control=l2.control, snapshot_blocks=True)
    seq.check_chain()
    l1rpc, l2rpc = l1.rpc, l2.rpc

    # an entry the sequencer includes before it is due leaves the queue
    first = sign_l2_transfer(l2rpc, DEV_KEYS[1], h2b(bob), ETHER // 10, 0)
    entry = entry_from_receipt(rollup, force_include(alice_l1, rollup, first))
    tick(l1rpc, l2rpc)
    (settled,) = seq.step()
    assert l1rpc.block_number() < entry.due_block
    receipt = l1rpc.receipt(settled.l1_tx)
    included = [lg for lg in receipt["logs"] if lg["topics"][0] == topic(FORCED_TX_INCLUDED)]
    assert [h2i(lg["topics"][1]) for lg in included] == [entry.index]
    assert rollup.forced_head() == rollup.forced_count() == 1
    assert h2b(l2rpc.block(settled.number)["transactions"][0]) == entry.tx_hash

    # a valid due entry cannot be dropped by "proving" it invalid
    second = sign_l2_transfer(l2rpc, DEV_KEYS[1], h2b(bob), ETHER // 10, 1)
    entry2 = entry_from_receipt(rollup, force_include(alice_l1, rollup, second))
    l1rpc.call("anvil_mine", hex(entry2.due_block - l1rpc.block_number()))
    l2rpc.call("eth_sendRawTransaction", b2h(sign_l2_transfer(l2rpc, DEV_KEYS[0], h2b(bob), 1, 0)))
    seq.honour_forced = False
    tick(l1rpc, l2rpc)
    block = seq.produce_block()
    number = h2i(block["number"])
    inp = seq.advance_input(number)
    assert entry2.tx_hash not in tx_hashes_in(inp.transactions)
    forged = replace(
        inp,
        invalid=((second, invalidity_witness(l2rpc, number, inp.witness, entry2.sender).encode()),),
    )
    revert = seq.simulate(forged)
    assert revert is not None and revert.name == "ForcedTxNotProvenInvalid", revert
    assert revert.args[0] == entry2.index and revert.args[1] is False
    assert revert.args[2] != 6  # EXECUTE accepts the transaction; the block's fields are wrong
    assert seq.simulate(inp).name == "ForcedTxMissing"

    # only the sequencer settles while the fallback is closed
    alice = Sequencer(rollup, l2rpc, alice_l1, control=l2.control)
    assert not rollup.may_settle(alice_l1.address)
    assert alice.simulate(inp).name == "NotSequencer"

    # the block rebuilt with the entry settles; a proof for no entry is refused
    seq.rollback(number)
    seq.honour_forced = True
    tick(l1rpc, l2rpc)
    block = seq.produce_block()
    number = h2i(block["number"])
    inp = seq.advance_input(number)
    assert tx_hashes_in(inp.transactions) == [entry2.tx_hash]
    stray = replace(inp, invalid=((first, inp.witness.encode()),))
    revert = seq.simulate(stray)
    assert revert is not None and revert.name == "UnusedInvalidityProof", revert
    seq.settle(number)
    assert rollup.forced_head() == rollup.forced_count() == 2
    assert pending_entries(rollup) == []


def _typed(chain_id: int, gas: int = 21_000, key: str = DEV_KEYS[1], data: bytes = b"") -> bytes:
    signed = Account.sign_transaction(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": 0,
            "to": Account.from_key(DEV_KEYS[2]).address,
            "value": 1,
            "gas": gas,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "data": data,
        },
        key,
    )
    return bytes(signed.raw_transaction)


def test_force_include_refuses_what_could_never_be_judged(nodes):
    l1, l2 = nodes
    seq_l1 = Signer.from_key(l1.rpc, DEV_KEYS[0])
    rollup, _, _ = deploy_rollup(
        seq_l1, l2.rpc, seq_l1.address, FUNDING, force_delay=DELAY, force_fee=ETHER // 1000
    )
    chain_id = l2.rpc.chain_id()
    fee = ETHER // 1000
    max_gas = rollup.view("maxForcedTxGas()", ["uint256"])
    legacy = bytes(
        Account.sign_transaction(
            {"chainId": chain_id, "nonce": 0, "to": seq_l1.address, "value": 1, "gas": 21_000,
             "gasPrice": GWEI},
            DEV_KEYS[1],
        ).raw_transaction
    )  # fmt: skip
    cases = {
        "ForcedTxNotEip1559": (legacy, fee),
        "ForcedTxWrongChain": (_typed(chain_id + 1), fee),
        "ForcedTxGasTooHigh": (_typed(chain_id, gas=max_gas + 1), fee),
        "ForcedTxTooLarge": (_typed(chain_id, gas=max_gas, data=b"\x01" * 4096), fee),
        "ForceFeeTooLow": (_typed(chain_id), fee - 1),
    }
    for name, (tx, value) in cases.items():
        revert = revert_of(
            l1.rpc, rollup.address, calldata(FORCE_INCLUDE, tx), seq_l1.address, value
        )
        assert revert is not None and revert.name == name, (name, revert)
    assert (
        revert_of(
            l1.rpc, rollup.address, calldata(FORCE_INCLUDE, b"\x02\xc0"), seq_l1.address, fee
        ).name
        == "ForcedTxNotEip1559"
    )
    # a well-formed one is queued, with the gas at the limit
    entry = entry_from_receipt(rollup, force_include(seq_l1, rollup, _typed(chain_id, max_gas)))
    assert entry.index == 0 and entry.due_block == h2i(l1.rpc.block("latest")["number"]) + DELAY
    assert entry.sender == Signer.from_key(l1.rpc, DEV_KEYS[1]).address  # from the signature


def test_policy_and_sequencer_must_fit(nodes):
    l1, l2 = nodes
    deployer = Signer.from_key(l1.rpc, DEV_KEYS[0])
    with pytest.raises(TxFailed):  # SEQUENCER without a sequencer
        deploy_rollup(deployer, l2.rpc, b"\x00" * 20, FUNDING)
    rollup, info, _ = deploy_rollup(deployer, l2.rpc, deployer.address, FUNDING, policy="based")
    assert rollup.policy() == "based" and info.sequencer == "0x" + "00" * 20
    assert rollup.may_settle(b"\x42" * 20)
    with pytest.raises(ValueError):
        deploy_rollup(deployer, l2.rpc, deployer.address, FUNDING, policy="committee")
    with pytest.raises(TxFailed):  # ZeroForceDelay: with 0 one forceInclude opens settlement
        deploy_rollup(deployer, l2.rpc, deployer.address, FUNDING, force_delay=0)


def test_force_include_from_the_command_line(nodes, tmp_path):
    l1, l2 = nodes
    rollup_file = tmp_path / "rollup.json"
    out = run_native_rollup(
        "deploy", "--l1", l1.url, "--l2", l2.url, "--rollup-file", str(rollup_file),
        "--initial-escrow", str(L2_ACCOUNTS * L2_DEV_BALANCE_ETH), "--force-delay", "7",
        "--force-fee", "0.001",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["force_delay"] == 7
    out = run_native_rollup(
        "force-include", "--l1", l1.url, "--l2", l2.url, "--rollup-file", str(rollup_file),
        "--key", DEV_KEYS[1], "--to", Account.from_key(DEV_KEYS[2]).address, "--value", "0.05",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["index"] == 0 and doc["dueBlock"] == doc["l1Block"] + 7
    assert doc["l2Sender"] == Account.from_key(DEV_KEYS[1]).address.lower()
    out = run_native_rollup(
        "force-include", "--l1", l1.url, "--l2", l2.url, "--rollup-file", str(rollup_file),
        "--key", DEV_KEYS[1], "--value", "0.05", "--fee", "0",
    )  # fmt: skip
    assert out.returncode == 1
    assert "ForceFeeTooLow" in out.stderr and "Traceback" not in out.stderr


def test_a_paid_settler_cannot_settle_again_from_inside(nodes):
    """A settler is paid during a settlement (burned fees, forced-entry fees). Paid in the
    middle of it, before the block was settled, a contract settler could re-enter and settle a
    block without the forced transaction the outer call had just been checked for: the
    settlement is non-reentrant and pays the forced fees last."""
    l1, l2 = nodes
    l1rpc, l2rpc = l1.rpc, l2.rpc
    eoa = Signer.from_key(l1rpc, DEV_KEYS[0])
    alice_l1 = Signer.from_key(l1rpc, DEV_KEYS[1])
    bob = h2b(Account.from_key(DEV_KEYS[2]).address)
    rollup, _, _ = deploy_rollup(
        eoa, l2rpc, eoa.address, FUNDING, policy="based", force_delay=DELAY, force_fee=ETHER // 1000
    )
    created = eoa.send(
        None,
        load_artifact("ReentrantSettler").bytecode + encode(["address"], [rollup.address]),
        gas=1_000_000,
    )
    settler = h2b(created["contractAddress"])
    seq = Sequencer(rollup, l2rpc, eoa, control=l2.control, snapshot_blocks=True)
    entry = entry_from_receipt(
        rollup,
        force_include(alice_l1, rollup, sign_l2_transfer(l2rpc, DEV_KEYS[1], bob, ETHER // 10, 0)),
    )
    # block 1 without the forced transfer (the re-entering call) and with it (the outer call)
    l2rpc.call("eth_sendRawTransaction", b2h(sign_l2_transfer(l2rpc, DEV_KEYS[0], bob, 1, 0)))
    seq.honour_forced = False
    tick(l1rpc, l2rpc)
    seq.produce_block()
    inner = seq.advance_input(1)
    seq.rollback(1)
    seq.honour_forced = True
    seq.produce_block()
    outer = seq.advance_input(1)
    assert tx_hashes_in(outer.transactions)[0] == entry.tx_hash
    assert entry.tx_hash not in tx_hashes_in(inner.transactions)

    receipt = eoa.send(
        settler, calldata("settle(bytes,bytes)", outer.calldata(), inner.calldata()), what="settle"
    )
    assert h2i(receipt["status"]) == 1
    assert rollup.last_block_number() == 1
    assert rollup.last_block_hash() == outer.block_hash  # the block with the forced transfer
    assert rollup.forced_head() == 1
    reentered = l1rpc.eth_call(settler, calldata("reentered()"))
    assert int.from_bytes(reentered, "big") == 0
    (error,) = decode(["bytes"], l1rpc.eth_call(settler, calldata("reentryError()")))
    assert decode_revert(error).name == "ReentrancyGuardReentrantCall"
    # the settler was paid the entry's fee and the burned fees
    assert l1rpc.balance(settler) >= ETHER // 1000


def test_the_fallback_opens_exactly_force_delay_blocks_after_the_due_entry_waited(nodes):
    l1, l2 = nodes
    l1rpc = l1.rpc
    seq_l1 = Signer.from_key(l1rpc, DEV_KEYS[0])
    alice_l1 = Signer.from_key(l1rpc, DEV_KEYS[1])
    rollup, _, _ = deploy_rollup(seq_l1, l2.rpc, seq_l1.address, FUNDING, force_delay=DELAY)
    bob = h2b(Account.from_key(DEV_KEYS[2]).address)
    tx = sign_l2_transfer(l2.rpc, DEV_KEYS[1], bob, 1, 0)
    entry = entry_from_receipt(rollup, force_include(alice_l1, rollup, tx))
    opens = entry.due_block + DELAY  # nothing settled since deployment, before the due block
    flips = []
    while l1rpc.block_number() <= opens + 1:
        number = l1rpc.block_number()
        flips.append((number, rollup.fallback_open(number), rollup.due_count(number)))
        l1rpc.call("evm_mine")
    closed = [n for n, is_open, _ in flips if not is_open]
    opened = [n for n, is_open, _ in flips if is_open]
    assert max(closed) + 1 == min(opened) == opens
    assert [n for n, _, due in flips if due] == list(range(entry.due_block, opens + 2))


def test_at_most_sixteen_forced_entries_open_one_block(nodes):
    l1, l2 = nodes
    l1rpc, l2rpc = l1.rpc, l2.rpc
    seq_l1 = Signer.from_key(l1rpc, DEV_KEYS[0])
    alice_l1 = Signer.from_key(l1rpc, DEV_KEYS[1])
    rollup, _, _ = deploy_rollup(seq_l1, l2rpc, seq_l1.address, FUNDING, force_delay=DELAY)
    bob = h2b(Account.from_key(DEV_KEYS[2]).address)
    entries = [
        entry_from_receipt(
            rollup,
            force_include(alice_l1, rollup, sign_l2_transfer(l2rpc, DEV_KEYS[1], bob, 1, n)),
        )
        for n in range(17)
    ]
    l1rpc.call("anvil_mine", hex(DELAY))
    assert rollup.due_count() == 16  # the cap, though all 17 are due
    seq = Sequencer(rollup, l2rpc, seq_l1, control=l2.control)
    tick(l1rpc, l2rpc)
    (first,) = seq.step()
    body = [h2b(t) for t in l2rpc.block(first.number)["transactions"]]
    assert body == [e.tx_hash for e in entries[:16]]
    assert rollup.forced_head() == 16 and rollup.due_count() == 1
    tick(l1rpc, l2rpc)
    (second,) = seq.step()
    assert [h2b(t) for t in l2rpc.block(second.number)["transactions"]] == [entries[16].tx_hash]
    assert rollup.forced_head() == rollup.forced_count() == 17
