"""The py-evm verifier: ``precompiles.execute.verify`` (the tuned stateless path) as is."""

from __future__ import annotations

from precompiles.execute_wire import ExecuteInput
from precompiles.verdict import Verdict


class PyEvmVerifier:
    name = "pyevm"

    def verify(self, inp: ExecuteInput, vm_class: type, transactions=None) -> Verdict:
        from precompiles.execute import verify

        return verify(inp, vm_class, transactions)
