#!/usr/bin/env python3
"""The native rollup, end to end (docs/ROLLUP.md, steps 1-7): start a fresh L1 and L2 node on free
loopback ports, deploy ``NativeRollup``, deposit, transact on L2, settle every L2 block
through EXECUTE, withdraw with a proof, show forged blocks and bad claims being rejected,
print a summary, and stop both nodes by PID (also on error).

    make demo                                           # or: .venv/bin/python scripts/demo.py
    make demo SCENARIO=based    # two sequencers race on a BASED rollup (fresh L1 + two L2s)
    make demo SCENARIO=forced   # a censored user forces her tx in, then settles alone
    .venv/bin/python scripts/demo.py --l1 URL --l2 URL  # fresh nodes you started yourself
    native-rollup demo --external-sequencer --l1 URL --l2 URL --rollup-file rollup.json
    make demo ARGS=--keep-running  # then the nodes stay up and print their dashboard URLs

Same as ``native-rollup demo`` (see ``native-rollup demo --help``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sequencer.cli import main  # noqa: E402

if __name__ == "__main__":
    if "--keep-running" in sys.argv:  # the nodes stay up with their dashboards (Ctrl-C stops)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from demo_keep_running import main as keep_running

        sys.exit(keep_running(sys.argv[1:]))
    sys.exit(main(["demo", *sys.argv[1:]]))
