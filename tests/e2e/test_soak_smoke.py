"""The soak benchmark (scripts/soak.py) at toy size: it runs, stops by itself, and finds nothing.

Three clients (one of them on a WebSocket with newHeads and logs subscriptions) for 12 s on a
chain of 200 pre-mined blocks, then two kill -9 / restart cycles under send traffic. The
script must exit 0 and print no errors, no lost receipts, transactions mined in both phases,
notifications received, and one line per restart.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.procs import ROOT, under_test

pytestmark = pytest.mark.e2e


def test_soak_smoke():
    if under_test() == "anvil":
        pytest.skip("the soak restarts the node under test with --data-dir")
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "soak.py"),
            *("--clients", "3", "--minutes", "0.2", "--restarts", "2", "--blocks", "200"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = run.stdout
    print(out[-3000:])
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert re.search(r"^errors: 0$", out, re.M), out
    assert re.search(r"^lost receipts: 0$", out, re.M), out
    cycles = re.findall(
        r"cycle \d+: killed, restarted in [\d.]+s \(RSS \d+ MiB\), (\d+) receipts checked", out
    )
    assert len(cycles) == 2 and int(cycles[0]) > 0, out
    for phase in ("A", "B"):
        mined = re.search(rf"^phase {phase}: \d+s, (\d+) transactions mined", out, re.M)
        assert mined and int(mined.group(1)) > 0, out
    assert re.search(r"'newHeads': [1-9]", out), out
    assert re.search(r"^RSS: start \d+ MiB, .* end \d+ MiB$", out, re.M), out
