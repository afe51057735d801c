"""A pytest plugin: every EXECUTE re-execution of the session also runs on the EELS
verifier (``precompiles.verifiers.eels``), and any difference in reason (after the spec's
1-vs-6 mapping) or output words fails the session.

Use: ``pytest -p tests.unit.eels_differential tests/unit/test_execute.py ...``;
``tests/unit/test_verifiers_vectors.py`` runs the existing EXECUTE tests this way.
"""

from __future__ import annotations

import sys

import pytest

from precompiles import execute
from precompiles.reexecute import reexecute as reexecute_fast
from precompiles.verdict import Invalid
from precompiles.verifiers.eels import reexecute_eels
from precompiles.verifiers.policy import canonical_reason

COMPARED: list[int] = []
MISMATCHES: list[str] = []


def summary(verdict) -> tuple:
    v = verdict
    return ("valid", v.post_state_root, v.number, v.gas_used, v.base_fee_per_gas, v.block_hash)


def failure(exc: Exception) -> tuple:
    if isinstance(exc, Invalid):
        return ("invalid", int(canonical_reason(exc.reason)))
    return ("invalid", 6)  # ``verify`` turns any other exception into reason 6


def differential(inp, transactions, witness, chain, vm_class):
    try:
        eels = summary(reexecute_eels(inp, transactions, witness, chain, vm_class))
    except Exception as exc:
        eels = failure(exc)
    COMPARED.append(1)
    try:
        verdict = reexecute_fast(inp, transactions, witness, chain, vm_class)
    except Exception as exc:
        if failure(exc) != eels:
            MISMATCHES.append(f"block {inp.number}: pyevm {failure(exc)!r} ({exc}), eels {eels!r}")
        raise
    if summary(verdict) != eels:
        MISMATCHES.append(f"block {inp.number}: pyevm {summary(verdict)!r}, eels {eels!r}")
    return verdict


def pytest_configure(config) -> None:
    execute.verify.__kwdefaults__["reexecute"] = differential


def pytest_sessionfinish(session, exitstatus) -> None:
    print(f"\neels-differential: {len(COMPARED)} re-executions compared", file=sys.stderr)
    for line in MISMATCHES:
        print(f"eels-differential MISMATCH {line}", file=sys.stderr)
    if MISMATCHES:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
