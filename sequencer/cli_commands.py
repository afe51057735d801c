"""``native-rollup``'s commands: one ``cmd_*`` function per subcommand, in ``COMMANDS``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
from typing import Any

from sequencer.cli_flags import l2_control
from sequencer.cli_optimistic import COMMANDS as OPTIMISTIC_COMMANDS
from sequencer.client import ETHER, RpcClient, RpcError, Signer, TxFailed, b2h, h2b, h2i
from sequencer.relayer import (
    Relayer,
    claim_withdrawal,
    l2_domain,
    prove_withdrawal,
    withdraw,
    withdrawal_from_receipt,
)
from sequencer.rollup import Rollup, RollupInfo, deploy_rollup, l2_genesis_supply, open_rollup
from sequencer.sequencer import ChainMismatch, Sequencer

log = logging.getLogger("native_rollup")


def open_from_args(args: argparse.Namespace, l1: RpcClient) -> Rollup:
    if getattr(args, "rollup", None) is not None:
        return Rollup(l1, args.rollup)
    if not args.rollup_file.is_file():
        raise SystemExit(
            f"native-rollup: no rollup: pass --rollup or --rollup-file "
            f"({args.rollup_file} does not exist; run `native-rollup deploy`)"
        )
    return open_rollup(l1, RollupInfo.load(args.rollup_file))


def nodes(args: argparse.Namespace) -> tuple[RpcClient, RpcClient]:
    """The L1 and L2 clients of ``--l1`` and ``--l2`` (named in connection errors)."""
    return RpcClient(args.l1, name="L1"), RpcClient(args.l2, name="L2")


def check_l2(l1: RpcClient, l2: RpcClient, control: RpcClient | None, deploying: bool) -> None:
    """Before any L1 transaction: the L2 node answers, is not the L1, and (to deploy) has
    a block 0 whose state root its ``devnet_genesisAlloc`` matches; the controls endpoint,
    if given, answers (its JWT accepted) for the same chain."""
    l1_id, l2_id = l1.chain_id(), l2.chain_id()
    if l2_id == l1_id:
        raise ChainMismatch(
            f"the L2 node {l2.url} has chain id {l2_id}, as the L1 {l1.url}: "
            "--l2 must name the L2 node (native-devnet --genesis genesis/l2.json)"
        )
    if deploying:
        l2_genesis_supply(l2)  # block 0 and the alloc it was built from agree
    if control is not None:
        control_id = control.chain_id()
        if control_id != l2_id:
            raise ChainMismatch(
                f"the L2 controls endpoint {control.url} serves chain id {control_id}, "
                f"the L2 node {l2.url} chain id {l2_id}"
            )


def emit(doc: Any) -> None:
    print(json.dumps(doc, indent=2))


def cmd_deploy(args: argparse.Namespace) -> int:
    l1, l2 = nodes(args)
    deployer = Signer.from_key(l1, args.key)
    sequencer = args.sequencer or deployer.address
    _, info, receipt = deploy_rollup(
        deployer,
        l2,
        sequencer,
        args.initial_escrow,
        policy=args.policy,
        force_delay=args.force_delay,
        force_fee=args.force_fee,
    )
    info.save(args.rollup_file)
    emit({**info.__dict__, "gasUsed": h2i(receipt["gasUsed"]), "file": str(args.rollup_file)})
    return 0


def cmd_deposit(args: argparse.Namespace) -> int:
    l1 = RpcClient(args.l1, name="L1")
    rollup = open_from_args(args, l1)
    signer = Signer.from_key(l1, args.key)
    message, receipt = rollup.deposit(
        signer, args.to or signer.address, args.value, args.fee, args.data, args.min_gas_limit
    )
    emit(
        {
            "message": message.to_json(),
            "l1Tx": receipt["transactionHash"],
            "l1Block": h2i(receipt["blockNumber"]),
            "messageRoot": b2h(rollup.message_root()),
        }
    )
    return 0


def _ensure_rollup(
    args: argparse.Namespace,
    l1: RpcClient,
    l2: RpcClient,
    signer: Signer,
    control: RpcClient | None = None,
) -> Rollup:
    """``sequence --deploy``: reuse the rollup in the file if it settles this L2, else deploy."""
    if args.rollup is not None or args.rollup_file.is_file():
        rollup = open_from_args(args, l1)
        try:
            if l1.code(rollup.address):
                Sequencer(rollup, l2, signer, control=control).check_chain()
                return rollup
        except (ChainMismatch, RpcError) as exc:
            if not args.deploy:
                raise
            log.warning(
                "the rollup in %s does not settle this L2 (%s): deploying a new one",
                args.rollup_file,
                exc,
            )
        if not args.deploy:
            raise SystemExit(f"native-rollup: no contract at 0x{rollup.address.hex()}")
    elif not args.deploy:
        open_from_args(args, l1)  # exits with the message
    rollup, info, _ = deploy_rollup(signer, l2, signer.address, args.initial_escrow)
    info.save(args.rollup_file)
    log.info("deployed NativeRollup at %s (written to %s)", info.address, args.rollup_file)
    return rollup


def cmd_sequence(args: argparse.Namespace) -> int:
    l1, l2 = nodes(args)
    signer = Signer.from_key(l1, args.key)
    control = l2_control(args)
    check_l2(l1, l2, control, args.deploy)
    rollup = _ensure_rollup(args, l1, l2, signer, control)
    relayer = Relayer(
        rollup, l2, Signer.from_key(l2, args.relayer_key or args.key), min_fee=args.min_fee
    )
    sequencer = Sequencer(rollup, l2, signer, relayer, control=control, measure_execution=False)
    head = sequencer.check_chain()
    log.info(
        "sequencing rollup 0x%s from settled L2 block %d (L1 %s, L2 %s)",
        rollup.address.hex(),
        head,
        args.l1,
        args.l2,
    )
    if args.once:
        settled = sequencer.step()
        emit(
            [
                {
                    "l2Block": s.number,
                    "l2Hash": b2h(s.l2_hash),
                    "l1Tx": s.l1_tx,
                    "l1Gas": s.gas.total,
                    "executeFee": s.execute_fee,
                    "witnessBytes": s.witness_bytes,
                }
                for s in settled
            ]
        )
        return 0
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after this step", signum)
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sequencer.run(args.interval, args.max_blocks, should_stop=lambda: bool(stopping))
    return 0


def cmd_withdraw(args: argparse.Namespace) -> int:
    l2 = RpcClient(args.l2, name="L2")
    signer = Signer.from_key(l2, args.key)
    tx_hash, receipt = withdraw(
        signer,
        args.to or signer.address,
        args.value,
        args.fee,
        args.data,
        wait=not args.no_wait,
        min_gas_limit=args.min_gas_limit,
    )
    if receipt is None:
        emit({"l2Tx": tx_hash})
        return 0
    if h2i(receipt["status"]) != 1:
        raise TxFailed("sendMessage on L2", receipt)
    message = withdrawal_from_receipt(receipt, l2_domain(l2))
    emit({"message": message.to_json(), "l2Tx": tx_hash, "l2Block": h2i(receipt["blockNumber"])})
    return 0


def cmd_prove(args: argparse.Namespace) -> int:
    l1, l2 = nodes(args)
    proof = prove_withdrawal(open_from_args(args, l1), l2, args.index, args.l2_block)
    emit(proof.to_json())
    return 0


def cmd_claim(args: argparse.Namespace) -> int:
    l1, l2 = nodes(args)
    rollup = open_from_args(args, l1)
    signer = Signer.from_key(l1, args.key)
    proof = prove_withdrawal(rollup, l2, args.index, args.l2_block)
    receipt = claim_withdrawal(rollup, signer, proof)
    emit(
        {
            "message": proof.message.to_json(),
            "l2BlockNumber": proof.l2_block,
            "l1Tx": receipt["transactionHash"],
            "gasUsed": h2i(receipt["gasUsed"]),
        }
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    l1, l2 = nodes(args)
    rollup = open_from_args(args, l1)
    state = rollup.state()
    l2_head = l2.block_number()
    doc = {
        "rollup": b2h(rollup.address),
        "lastBlockNumber": state.last_block_number,
        "lastBlockHash": b2h(state.last_block_hash),
        "l2Head": l2_head,
        "escrowed": str(state.escrowed),
        "messageCount": rollup.message_count(),
        "anchoredMessageCount": state.anchored_message_count,
    }
    try:
        l2_hash = h2b(l2.block(state.last_block_number)["hash"])
    except RpcError:
        l2_hash = b""
    doc["l2HashAtSettled"] = b2h(l2_hash)
    doc["consistent"] = l2_hash == state.last_block_hash
    try:  # the sequencing policy and the forced-inclusion queue
        doc["policy"] = rollup.policy()
        doc["forcedQueued"] = rollup.forced_count() - rollup.forced_head()
        doc["forcedDue"] = rollup.due_count()
        doc["fallbackOpen"] = rollup.fallback_open()
    except RpcError:  # a contract without them
        pass
    emit(doc)
    return 0 if doc["consistent"] else 1


def cmd_force_include(args: argparse.Namespace) -> int:
    from sequencer.forced import entry_from_receipt, force_include

    l1, l2 = nodes(args)
    rollup = open_from_args(args, l1)
    payer = Signer.from_key(l1, args.key)
    raw = args.raw
    if raw is None:
        l2_signer = Signer.from_key(l2, args.l2_key or args.key)
        if args.nonce is not None:
            l2_signer._nonce = args.nonce  # noqa: SLF001 - an explicit nonce for this one tx
        raw, _ = l2_signer.sign(args.to or l2_signer.address, args.data, args.value, gas=args.gas)
    receipt = force_include(payer, rollup, raw, args.fee)
    entry = entry_from_receipt(rollup, receipt)
    emit(
        {
            "index": entry.index,
            "l2TxHash": b2h(entry.tx_hash),
            "l2Sender": b2h(entry.sender),
            "dueBlock": entry.due_block,
            "l1Tx": receipt["transactionHash"],
            "l1Block": h2i(receipt["blockNumber"]),
            "l1Gas": h2i(receipt["gasUsed"]),
        }
    )
    return 0


# `demo --scenario NAME`: module with ``run_local(log_dir, say) -> exit code``
SCENARIOS = {
    "based": "sequencer.scenario_based",
    "forced": "sequencer.scenario_forced",
    "optimistic": "sequencer.scenario_optimistic",
    "upgrade": "sequencer.scenario_upgrade",
}


def cmd_demo(args: argparse.Namespace) -> int:
    if args.scenario != "default":
        import importlib

        if args.scenario not in SCENARIOS:
            raise SystemExit(
                f"native-rollup demo: unknown scenario {args.scenario!r} "
                f"(default, {', '.join(SCENARIOS)})"
            )
        try:
            module = importlib.import_module(SCENARIOS[args.scenario])
        except ModuleNotFoundError:
            raise SystemExit(
                f"native-rollup demo: the {args.scenario} scenario is not in this checkout"
            ) from None
        if not args.verbose:
            logging.getLogger("native_rollup").setLevel(logging.WARNING)
        if hasattr(module, "run_cli"):  # it reads the demo's flags itself (e.g. --l1/--l2)
            return module.run_cli(args)
        if args.l1 is not None or args.l2 is not None or args.external_sequencer:
            raise SystemExit(
                f"native-rollup demo: --scenario {args.scenario} starts its own fresh nodes "
                "(no --l1/--l2/--external-sequencer)"
            )

        def say(text: str) -> None:
            print(text, flush=True)

        return module.run_local(args.log_dir, say=say)
    from sequencer.localnet import L2_FUNDING, local_nodes
    from sequencer.scenario import Scenario, load_rollup_file, summary

    if not args.verbose:  # the scenario narrates; keep the sequencer's log for -v
        logging.getLogger("native_rollup").setLevel(logging.WARNING)
    info = load_rollup_file(args.rollup_file)
    if args.external_sequencer and info is None:
        raise SystemExit("native-rollup demo: --external-sequencer needs --rollup-file")

    def run(l1_url: str, l2_url: str, funding: int, control: RpcClient | None) -> int:
        scenario = Scenario(
            l1_url, l2_url, funding, info, args.external_sequencer, l2_control=control
        )
        report = scenario.run()
        print(summary(report), flush=True)
        if getattr(args, "execute_verifiers", None):
            print(verifier_summary(RpcClient(l1_url)), flush=True)
        if args.json is not None:
            args.json.write_text(json.dumps(report_json(report), indent=2) + "\n")
        return 0 if report.ok else 1

    if args.l1 is None or args.l2 is None:
        if args.l1 is not None or args.l2 is not None:
            raise SystemExit("native-rollup demo: give both --l1 and --l2, or neither")
        print("starting a fresh L1 and L2 node on free loopback ports...", flush=True)
        l1_args = []
        if getattr(args, "execute_verifiers", None):
            l1_args = ["--execute-verifiers", args.execute_verifiers]
        with local_nodes(args.log_dir, l1_args=l1_args) as (l1, l2):
            print(
                f"L1 {l1.url} (pid {l1.proc.pid}), L2 {l2.url} (pid {l2.proc.pid}, "
                f"--no-mining, controls on {l2.auth_url} with a JWT, dev funding "
                f"{L2_FUNDING // ETHER} ETH)",
                flush=True,
            )
            funding = args.l2_funding if args.l2_funding is not None else L2_FUNDING
            return run(l1.url, l2.url, funding, l2.control)
    funding = args.l2_funding
    if funding is None:
        funding = info.initial_escrow if info is not None else L2_FUNDING
    return run(args.l1, args.l2, funding, l2_control(args))


def verifier_summary(l1: RpcClient) -> str:
    """Each EXECUTE verifier's time over the run (NR-EXECUTE v1.2), from the L1."""
    answer = l1.call("execute_disagreements")
    times = ", ".join(
        f"{name} {t['seconds']:.3f} s over {t['calls']} calls "
        f"({1000 * t['seconds'] / max(t['calls'], 1):.1f} ms each)"
        for name, t in answer["timings"].items()
    )
    return (
        f"EXECUTE verifiers {','.join(answer['verifiers'])} ({answer['mode']}): "
        f"{times or 'no calls'}; disagreements: {answer['count']}"
    )


def report_json(report: Any) -> dict:
    return {
        "ok": report.ok,
        "seconds": report.seconds,
        "settlements": [
            {
                "l2Block": s.number,
                "txs": s.tx_count,
                "l2GasUsed": s.l2_gas_used,
                "witnessBytes": s.witness_bytes,
                "calldataBytes": s.gas.calldata_bytes,
                "l1Gas": s.gas.total,
                "calldataGas": s.gas.calldata_standard,
                "calldataFloor": s.gas.calldata_floor,
                "floorBinds": s.gas.floor_binds,
                "executeGas": s.gas.execute,
                "logicGas": s.gas.logic,
                "executeFee": s.execute_fee,
                "burnedFees": s.burned_fees,
                "seconds": s.seconds,
            }
            for s in report.settlements
        ],
        "forgeries": [
            {"name": f.name, "expected": f.expected, "got": str(f.got), "ok": f.ok}
            for f in report.forgeries
        ],
        "failedClaims": [
            {"layer": c.layer, "name": c.name, "got": str(c.got), "ok": c.ok}
            for c in report.failed_claims
        ],
        "escrow": report.escrow.__dict__ if report.escrow else None,
    }


COMMANDS = {
    "deploy": cmd_deploy,
    "deposit": cmd_deposit,
    "sequence": cmd_sequence,
    "withdraw": cmd_withdraw,
    "prove-withdrawal": cmd_prove,
    "claim-withdrawal": cmd_claim,
    "status": cmd_status,
    "demo": cmd_demo,
    "force-include": cmd_force_include,
    **OPTIMISTIC_COMMANDS,  # propose, watch (sequencer/cli_optimistic.py)
}
