"""Based sequencing on real node processes: one L1, two L2 nodes of the same genesis, two
sequencers settling a ``BASED`` rollup (``SequencingPolicy``, ``sequencer.derive``).

- ``test_make_demo_based``: ``scripts/demo.py --scenario based`` (what ``make demo
  SCENARIO=based`` runs) starts its own nodes, races two ``advanceTo(1)`` into one L1 block
  (exactly one settles, the other reverts with ``BlockAlreadySettled`` before EXECUTE), the
  loser's L2 node rolls back and replays the L1's block, a late duplicate fails the same way,
  both nodes end on the L1's chain; it prints its checks and figures and stops its nodes.
- ``test_a_sequencer_that_loses_follows_the_l1_by_itself``: B builds block 1 while A settles
  its own; B's advance is refused with ``BlockAlreadySettled``; B's next ``step`` returns its
  node to the genesis (B keeps no snapshots: ``anvil_reset``), replays A's block from the L1
  calldata, and settles its user's transaction
  (back in its pool) in block 2; A's next ``step`` replays block 2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from sequencer.client import ETHER, GWEI, Signer, h2b
from sequencer.localnet import L2_DEV_BALANCE_ETH, local_nodes
from sequencer.rollup import deploy_rollup
from sequencer.scenario_based import L2_ACCOUNTS, SEQUENCER_B_KEY, TRANSFER
from sequencer.scenario_forced import sign_l2_transfer
from sequencer.scenario_results import DEV_KEYS
from sequencer.sequencer import Sequencer
from sequencer.settlement import SettlementError
from tests.procs import ROOT, under_test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE"),
]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_demo_based(tmp_path):
    out = subprocess.run(
        [sys.executable, "scripts/demo.py", "--scenario", "based", "--log-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "Traceback" not in text + out.stderr
    assert "== based sequencing: 15/15 checks" in text
    for line in (
        "[ok] exactly one settled",
        "[ok] both landed in the same L1 block",
        "duplicate fails with BlockAlreadySettled (BlockAlreadySettled(1, 1))",
        "[ok] with BlockAlreadySettled(1, 2)",
        "[ok] both L2 nodes agree block by block",
        "[ok] their head is the L1's",
    ):
        assert line in text, line
    winning = int(re.search(r"L1 gas of the winning advanceTo: ([\d,]+)", text)[1].replace(",", ""))
    losing = int(re.search(r"losing advanceTo .*: ([\d,]+)", text)[1].replace(",", ""))
    assert losing < winning  # the duplicate is refused before EXECUTE runs
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", text)]
    assert len(pids) == 3
    assert not any(alive(pid) for pid in pids)  # it stopped the nodes it started


def test_a_sequencer_that_loses_follows_the_l1_by_itself(tmp_path):
    with local_nodes(tmp_path, l2_count=2, l2_accounts=L2_ACCOUNTS) as (l1, l2a, l2b):
        a_l1 = Signer.from_key(l1.rpc, DEV_KEYS[0])
        b_l1 = Signer.from_key(l1.rpc, SEQUENCER_B_KEY, tip=2 * GWEI)
        funding = L2_ACCOUNTS * L2_DEV_BALANCE_ETH * ETHER
        rollup, _, _ = deploy_rollup(a_l1, l2a.rpc, a_l1.address, funding, policy="based")
        a = Sequencer(rollup, l2a.rpc, a_l1, control=l2a.control, name="A")
        # B keeps no snapshots: it returns to the genesis (anvil_reset) and replays the L1
        b = Sequencer(rollup, l2b.rpc, b_l1, control=l2b.control, name="B", snapshot_blocks=False)
        bob = h2b(Account.from_key(DEV_KEYS[2]).address)

        def tick() -> None:
            times = [int(c.block("latest")["timestamp"], 16) for c in (l1.rpc, l2a.rpc, l2b.rpc)]
            l1.rpc.call("evm_mine", {"timestamp": max(times) + 1})

        x = sign_l2_transfer(l2a.rpc, DEV_KEYS[0], bob, TRANSFER, 0)
        y = sign_l2_transfer(l2b.rpc, DEV_KEYS[1], bob, 2 * TRANSFER, 0)
        l2a.rpc.call("eth_sendRawTransaction", "0x" + x.hex())
        l2b.rpc.call("eth_sendRawTransaction", "0x" + y.hex())
        tick()
        b_block = b.produce_block()  # B builds its block 1 ...
        (a_settled,) = a.step()  # ... but A settles its own first
        assert a_settled.number == 1
        with pytest.raises(SettlementError) as lost:
            b.settle(1)
        assert lost.value.revert.name == "BlockAlreadySettled"
        assert rollup.last_block_hash() != h2b(b_block["hash"])
        tick()
        (b_settled,) = b.step()  # rolls back, replays A's block 1, settles Y's transfer in 2
        assert b_settled.number == 2
        assert h2b(l2b.rpc.block(1)["hash"]) == h2b(l2a.rpc.block(1)["hash"])
        (y_hash,) = l2b.rpc.block(2)["transactions"]
        assert h2b(y_hash) == keccak(y)
        tick()
        assert a.step() == []  # A has nothing of its own: it replays block 2
        for n in range(3):
            assert l2a.rpc.block(n)["hash"] == l2b.rpc.block(n)["hash"]
        assert h2b(l2a.rpc.block("latest")["hash"]) == rollup.last_block_hash()
        assert l2a.rpc.balance(bob) == l2b.rpc.balance(bob) == 3 * TRANSFER
