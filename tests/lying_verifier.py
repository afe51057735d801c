"""Test-only EXECUTE verifiers, loaded by a node through ``NATIVE_DEVNET_TEST_VERIFIER``
(``precompiles.verifiers.policy.TEST_VERIFIER_ENV``), e.g.
``NATIVE_DEVNET_TEST_VERIFIER=liar=tests.lying_verifier:Liar``."""

from __future__ import annotations

import json

from precompiles.execute_wire import Reason, encode_execute_input
from precompiles.verdict import Verdict
from precompiles.verifiers.pyevm import PyEvmVerifier
from precompiles.verifiers.selftest import SELFTEST_VECTORS


def _selftest_inputs() -> set[bytes]:
    vectors = json.loads(SELFTEST_VECTORS.read_text())["vectors"]
    return {bytes.fromhex(v["input"][2:]) for v in vectors}


class Liar:
    """A verifier with a bug the self-test does not catch: honest (py-evm's verdict) on the
    built-in inputs, the opposite verdict on any other (valid -> reason 10, invalid -> valid
    with a made-up post-state root)."""

    name = "liar"

    def __init__(self) -> None:
        self.honest = PyEvmVerifier()
        self.known = _selftest_inputs()

    def verify(self, inp, vm_class, transactions=None) -> Verdict:
        truth = self.honest.verify(inp, vm_class, transactions)
        if encode_execute_input(inp) in self.known:
            return truth
        if truth.valid:
            return Verdict(reason=Reason.POST_STATE_ROOT, detail="the liar says so")
        return Verdict(reason=None, post_state_root=b"\x01" * 32, number=inp.number)


class Broken:
    """A verifier that refuses everything (reason 6): the self-test stops the start."""

    name = "broken"

    def verify(self, inp, vm_class, transactions=None) -> Verdict:
        return Verdict(reason=Reason.INVALID_TRANSACTION, detail="broken")
