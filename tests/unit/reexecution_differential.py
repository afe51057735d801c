"""What the re-execution differential plugins share (``tests.unit.execute_differential``:
the tuned path against py-evm's ``import_block``; ``tests.unit.eels_differential``: against
EELS): one ``Differential`` put in place of ``verify``'s re-execution step, and the run of the
existing EXECUTE tests under a plugin.

``verify``'s re-execution step is its keyword default, so one patch of
``verify.__kwdefaults__`` reaches every caller, however it imported ``verify``. The other
side runs first; the tuned path's verdict is the one ``verify`` goes on with.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from precompiles import execute
from precompiles.reexecute import reexecute as reexecute_fast

ROOT = Path(__file__).resolve().parents[2]
EXECUTE_TESTS = ("tests/unit/test_execute.py", "tests/unit/test_execute_header_bounds.py")


def summary(verdict) -> tuple:
    """A verdict's fields (not its free-text detail)."""
    v = verdict
    return ("valid", v.post_state_root, v.number, v.gas_used, v.base_fee_per_gas, v.block_hash)


class Differential:
    """``verify``'s re-execution step that also runs ``other`` and records every difference
    (``failure`` says what a raised exception amounts to, on both sides)."""

    def __init__(
        self, name: str, other_name: str, other: Callable, failure: Callable[[Exception], tuple]
    ) -> None:
        self.name = name
        self.other_name = other_name
        self.other = other
        self.failure = failure
        self.compared = 0
        self.mismatches: list[str] = []

    def __call__(self, inp, transactions, witness, chain, vm_class):
        try:
            expected = summary(self.other(inp, transactions, witness, chain, vm_class))
        except Exception as exc:
            expected = self.failure(exc)
        self.compared += 1
        try:
            verdict = reexecute_fast(inp, transactions, witness, chain, vm_class)
        except Exception as exc:
            got = self.failure(exc)
            if got != expected:
                self.mismatch(inp, expected, f"{got!r} ({exc})")
            raise
        if summary(verdict) != expected:
            self.mismatch(inp, expected, repr(summary(verdict)))
        return verdict

    def mismatch(self, inp, expected: tuple, fast: str) -> None:
        self.mismatches.append(f"block {inp.number}: {self.other_name} {expected!r}, fast {fast}")

    def configure(self) -> None:
        execute.verify.__kwdefaults__["reexecute"] = self

    def finish(self, session) -> None:
        print(f"\n{self.name}: {self.compared} re-executions compared", file=sys.stderr)
        for line in self.mismatches:
            print(f"{self.name} MISMATCH {line}", file=sys.stderr)
        if self.mismatches:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def run_execute_tests_with(plugin: str, name: str, timeout: float = 900) -> int:
    """The existing EXECUTE tests in a pytest subprocess under ``plugin``: they must pass with
    no mismatch; the number of re-executions it compared."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", plugin]
        + list(EXECUTE_TESTS),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "MISMATCH" not in proc.stderr, out
    assert proc.returncode == 0, out
    return int(proc.stderr.split(f"{name}: ")[1].split()[0])
