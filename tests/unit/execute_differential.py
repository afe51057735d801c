"""A pytest plugin: every EXECUTE verification of the session runs on both re-execution
paths, the tuned one (``precompiles.reexecute``) and the reference (py-evm's
``import_block``, ``precompiles.execute_reference``), and any difference fails the session.

The reference runs first, on transactions decoded afresh from the input's bytes (the tuned
path caches senders on the transaction objects it is given; the reference must not see them).

Use: ``pytest -p tests.unit.execute_differential tests/unit/test_execute.py ...``;
``tests/unit/test_execute_fast_path.py`` runs the existing EXECUTE tests this way.
"""

from __future__ import annotations

from precompiles import execute
from precompiles.execute_reference import reexecute_reference
from precompiles.verdict import Invalid
from tests.unit.reexecution_differential import Differential


def failure(exc: Exception) -> tuple:
    """The reason an invalid block raised, or the type of any other exception (which
    ``verify`` turns into reason 6 and logs)."""
    if isinstance(exc, Invalid):
        return ("invalid", int(exc.reason))
    return ("error", type(exc).__name__)


def reference(inp, transactions, witness, chain, vm_class):
    fresh = execute.decode_transactions(inp.transactions, vm_class)
    return reexecute_reference(inp, fresh, witness, chain, vm_class)


DIFFERENTIAL = Differential("execute-differential", "reference", reference, failure)


def pytest_configure(config) -> None:
    DIFFERENTIAL.configure()


def pytest_sessionfinish(session, exitstatus) -> None:
    DIFFERENTIAL.finish(session)
