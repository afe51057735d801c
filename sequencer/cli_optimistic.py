"""``native-rollup propose`` and ``native-rollup watch``: the optimistic mode's sequencer and
watcher (``OptimisticRollup``, docs/ROLLUP.md "Optimistic mode").

This module is imported while the parser is built, so it imports nothing heavy at the top:
each command imports its machinery when it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

DEFAULT_CHALLENGE_WINDOW = 10  # L1 blocks
DEFAULT_PROPOSER_BOND = "1"  # ETH
DEFAULT_CHALLENGER_BOND = "0.5"  # ETH

log = logging.getLogger("native_rollup")


def add_parsers(sub: Any) -> None:
    """Register ``propose`` and ``watch`` on ``native-rollup``'s subparsers."""
    from sequencer.cli_flags import _key, _l2_auth, _rollup, _urls, ether, seconds, uint64

    p = sub.add_parser(
        "propose",
        help="optimistic sequencer: build L2 blocks and propose them with a bond (no EXECUTE)",
        description="Loop: anchor the latest L1 message root, claim pending L1 messages on "
        "L2, mine the L2 block, and propose every L2 block the OptimisticRollup has not got "
        "yet (head fields, transactions and witness as calldata, with the proposer bond). "
        "With --deploy, deploy the OptimisticRollup first if --rollup-file is missing.",
    )
    _urls(p)
    _l2_auth(p)
    _rollup(p)
    _key(p, "the sequencer (proposer) on L1")
    p.add_argument("--interval", type=seconds, default=1.0, metavar="SECONDS")
    p.add_argument("--max-blocks", type=uint64, metavar="N", help="stop after N proposals")
    p.add_argument("--once", action="store_true", help="one step, then exit")
    p.add_argument("--deploy", action="store_true", help="deploy OptimisticRollup if needed")
    p.add_argument("--initial-escrow", type=ether, default=0, metavar="ETH")
    p.add_argument(
        "--challenge-window",
        type=uint64,
        default=DEFAULT_CHALLENGE_WINDOW,
        metavar="BLOCKS",
        help=f"with --deploy: L1 blocks a proposal stays challengeable "
        f"(default {DEFAULT_CHALLENGE_WINDOW})",
    )
    p.add_argument(
        "--proposer-bond",
        type=ether,
        default=ether(DEFAULT_PROPOSER_BOND),
        metavar="ETH",
        help=f"with --deploy: bond per proposal (default {DEFAULT_PROPOSER_BOND})",
    )
    p.add_argument(
        "--challenger-bond",
        type=ether,
        default=ether(DEFAULT_CHALLENGER_BOND),
        metavar="ETH",
        help=f"with --deploy: bond per challenge (default {DEFAULT_CHALLENGER_BOND})",
    )

    w = sub.add_parser(
        "watch",
        help="optimistic watcher: re-execute every proposal, challenge an invalid one",
        description="Poll the OptimisticRollup: read every open proposal's data from its "
        "propose calldata, re-execute it through the EXECUTE precompile (eth_call on the L1, "
        "the code path challenge uses), and challenge any invalid one with the challenger "
        "bond. Prints one JSON line per challenge.",
    )
    _urls(w)
    _rollup(w)
    _key(w, "the challenger on L1 (an account without code: it pays the execute fee)")
    w.add_argument("--interval", type=seconds, default=1.0, metavar="SECONDS")
    w.add_argument("--once", action="store_true", help="one pass, then exit")


def _open(args: argparse.Namespace, l1: Any) -> Any:
    from sequencer.client import h2b
    from sequencer.optimistic import OptimisticRollup
    from sequencer.rollup import RollupInfo

    if args.rollup is not None:
        return OptimisticRollup(l1, args.rollup)
    path: Path = args.rollup_file
    if not path.is_file():
        raise SystemExit(
            f"native-rollup: no rollup: pass --rollup or --rollup-file ({path} does not exist; "
            "run `native-rollup propose --deploy`)"
        )
    info = RollupInfo.load(path)
    return OptimisticRollup(l1, h2b(info.address), info.deploy_block)


def _stopper() -> list[int]:
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after this step", signum)
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping


def cmd_propose(args: argparse.Namespace) -> int:
    import time

    from sequencer.cli_commands import check_l2, nodes
    from sequencer.cli_flags import l2_control
    from sequencer.client import Signer, h2i
    from sequencer.optimistic import BlockBuilder, Proposer, deploy_optimistic
    from sequencer.relayer import Relayer

    l1, l2 = nodes(args)
    signer = Signer.from_key(l1, args.key)
    control = l2_control(args)
    deploying = args.deploy and args.rollup is None and not args.rollup_file.is_file()
    check_l2(l1, l2, control, deploying)
    if deploying:
        rollup, info, _ = deploy_optimistic(
            signer,
            l2,
            signer.address,
            args.initial_escrow,
            args.challenge_window,
            args.proposer_bond,
            args.challenger_bond,
        )
        info.save(args.rollup_file)
        log.info("deployed OptimisticRollup at %s (written to %s)", info.address, args.rollup_file)
    else:
        rollup = _open(args, l1)
    relayer = Relayer(rollup, l2, Signer.from_key(l2, args.key), min_fee=1)
    builder = BlockBuilder(rollup, l2, relayer, control, signer.address)
    proposer = Proposer(rollup, l2, signer)

    def step() -> list[tuple[int, dict]]:
        out = proposer.propose_pending()  # catch up first
        if builder.produce_block() is not None:
            out += proposer.propose_pending()
        return out

    if args.once:
        print(
            json.dumps(
                [
                    {"l2Block": n, "l1Tx": r["transactionHash"], "l1Gas": h2i(r["gasUsed"])}
                    for n, r in step()
                ]
            )
        )
        return 0
    stopping, proposed = _stopper(), 0
    while not stopping:
        began = time.monotonic()
        proposed += len(step())
        if args.max_blocks is not None and proposed >= args.max_blocks:
            return 0
        time.sleep(max(0.0, args.interval - (time.monotonic() - began)))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    import time

    from sequencer.client import RpcClient, RpcError, Signer
    from sequencer.watcher import Watcher

    l1 = RpcClient(args.l1, name="L1")
    watcher = Watcher(_open(args, l1), Signer.from_key(l1, args.key))

    def report(challenges: list) -> None:
        for c in challenges:
            print(
                json.dumps(
                    {
                        "challenged": c.number,
                        "reason": c.reason,
                        "l1Tx": c.l1_tx,
                        "l1Gas": c.gas_used,
                        "discardedUpTo": c.discarded_up_to,
                    }
                ),
                flush=True,
            )

    if args.once:
        try:
            report(watcher.poll())
        except ValueError as exc:  # a proposal whose data the watcher cannot read
            print(f"native-rollup watch: {exc}", file=sys.stderr)
            return 1
        unjudged = [v for v in watcher.verdicts if v.valid is None]
        for v in unjudged:
            print(f"native-rollup watch: proposal {v.number} {v.detail}", file=sys.stderr)
        return 1 if unjudged else 0
    stopping = _stopper()
    while not stopping:
        began = time.monotonic()
        try:
            report(watcher.poll())
        except (RpcError, OSError, ValueError) as exc:  # a node restarting: next poll retries
            log.warning("poll failed, retrying: %s", exc)
            watcher.signer.resync()
        time.sleep(max(0.0, args.interval - (time.monotonic() - began)))
    return 0


COMMANDS = {"propose": cmd_propose, "watch": cmd_watch}
