"""EXECUTE's verifiers (NR-EXECUTE v1.2 "Verifier diversity").

One interface (``base.Verifier``: an input -> a ``Verdict`` with its reason and output
words), two independent implementations (``pyevm.PyEvmVerifier``, today's path;
``eels.EelsVerifier``, the Ethereum execution specs re-executing from the witness alone) and
the policy that combines them (``policy.VerifierSet``, modes ``all`` and ``shadow``).
"""

from precompiles.verifiers.base import Verifier
from precompiles.verifiers.policy import MODES, VerifierSet, verifier_named

__all__ = ["MODES", "Verifier", "VerifierSet", "verifier_named"]
