"""The ``based`` scenario: two sequencers race for the same L2 numbers on a ``BASED`` rollup.

Cast (public dev keys): sequencers A (account 0) and B (account 3) settle on L1, each with
its own L2 node of the same genesis; users X (account 0) and Y (account 1) hold the L2
genesis funds; Bob (account 2) receives.

1. deploy ``NativeRollup`` with policy ``BASED`` (no sequencer address);
2. X's transfer reaches A's L2 node, Y's reaches B's: both build their own L2 block 1;
3. both send ``advanceTo(1, ...)`` into the same L1 block (the L1 orders them by tip: B
   pays more, so B's lands first): exactly one settles, the other reverts with
   ``BlockAlreadySettled`` before any EXECUTE call;
4. A rolls its L2 node back and replays the L1's block 1 from the winning calldata; X's
   transfer goes back to A's pool, and A wins block 2 with it; B replays block 2;
5. a late duplicate (A's stale block 1 sent again) fails cleanly the same way;
6. both L2 nodes hold exactly the L1's chain, block by block.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from sequencer.client import ETHER, GWEI, RpcClient, Signer, h2b, h2i
from sequencer.rollup import deploy_rollup
from sequencer.scenario_forced import sign_l2_transfer
from sequencer.scenario_results import DEV_KEYS
from sequencer.sequencer import Sequencer
from sequencer.settlement import settlement_of
from sequencer.story import Story, tell

SEQUENCER_B_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"  # dev 3
L2_ACCOUNTS = 2  # the L2 genesis funds dev accounts 0 (X) and 1 (Y)
TRANSFER = ETHER // 10


class BasedScenario:
    def __init__(
        self,
        l1_url: str,
        l2_nodes: list[tuple[str, RpcClient]],
        l2_funding: int,
        say: Callable[[str], None] = print,
    ) -> None:
        self.l1 = RpcClient(l1_url)
        (url_a, control_a), (url_b, control_b) = l2_nodes
        self.l2a, self.l2b = RpcClient(url_a), RpcClient(url_b)
        self.control_a, self.control_b = control_a, control_b
        self.l2_funding = l2_funding
        self.story = Story("based sequencing", say)
        self.a_l1 = Signer.from_key(self.l1, DEV_KEYS[0])
        self.b_l1 = Signer.from_key(self.l1, SEQUENCER_B_KEY, tip=2 * GWEI)
        self.bob = Signer.from_key(self.l2a, DEV_KEYS[2]).address

    def tick(self) -> None:
        """Mine an L1 block stamped after both L2 heads (see ``ForcedScenario.tick``)."""
        times = [h2i(c.block("latest")["timestamp"]) for c in (self.l1, self.l2a, self.l2b)]
        self.l1.call("evm_mine", {"timestamp": max(times) + 1})

    def run(self) -> Story:
        s = self.story
        started = time.monotonic()
        rollup, info, _ = deploy_rollup(
            self.a_l1, self.l2a, self.a_l1.address, self.l2_funding, policy="based"
        )
        s.step(f"deployed NativeRollup at {info.address} with policy BASED (anyone may advance)")
        s.check("policy is BASED", rollup.policy() == "based")
        s.check(
            "both L2 nodes serve the genesis the L1 settles from",
            self.l2a.block(0)["hash"] == self.l2b.block(0)["hash"] == info.l2_genesis_hash,
        )
        a = Sequencer(rollup, self.l2a, self.a_l1, control=self.control_a, name="A")
        b = Sequencer(rollup, self.l2b, self.b_l1, control=self.control_b, name="B")
        a.check_chain()
        b.check_chain()

        # 2. two different blocks 1
        x = sign_l2_transfer(self.l2a, DEV_KEYS[0], self.bob, TRANSFER, 0)
        y = sign_l2_transfer(self.l2b, DEV_KEYS[1], self.bob, 2 * TRANSFER, 0)
        self.l2a.call("eth_sendRawTransaction", "0x" + x.hex())
        self.l2b.call("eth_sendRawTransaction", "0x" + y.hex())
        self.tick()
        block_a = a.produce_block()
        block_b = b.produce_block()
        s.step(
            f"A built L2 block 1 {block_a['hash'][:18]}... with X's transfer, B built "
            f"{block_b['hash'][:18]}... with Y's"
        )
        s.check("two different blocks for number 1", block_a["hash"] != block_b["hash"])

        # 3. the race, in one L1 block
        inp_a, inp_b = a.advance_input(1), b.advance_input(1)
        gas_a, gas_b = a.estimate(inp_a), b.estimate(inp_b)
        self.l1.call("evm_setAutomine", False)
        try:
            tx_a = a.signer.submit(rollup.address, inp_a.calldata(), gas=gas_a + gas_a // 10)
            tx_b = b.signer.submit(rollup.address, inp_b.calldata(), gas=gas_b + gas_b // 10)
            self.l1.call("evm_mine")
        finally:
            self.l1.call("evm_setAutomine", True)
        rcpt_a, rcpt_b = self.l1.wait_receipt(tx_a), self.l1.wait_receipt(tx_b)
        winner, loser = (b, a) if h2i(rcpt_b["status"]) == 1 else (a, b)
        win_rcpt, lose_rcpt = (rcpt_b, rcpt_a) if winner is b else (rcpt_a, rcpt_b)
        lose_inp = inp_a if loser is a else inp_b
        s.step(
            f"both sent advanceTo(1) into L1 block {h2i(rcpt_a['blockNumber'])}; {winner.name}'s "
            f"(tip {winner.signer.tip // GWEI} gwei) came first"
        )
        s.check("both landed in the same L1 block", rcpt_a["blockNumber"] == rcpt_b["blockNumber"])
        s.check(
            "exactly one settled",
            sorted([h2i(rcpt_a["status"]), h2i(rcpt_b["status"])]) == [0, 1],
        )
        s.check(
            f"the L1 holds {winner.name}'s block 1",
            rollup.last_block_number() == 1
            and rollup.last_block_hash() == h2b(winner.l2.block(1)["hash"]),
        )
        revert = loser.simulate(lose_inp)
        s.check(
            f"{loser.name}'s duplicate fails with BlockAlreadySettled",
            revert is not None and revert.name == "BlockAlreadySettled",
            str(revert),
        )
        win = settlement_of(
            self.l1, rollup.address, win_rcpt, (inp_b if winner is b else inp_a).calldata()
        )
        s.figure("L1 gas of the winning advanceTo", win.gas.total)
        s.figure("L1 gas of the losing advanceTo (reverted, no EXECUTE)", h2i(lose_rcpt["gasUsed"]))

        # 4. the loser follows the L1
        t0 = time.monotonic()
        replayed = loser.resync()
        s.step(
            f"{loser.name} rolled its L2 node back and replayed {replayed} block from the L1 "
            f"calldata ({time.monotonic() - t0:.2f}s)"
        )
        s.check(
            f"{loser.name}'s L2 block 1 is the L1's",
            h2b(loser.l2.block(1)["hash"]) == rollup.last_block_hash(),
        )
        pooled = h2i(loser.l2.call("txpool_status")["pending"])
        s.check(f"{loser.name}'s user tx is back in its pool", pooled == 1, f"{pooled} pending")
        self.tick()
        out = loser.step()
        s.step(f"{loser.name} won L2 block {out[-1].number} with it ({out[-1].gas.total:,} L1 gas)")
        self.tick()
        winner.step()  # nothing of its own: it follows the L1
        s.check(
            f"{winner.name} replayed block 2 from the L1",
            h2b(winner.l2.block(2)["hash"]) == rollup.last_block_hash(),
        )

        # 5. a late duplicate
        late = replace(lose_inp)
        receipt = loser.submit_advance(late, gas=gas_a + gas_b)
        revert = loser.simulate(late)
        s.step("a late duplicate: the lost block 1 sent again")
        s.check("its L1 transaction reverted", h2i(receipt["status"]) == 0)
        s.check(
            "with BlockAlreadySettled(1, 2)",
            revert is not None and revert.name == "BlockAlreadySettled" and revert.args == (1, 2),
            str(revert),
        )

        # 6. both nodes on the L1's chain
        last = rollup.last_block_number()
        same = all(self.l2a.block(n)["hash"] == self.l2b.block(n)["hash"] for n in range(last + 1))
        s.step(f"the L1 settled {last} L2 blocks; both L2 nodes hold them")
        s.check("both L2 nodes agree block by block", same)
        s.check(
            "their head is the L1's",
            h2b(self.l2a.block("latest")["hash"])
            == h2b(self.l2b.block("latest")["hash"])
            == rollup.last_block_hash(),
        )
        s.check(
            "Bob received both transfers on both nodes",
            self.l2a.balance(self.bob) == self.l2b.balance(self.bob) == 3 * TRANSFER,
        )
        s.figure("L2 blocks settled", last)
        s.figure("seconds", round(time.monotonic() - started, 1))
        return s


def run_local(log_dir=None, say: Callable[[str], None] = print) -> int:
    """The scenario on a fresh L1 and two L2 nodes, stopped afterwards; 0 if every check held."""
    from sequencer.localnet import L2_DEV_BALANCE_ETH, local_nodes

    say("starting a fresh L1 and two L2 nodes (same genesis) on free loopback ports...")
    with local_nodes(log_dir, l2_count=2, l2_accounts=L2_ACCOUNTS) as (l1, l2a, l2b):
        say(
            f"L1 {l1.url} (pid {l1.proc.pid}), A's L2 {l2a.url} (pid {l2a.proc.pid}), "
            f"B's L2 {l2b.url} (pid {l2b.proc.pid})"
        )
        scenario = BasedScenario(
            l1.url,
            [(l2a.url, l2a.control), (l2b.url, l2b.control)],
            L2_ACCOUNTS * L2_DEV_BALANCE_ETH * ETHER,
            say,
        )
        status = tell(scenario)
    return status
