"""A pytest plugin: every EXECUTE verification of the session runs on both re-execution
paths, the tuned one (``precompiles.reexecute``) and the reference (py-evm's
``import_block``, ``precompiles.execute_reference``), and any difference fails the session.

``verify``'s re-execution step is its keyword default, so one patch of
``verify.__kwdefaults__`` reaches every caller, however it imported ``verify``. The
reference runs first, on transactions decoded afresh from the input's bytes (the tuned path
caches senders on the transaction objects it is given; the reference must not see them).

Use: ``pytest -p tests.unit.execute_differential tests/unit/test_execute.py ...``;
``tests/unit/test_execute_fast_path.py`` runs the existing EXECUTE tests this way.
"""

from __future__ import annotations

import sys

import pytest

from precompiles import execute
from precompiles.execute_reference import reexecute_reference
from precompiles.reexecute import reexecute as reexecute_fast
from precompiles.verdict import Invalid

COMPARED: list[int] = []
MISMATCHES: list[str] = []


def summary(verdict) -> tuple:
    """A verdict's fields (not its free-text detail)."""
    v = verdict
    return ("valid", v.post_state_root, v.number, v.gas_used, v.base_fee_per_gas, v.block_hash)


def failure(exc: Exception) -> tuple:
    """The reason an invalid block raised, or the type of any other exception (which
    ``verify`` turns into reason 6 and logs)."""
    if isinstance(exc, Invalid):
        return ("invalid", int(exc.reason))
    return ("error", type(exc).__name__)


def differential(inp, transactions, witness, chain, vm_class):
    fresh = execute.decode_transactions(inp.transactions, vm_class)
    try:
        expected = summary(reexecute_reference(inp, fresh, witness, chain, vm_class))
    except Exception as exc:
        expected = failure(exc)
    COMPARED.append(1)
    try:
        verdict = reexecute_fast(inp, transactions, witness, chain, vm_class)
    except Exception as exc:
        if failure(exc) != expected:
            MISMATCHES.append(f"block {inp.number}: reference {expected!r}, fast {failure(exc)!r}")
        raise
    if summary(verdict) != expected:
        MISMATCHES.append(f"block {inp.number}: reference {expected!r}, fast {summary(verdict)!r}")
    return verdict


def pytest_configure(config) -> None:
    execute.verify.__kwdefaults__["reexecute"] = differential


def pytest_sessionfinish(session, exitstatus) -> None:
    print(f"\nexecute-differential: {len(COMPARED)} re-executions compared", file=sys.stderr)
    for line in MISMATCHES:
        print(f"execute-differential MISMATCH {line}", file=sys.stderr)
    if MISMATCHES:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
