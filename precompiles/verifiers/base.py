"""The verifier interface: an EXECUTE input in, a ``Verdict`` out (reason and output words).

A verifier is a pure function of the input and never raises. ``vm_class`` is the L2 rules
the L1's fork schedule picked for the input (NR-EXECUTE v1.1); a verifier that is not
py-evm reads from it only which fork it is (``fork_name``).
"""

from __future__ import annotations

from typing import Protocol

from precompiles.execute_wire import ExecuteInput
from precompiles.verdict import Verdict


class Verifier(Protocol):
    name: str

    def verify(self, inp: ExecuteInput, vm_class: type, transactions=None) -> Verdict:
        """Re-execute the block ``inp`` describes; never raises. ``transactions`` is what
        py-evm already decoded of ``inp.transactions`` (a verifier may ignore it)."""
        ...


def fork_name(vm_class: type) -> str:
    """``osaka`` or ``prague``: the fork of the L2 rules ``vm_class`` (the devnet's Osaka
    rules carry EIP-7934's ``max_rlp_block_size``)."""
    return "osaka" if getattr(vm_class, "max_rlp_block_size", None) else "prague"
