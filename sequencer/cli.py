"""``native-rollup``: deploy a native rollup, move ETH and messages between its layers, run
its sequencer/relayer, and run the end-to-end demo — against any L1 and L2 JSON-RPC URLs.

Every command takes ``--l1`` and ``--l2`` (or ``$NATIVE_ROLLUP_L1``/``$NATIVE_ROLLUP_L2``) and
finds the rollup through ``--rollup ADDRESS`` or ``--rollup-file`` (written by ``deploy``).
Keys default to ``$NATIVE_ROLLUP_KEY`` or the public dev key 0 (devnets only). Amounts are
in ETH (decimals allowed).
"""

from __future__ import annotations

import logging
import os
import sys

from sequencer.cli_flags import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # before any heavy import: --help answers at once
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    from sequencer.cli_commands import COMMANDS
    from sequencer.client import RpcError, RpcUnreachable, TxFailed
    from sequencer.messages import decode_revert
    from sequencer.relayer import RelayError
    from sequencer.rollup import EscrowMismatch
    from sequencer.sequencer import ChainMismatch
    from sequencer.settlement import SettlementError

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return COMMANDS[args.command](args)
    except RpcUnreachable as exc:  # a node that is down or a wrong URL: one line, exit 2
        print(f"native-rollup {args.command}: {exc}", file=sys.stderr)
        return 2
    except (
        RpcError,
        TxFailed,
        SettlementError,
        ChainMismatch,
        RelayError,
        EscrowMismatch,
        OSError,
    ) as exc:
        detail = ""
        revert = getattr(exc, "revert", None) or decode_revert(getattr(exc, "revert_data", None))
        if revert is not None:
            detail = f" [{revert}]"
        print(f"native-rollup {args.command}: {exc}{detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
