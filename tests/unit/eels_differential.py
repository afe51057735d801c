"""A pytest plugin: every EXECUTE re-execution of the session also runs on the EELS
verifier (``precompiles.verifiers.eels``), and any difference in reason (after the spec's
1-vs-6 mapping) or output words fails the session.

Use: ``pytest -p tests.unit.eels_differential tests/unit/test_execute.py ...``;
``tests/unit/test_verifiers_vectors.py`` runs the existing EXECUTE tests this way.
"""

from __future__ import annotations

from precompiles.verdict import Invalid
from precompiles.verifiers.eels import reexecute_eels
from precompiles.verifiers.policy import canonical_reason
from tests.unit.reexecution_differential import Differential


def failure(exc: Exception) -> tuple:
    if isinstance(exc, Invalid):
        return ("invalid", int(canonical_reason(exc.reason)))
    return ("invalid", 6)  # ``verify`` turns any other exception into reason 6


DIFFERENTIAL = Differential("eels-differential", "eels", reexecute_eels, failure)


def pytest_configure(config) -> None:
    DIFFERENTIAL.configure()


def pytest_sessionfinish(session, exitstatus) -> None:
    DIFFERENTIAL.finish(session)
