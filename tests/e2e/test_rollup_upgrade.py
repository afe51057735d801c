"""The ``upgrade`` scenario on real L1 and L2 node processes (NR-EXECUTE v1.1 "Fork rules"):
the L1 forks from Prague to Osaka mid-run; an L2 call into a contract using CLZ fails in a
block settled before the fork and succeeds in a block settled after it, through the same,
unchanged rollup contract; EXECUTE called directly refuses an L2 block stamped after the L1's
current block with reason 5. ``native-rollup demo --scenario upgrade`` runs it end to end."""

from __future__ import annotations

import pytest

from tests.procs import run_native_rollup, under_test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="anvil has no EXECUTE"),
]


def test_the_upgrade_scenario(tmp_path):
    proc = run_native_rollup("demo", "--scenario", "upgrade", "--log-dir", str(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for line in (
        "[ok] the CLZ call failed before the fork",
        "[ok] eth_call there names Osaka and evm_version",
        "[ok] the L1 runs Osaka",
        "[ok] the CLZ call succeeded after the fork",
        "[ok] the rollup contract's code is unchanged",
        "[ok] EXECUTE answers ExecuteInvalid(5)",
    ):
        assert line in out, out
    assert "FAIL" not in out and "Traceback" not in out
    assert "13/13 checks" in out
