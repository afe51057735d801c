"""The ``upgrade`` scenario: the L1 forks from Prague to Osaka mid-run and the native rollup
forks with it, with no change to the rollup contract (NR-EXECUTE v1.1 "Fork rules").

Both nodes run one fork schedule (genesis ``config.osakaTime``, an hour after start); the
scenario moves the L1's time there. Cast: dev account 0 is the sequencer (L1) and the L2
user; the L2 genesis holds a contract returning ``clz`` of its argument.

1. deploy ``NativeRollup``; the L1 and the L2 run Prague (``eth_config``);
2. an L2 call into the CLZ contract fails with an invalid opcode that names Osaka; its block
   settles (EXECUTE re-executes it under Prague, by its timestamp);
3. the L1 reaches the fork: Osaka is active there (``anvil_nodeInfo``, ``eth_config``);
4. the same L2 call, in the next block (stamped with the L1's time), succeeds, and the block
   settles through the same contract, whose code did not change;
5. EXECUTE called directly with an L2 block stamped after the L1's current block answers
   ``ExecuteInvalid(5)``: an L2 never runs rules its L1 does not run yet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from eth_hash.auto import keccak

from precompiles.execute_wire import (
    EXECUTE_ADDRESS,
    ExecuteInput,
    Reason,
    encode_execute_input,
    encode_invalid,
)
from sequencer.advance import fetch_advance_input
from sequencer.client import ETHER, RpcClient, RpcError, Signer, b2h, h2b, h2i
from sequencer.rollup import deploy_rollup
from sequencer.scenario_results import DEV_KEYS
from sequencer.sequencer import Sequencer
from sequencer.story import Story, tell

FORK_AFTER = 3600  # seconds from the nodes' start to Osaka on both layers
CLZ_CONTRACT = bytes.fromhex("000000000000000000000000000000000000c1a0")
CLZ_CODE = bytes.fromhex("6000351e60005260206000f3")  # return clz(calldata word 0)
ARGUMENT = (1).to_bytes(32, "big")  # clz(1) = 255
CALL_GAS = 100_000
L2_ACCOUNTS = 1


def forking_genesis(shipped: Path, osaka_time: int, out: Path, alloc: dict | None = None) -> Path:
    """``shipped`` with Osaka at ``osaka_time`` (and extra accounts), written to ``out``."""
    doc = json.loads(shipped.read_text())
    doc["config"]["osakaTime"] = osaka_time
    doc["alloc"].update(alloc or {})
    out.write_text(json.dumps(doc, indent=2))
    return out


class UpgradeScenario:
    def __init__(
        self,
        l1_url: str,
        l2_url: str,
        l2_control: RpcClient,
        l2_funding: int,
        osaka_time: int,
        say: Callable[[str], None] = print,
    ) -> None:
        self.l1 = RpcClient(l1_url)
        self.l2 = RpcClient(l2_url)
        self.control = l2_control
        self.l2_funding = l2_funding
        self.osaka_time = osaka_time
        self.story = Story("the L1 forks, the rollup follows", say)
        self.seq_l1 = Signer.from_key(self.l1, DEV_KEYS[0])
        self.user = Signer.from_key(self.l2, DEV_KEYS[0])

    def tick(self, at_least: int = 0) -> None:
        """Mine an L1 block stamped after the L2 head (and at ``at_least``), so the next
        L2 block, stamped with the L1's time, can settle at once."""
        l1_time = h2i(self.l1.block("latest")["timestamp"])
        l2_time = h2i(self.l2.block("latest")["timestamp"])
        self.l1.call("evm_mine", {"timestamp": max(l1_time + 1, l2_time + 1, at_least)})

    def clz_call_in_a_block(self, seq: Sequencer):
        """The user's CLZ call, mined in the sequencer's next L2 block and settled."""
        tx_hash = self.user.submit(CLZ_CONTRACT, ARGUMENT, gas=CALL_GAS)
        self.tick()
        settled = seq.step()
        receipt = self.l2.receipt(tx_hash)
        return settled[-1], receipt

    def forks(self) -> tuple[str, str]:
        return (
            self.l1.call("anvil_nodeInfo")["hardFork"],
            self.l2.call("anvil_nodeInfo")["hardFork"],
        )

    def run(self) -> Story:
        s = self.story
        started = time.monotonic()
        rollup, info, _ = deploy_rollup(
            self.seq_l1, self.l2, self.seq_l1.address, self.l2_funding, policy="sequencer"
        )
        code_hash = keccak(self.l1.code(info.address))
        s.step(
            f"deployed NativeRollup at {info.address}; Osaka at {self.osaka_time} on both layers"
        )
        config = self.l1.call("eth_config")
        s.check("both layers run Prague", self.forks() == ("prague", "prague"), str(self.forks()))
        s.check(
            "the L1's eth_config announces Osaka next",
            (config.get("next") or {}).get("activationTime") == self.osaka_time,
        )
        seq = Sequencer(rollup, self.l2, self.seq_l1, control=self.control, name="sequencer")
        seq.check_chain()

        # 2. before the fork
        before, receipt = self.clz_call_in_a_block(seq)
        s.step(
            f"L2 block {before.number}: the CLZ call failed (status {receipt['status']}); "
            f"the block settled under Prague ({before.gas.total:,} L1 gas)"
        )
        s.check("the CLZ call failed before the fork", h2i(receipt["status"]) == 0)
        try:
            self.l2.eth_call(CLZ_CONTRACT, ARGUMENT, tag=before.number)
            message = ""
        except RpcError as exc:
            message = str(exc)
        s.check("eth_call there names Osaka and evm_version", "Osaka" in message, message)
        s.check(
            "settled on L1",
            rollup.last_block_hash() == h2b(self.l2.block(before.number)["hash"]),
        )

        # 3. the L1 forks
        self.tick(at_least=self.osaka_time)
        config = self.l1.call("eth_config")
        s.step(f"L1 block {self.l1.block_number()} reaches {self.osaka_time}: Osaka is active")
        s.check("the L1 runs Osaka", self.forks()[0] == "osaka")
        s.check(
            "P256VERIFY is an L1 precompile now", "P256VERIFY" in config["current"]["precompiles"]
        )

        # 4. after the fork: the same call, the same contract
        after, receipt = self.clz_call_in_a_block(seq)
        block = self.l2.block(after.number)
        s.step(
            f"L2 block {after.number} (stamped {h2i(block['timestamp'])}): the same CLZ call "
            f"succeeded; the block settled under Osaka ({after.gas.total:,} L1 gas)"
        )
        s.check("the CLZ call succeeded after the fork", h2i(receipt["status"]) == 1)
        answer = self.l2.eth_call(CLZ_CONTRACT, ARGUMENT, tag=after.number)
        s.check("clz(1) = 255", h2i(b2h(answer)) == 255)
        s.check("settled on L1", rollup.last_block_hash() == h2b(block["hash"]))
        s.check(
            "the rollup contract's code is unchanged",
            keccak(self.l1.code(info.address)) == code_hash,
        )
        s.check("the L2 runs Osaka", self.forks()[1] == "osaka")

        # 5. an L2 block from the L1's future
        snapshot = self.control.call("evm_snapshot")
        l1_time = h2i(self.l1.block("latest")["timestamp"])
        self.control.call("evm_mine", {"timestamp": l1_time + 600})
        ahead = self.l2.block_number()
        refused = self.direct_execute(ahead)
        self.control.call("evm_revert", snapshot)
        s.step(
            f"EXECUTE called directly with L2 block {ahead}, stamped 600 s after the L1's "
            "current block"
        )
        s.check(
            "EXECUTE answers ExecuteInvalid(5)",
            refused == encode_invalid(Reason.HEADER_RULE),
            refused.hex() if refused is not None else "no revert",
        )
        s.figure("L1 gas, settling the Prague block", before.gas.total)
        s.figure("L1 gas, settling the Osaka block", after.gas.total)
        s.figure("seconds", round(time.monotonic() - started, 1))
        return s

    def direct_execute(self, number: int) -> bytes | None:
        """``eth_call`` of EXECUTE with L2 block ``number``; the revert data, or None."""
        adv = fetch_advance_input(self.l2, number)
        block = self.l2.block(number)
        parent = self.l2.block(number - 1)
        data = encode_execute_input(
            ExecuteInput(
                pre_state_root=h2b(parent["stateRoot"]),
                post_state_root=adv.post_state_root,
                gas_used=adv.gas_used,
                receipts_root=adv.receipts_root,
                parent_hash=h2b(block["parentHash"]),
                chain_id=self.l2.chain_id(),
                number=number,
                gas_limit=h2i(block["gasLimit"]),
                timestamp=adv.timestamp,
                coinbase=adv.coinbase,
                prev_randao=adv.prev_randao,
                l1_anchor=adv.anchor,
                transactions=adv.transactions,
                witness=adv.witness.encode(),
            )
        )
        try:
            self.l1.eth_call(EXECUTE_ADDRESS, data, sender=self.seq_l1.address)
        except RpcError as exc:
            return exc.revert_data
        return None


def run_local(log_dir=None, say: Callable[[str], None] = print) -> int:
    """The scenario on a fresh L1 and L2 node of one fork schedule, stopped afterwards; 0 if
    every check held."""
    import tempfile

    from node.genesis import DEFAULT_L1_GENESIS, DEFAULT_L2_GENESIS
    from sequencer.localnet import L2_DEV_BALANCE_ETH, start_node

    owned = None
    if log_dir is None:
        owned = tempfile.TemporaryDirectory(prefix="native-rollup-upgrade-")
        log_dir = owned.name
    log_dir = Path(log_dir)
    osaka_time = int(time.time()) + FORK_AFTER
    l1_genesis = forking_genesis(Path(str(DEFAULT_L1_GENESIS)), osaka_time, log_dir / "l1.json")
    l2_genesis = forking_genesis(
        Path(str(DEFAULT_L2_GENESIS)),
        osaka_time,
        log_dir / "l2.json",
        {b2h(CLZ_CONTRACT): {"balance": "0x0", "code": b2h(CLZ_CODE)}},
    )
    say("starting a fresh L1 and L2 node on one fork schedule (Osaka in an hour)...")
    started = []
    try:
        l1 = start_node("l1", ["--silent", "--genesis", str(l1_genesis)], log_dir)
        started.append(l1)
        l2 = start_node(
            "l2",
            [
                "--genesis",
                str(l2_genesis),
                "--no-mining",
                "--silent",
                "--accounts",
                str(L2_ACCOUNTS),
                "--balance",
                str(L2_DEV_BALANCE_ETH),
            ],
            log_dir,
            auth=True,
        )
        started.append(l2)
        say(f"L1 {l1.url} (pid {l1.proc.pid}), L2 {l2.url} (pid {l2.proc.pid}, --no-mining)")
        scenario = UpgradeScenario(
            l1.url,
            l2.url,
            l2.control,
            L2_ACCOUNTS * L2_DEV_BALANCE_ETH * ETHER,
            osaka_time,
            say,
        )
        status = tell(scenario)
    finally:
        for node in reversed(started):
            node.stop()
        if owned is not None:
            owned.cleanup()
    return status
