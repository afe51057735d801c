"""The ``forced`` scenario: a sequencer censors a user, who forces her L2 transfer through
the L1; then the sequencer stops and she settles the queue herself.

Cast (public dev keys): account 0 is the sequencer (L1) and has L2 funds, account 1 is Alice
(L1 and L2), account 2 is Bob (L2 recipient). The L2 genesis funds accounts 0 and 1.

1. deploy ``NativeRollup`` (policy ``SEQUENCER``, ``FORCE_DELAY`` L1 blocks, a fee);
2. Alice sends Bob an L2 transfer; the sequencer drops it and settles a block without it;
3. Alice forces the same signed transfer on L1 (``forceInclude``);
4. once it is due, the censoring sequencer's next ``advance`` reverts with
   ``ForcedTxMissing``; the same block with the transfer at its head settles;
5. the sequencer stops; Alice forces another transfer, waits for it to be due and for the
   fallback delay, and settles the block herself (``maySettle`` opens to her and closes
   again once the queue drains);
6. Alice forces a transfer whose nonce is already spent (invalid on L2): once due, the block
   that leaves it out without a proof is refused, and the one that shows EXECUTE rejecting it
   ("invalid transaction", reason 6) settles and drops it from the queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from eth_account import Account

from sequencer.client import ETHER, GWEI, RpcClient, Signer, b2h, checksum, h2b, h2i
from sequencer.forced import entry_from_receipt, force_include, tx_hashes_in
from sequencer.messages import FORCED_TX_SKIPPED, topic
from sequencer.rollup import deploy_rollup
from sequencer.scenario_results import DEV_KEYS, eth
from sequencer.sequencer import Sequencer
from sequencer.settlement import SettlementError
from sequencer.story import Story, tell

FORCE_DELAY = 10
FORCE_FEE = ETHER // 1000
TRANSFER = ETHER // 10
L2_ACCOUNTS = 2  # the L2 genesis funds dev accounts 0 (sequencer) and 1 (Alice)


def sign_l2_transfer(l2: RpcClient, key: str, to: bytes, value: int, nonce: int) -> bytes:
    """A signed EIP-1559 L2 transfer (raw bytes) with an explicit nonce."""
    base_fee = h2i(l2.block("latest").get("baseFeePerGas") or "0x0")
    signed = Account.sign_transaction(
        {
            "type": 2,
            "chainId": l2.chain_id(),
            "nonce": nonce,
            "to": checksum(to),
            "value": value,
            "gas": 21_000,
            "maxFeePerGas": 2 * base_fee + GWEI,
            "maxPriorityFeePerGas": GWEI,
        },
        key,
    )
    return bytes(signed.raw_transaction)


class ForcedScenario:
    def __init__(
        self,
        l1_url: str,
        l2_url: str,
        l2_control: RpcClient,
        l2_funding: int,
        say: Callable[[str], None] = print,
    ) -> None:
        self.l1 = RpcClient(l1_url)
        self.l2 = RpcClient(l2_url)
        self.control = l2_control
        self.l2_funding = l2_funding
        self.story = Story("forced inclusion", say)
        self.seq_l1 = Signer.from_key(self.l1, DEV_KEYS[0])
        self.seq_l2 = Signer.from_key(self.l2, DEV_KEYS[0])
        self.alice_l1 = Signer.from_key(self.l1, DEV_KEYS[1])
        self.alice = self.alice_l1.address
        self.bob = Signer.from_key(self.l2, DEV_KEYS[2]).address

    def tick(self) -> None:
        """Mine an L1 block stamped after the L2 head, so the next L2 block (stamped with
        the L1's time) can be settled at once rather than after waiting for the clock."""
        l1_time = h2i(self.l1.block("latest")["timestamp"])
        l2_time = h2i(self.l2.block("latest")["timestamp"])
        self.l1.call("evm_mine", {"timestamp": max(l1_time, l2_time) + 1})

    def mine_l1(self, blocks: int) -> None:
        self.l1.call("anvil_mine", hex(blocks))

    def until_due(self, due_block: int) -> None:
        """Mine L1 blocks so that the next L1 block is ``due_block``."""
        missing = due_block - 1 - self.l1.block_number()
        if missing > 0:
            self.mine_l1(missing)

    def run(self) -> Story:
        s = self.story
        started = time.monotonic()
        rollup, info, receipt = deploy_rollup(
            self.seq_l1,
            self.l2,
            self.seq_l1.address,
            self.l2_funding,
            policy="sequencer",
            force_delay=FORCE_DELAY,
            force_fee=FORCE_FEE,
        )
        self.rollup = rollup
        s.step(
            f"deployed NativeRollup at {info.address} (policy SEQUENCER, FORCE_DELAY "
            f"{FORCE_DELAY} L1 blocks, forced-tx fee {eth(FORCE_FEE)} ETH)"
        )
        s.check("policy is SEQUENCER", rollup.policy() == "sequencer")
        seq = Sequencer(
            rollup,
            self.l2,
            self.seq_l1,
            control=self.control,
            honour_forced=False,
            censor=frozenset({self.alice}),
            name="censoring sequencer",
            snapshot_blocks=True,  # to rebuild the block the L1 refuses
        )
        seq.check_chain()

        # 2. censorship
        transfer = sign_l2_transfer(self.l2, DEV_KEYS[1], self.bob, TRANSFER, 0)
        self.l2.call("eth_sendRawTransaction", b2h(transfer))
        self.l2.call(
            "eth_sendRawTransaction",
            b2h(sign_l2_transfer(self.l2, DEV_KEYS[0], self.bob, ETHER // 100, 0)),
        )
        self.tick()
        settled = seq.step()
        s.step(
            f"Alice sent Bob {eth(TRANSFER)} ETH on L2; the sequencer dropped it and settled "
            f"L2 block {settled[-1].number} without it"
        )
        s.check("Alice's transfer was censored", self.l2.nonce(self.alice, "latest") == 0)

        # 3. force it
        receipt = force_include(self.alice_l1, rollup, transfer)
        entry = entry_from_receipt(rollup, receipt)
        s.step(
            f"Alice forced it on L1 (forceInclude, {h2i(receipt['gasUsed']):,} L1 gas): queue "
            f"entry {entry.index}, due at L1 block {entry.due_block}"
        )
        s.figure("L1 gas of forceInclude", h2i(receipt["gasUsed"]))
        s.check("queued with the L2 tx hash", entry.tx_hash == h2b(b2h(_keccak(transfer))))

        # 4. due: the censoring sequencer is refused, then complies
        self.until_due(entry.due_block)
        self.l2.call(
            "eth_sendRawTransaction",
            b2h(sign_l2_transfer(self.l2, DEV_KEYS[0], self.bob, ETHER // 100, 1)),
        )
        before = rollup.state()
        self.tick()
        block = seq.produce_block()
        number = h2i(block["number"])
        try:
            seq.settle(number)
            refused = None
        except SettlementError as exc:
            refused = exc.revert
        s.step(
            f"L1 block {self.l1.block_number()}: the entry is due (dueCount {rollup.due_count()})"
        )
        s.check(
            "advance without the forced tx reverts with ForcedTxMissing",
            refused is not None and refused.name == "ForcedTxMissing",
            str(refused),
        )
        s.check("the contract did not move", rollup.state() == before)
        seq.rollback(number)
        seq.honour_forced = True
        seq.censor = frozenset()
        seq.name = "sequencer"
        self.tick()
        out = seq.step()
        forced_block = out[0]
        body = self.l2.block(forced_block.number)["transactions"]
        s.step(
            f"the sequencer rebuilt L2 block {forced_block.number} with the forced transfer at "
            f"its head; advance succeeded ({forced_block.gas.total:,} L1 gas)"
        )
        s.check("the forced tx opens the settled block", h2b(body[0]) == entry.tx_hash)
        s.check("the queue is empty", rollup.forced_head() == rollup.forced_count() == 1)
        s.check("Alice's transfer happened on L2", self.l2.nonce(self.alice, "latest") == 1)
        s.figure("L1 gas of the advance that included the forced tx", forced_block.gas.total)
        self.tick()
        seq.step()  # the sequencer's own pending tx

        # 5. the sequencer stops; Alice uses the fallback
        s.step("the sequencer stops")
        second = sign_l2_transfer(self.l2, DEV_KEYS[1], self.bob, TRANSFER, 1)
        entry2 = entry_from_receipt(rollup, force_include(self.alice_l1, rollup, second))
        self.until_due(entry2.due_block)
        s.check(
            "due, but settling is still the sequencer's",
            not rollup.may_settle(self.alice),
            f"L1 block {self.l1.block_number()}",
        )
        self.mine_l1(entry2.due_block + FORCE_DELAY - self.l1.block_number())
        s.step(
            f"Alice forced a second transfer (entry {entry2.index}); {FORCE_DELAY} L1 blocks after "
            f"it was due with nothing settled, the fallback opened"
        )
        s.check("maySettle(Alice) is true", rollup.may_settle(self.alice))
        alice_seq = Sequencer(rollup, self.l2, self.alice_l1, control=self.control, name="Alice")
        alice_seq.check_chain()
        self.tick()
        out = alice_seq.step()
        s.step(
            f"Alice built and settled L2 block {out[-1].number} herself "
            f"({out[-1].gas.total:,} L1 gas, execute fee {out[-1].execute_fee:,} wei)"
        )
        s.check(
            "her block opens with the forced tx",
            h2b(self.l2.block(out[-1].number)["transactions"][0]) == entry2.tx_hash,
        )
        s.check("L1 and L2 agree", rollup.last_block_hash() == h2b(self.l2.block("latest")["hash"]))
        s.check("the queue drained and the fallback closed", not rollup.may_settle(self.alice))
        s.figure("L1 gas of the fallback advance", out[-1].gas.total)

        # 6. an invalid forced tx
        receipt = force_include(self.alice_l1, rollup, transfer)  # nonce 0: spent
        entry3 = entry_from_receipt(rollup, receipt)
        s.step(
            f"Alice forces her first transfer again (entry {entry3.index}): its nonce is spent, "
            "so it is invalid on L2"
        )
        seq.name = "sequencer"
        self.until_due(entry3.due_block)
        self.l2.call(
            "eth_sendRawTransaction",
            b2h(
                sign_l2_transfer(
                    self.l2, DEV_KEYS[0], self.bob, ETHER // 100, self.l2.nonce(self.seq_l2.address)
                )
            ),
        )
        # without the proof: refused
        self.tick()
        block = seq.produce_block()
        number = h2i(block["number"])
        inp = seq.advance_input(number)
        s.check(
            "the sequencer's L2 node refused it and the block leaves it out",
            entry3.index in [e.index for e in seq.skipped.get(number, [])],
        )
        from dataclasses import replace

        bare = replace(inp, invalid=(), advance_to=False)
        revert = seq.simulate(bare)
        s.check(
            "leaving it out without a proof reverts with ForcedTxMissing",
            revert is not None and revert.name == "ForcedTxMissing",
            str(revert),
        )
        settlement = seq.settle(number)
        receipt = self.l1.receipt(settlement.l1_tx)
        skipped = [lg for lg in receipt["logs"] if lg["topics"][0] == topic(FORCED_TX_SKIPPED)]
        s.step(
            f"with EXECUTE's verdict on it (reason 6, invalid transaction) block {number} "
            f"settles and the entry leaves the queue ({settlement.gas.total:,} L1 gas)"
        )
        s.check(
            "ForcedTxSkipped was emitted for it",
            len(skipped) == 1 and h2i(skipped[0]["topics"][1]) == entry3.index,
        )
        s.check("not in the L2 block", entry3.tx_hash not in tx_hashes_in(inp.transactions))
        s.check("the queue is empty", rollup.forced_head() == rollup.forced_count())
        s.check("L1 and L2 agree", rollup.last_block_hash() == h2b(self.l2.block("latest")["hash"]))
        s.figure("L1 gas of the advance with one invalidity proof", settlement.gas.total)
        s.figure("L2 blocks settled", rollup.last_block_number())
        s.figure("Bob's L2 balance (ETH)", eth(self.l2.balance(self.bob)))
        s.figure("seconds", round(time.monotonic() - started, 1))
        return s


def _keccak(data: bytes) -> bytes:
    from eth_hash.auto import keccak

    return keccak(data)


def run_local(log_dir=None, say: Callable[[str], None] = print) -> int:
    """The scenario on a fresh L1 and L2 node, stopped afterwards; 0 if every check held."""
    from sequencer.localnet import L2_DEV_BALANCE_ETH, local_nodes

    say("starting a fresh L1 and L2 node on free loopback ports...")
    with local_nodes(log_dir, l2_accounts=L2_ACCOUNTS) as (l1, l2):
        say(f"L1 {l1.url} (pid {l1.proc.pid}), L2 {l2.url} (pid {l2.proc.pid}, --no-mining)")
        scenario = ForcedScenario(
            l1.url, l2.url, l2.control, L2_ACCOUNTS * L2_DEV_BALANCE_ETH * ETHER, say
        )
        status = tell(scenario)
    return status
