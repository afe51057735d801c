"""The verifier policy of NR-EXECUTE v1.2: which verifiers a chain runs and how their
verdicts combine.

- ``all``: valid only if every verifier says valid with identical output words; any
  disagreement fails closed with reason 12 (verifiers disagree).
- ``shadow``: the first verifier (py-evm) decides; the others run beside it and a
  disagreement is only reported.

Verdicts are compared after mapping reasons the spec leaves open (1 vs 6) to the spec's
canonical choice. Every disagreement is logged with both verdicts and kept (the latest
``MAX_DISAGREEMENTS``) for ``execute_disagreements`` over RPC.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from eth_hash.auto import keccak

from precompiles.execute_wire import ExecuteInput, Reason, encode_execute_input
from precompiles.verdict import Verdict
from precompiles.verifiers.base import Verifier

log = logging.getLogger("native_devnet.execute.verifiers")

MODES = ("all", "shadow")
VERIFIER_NAMES = ("pyevm", "eels")
MAX_DISAGREEMENTS = 256


def verifier_named(name: str) -> Verifier:
    if name == "pyevm":
        from precompiles.verifiers.pyevm import PyEvmVerifier

        return PyEvmVerifier()
    if name == "eels":
        from precompiles.verifiers.eels import EelsVerifier, eels_available

        if not eels_available():
            raise ValueError(
                "verifier 'eels' needs ethereum-execution==2.20.0 (a dependency of native-devnet)"
            )
        return EelsVerifier()
    raise ValueError(f"unknown EXECUTE verifier {name!r} (known: {', '.join(VERIFIER_NAMES)})")


def canonical_reason(reason: Reason | None) -> Reason | None:
    """The spec leaves 1 vs 6 open for a transaction that one implementation refuses to
    decode and another decodes then refuses: both read as 6 when compared."""
    return Reason.INVALID_TRANSACTION if reason == Reason.TX_ENCODING else reason


def words(verdict: Verdict) -> tuple:
    """What a verdict commits to: its canonical reason and, when valid, its output words."""
    if not verdict.valid:
        return (canonical_reason(verdict.reason),)
    return (
        None,
        verdict.post_state_root,
        verdict.number,
        verdict.gas_used,
        verdict.burned_fees,
        verdict.base_fee_per_gas,
        verdict.block_hash,
    )


@dataclass
class Disagreement:
    input_hash: bytes
    mode: str
    verdicts: dict[str, Verdict]
    decided: Verdict
    at: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        """Plain values (bytes as bytes): the RPC layer formats them."""
        return {
            "inputHash": self.input_hash,
            "mode": self.mode,
            "time": int(self.at),
            "decidedReason": None if self.decided.valid else int(self.decided.reason),
            "verdicts": {
                name: {
                    "valid": v.valid,
                    "reason": None if v.valid else int(v.reason),
                    "detail": v.detail,
                    "postStateRoot": v.post_state_root,
                    "gasUsed": v.gas_used,
                    "blockHash": v.block_hash,
                }
                for name, v in self.verdicts.items()
            },
        }


class VerifierSet:
    """A chain's verifiers and mode: itself a verifier (``verify``)."""

    def __init__(self, verifiers: list[Verifier], mode: str = "all") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown EXECUTE verifier mode {mode!r} (known: all, shadow)")
        if not verifiers:
            raise ValueError("at least one EXECUTE verifier is needed")
        names = [v.name for v in verifiers]
        if len(set(names)) != len(names):
            raise ValueError(f"EXECUTE verifiers named twice: {','.join(names)}")
        self.verifiers = list(verifiers)
        self.mode = mode
        self.name = "+".join(names)
        self.disagreements: deque[Disagreement] = deque(maxlen=MAX_DISAGREEMENTS)
        self.disagreement_count = 0
        self.seconds = {v.name: 0.0 for v in self.verifiers}
        self.calls = {v.name: 0 for v in self.verifiers}
        self._lock = threading.Lock()

    @classmethod
    def named(cls, names: list[str], mode: str = "all") -> VerifierSet:
        return cls([verifier_named(n) for n in names], mode)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.verifiers]

    def verify(self, inp: ExecuteInput, vm_class: type, transactions=None) -> Verdict:
        verdicts: dict[str, Verdict] = {}
        for verifier in self.verifiers:
            start = time.perf_counter()
            # The py-evm decoding is py-evm's: other verifiers decode themselves.
            given = transactions if verifier is self.verifiers[0] else None
            verdicts[verifier.name] = verifier.verify(inp, vm_class, given)
            with self._lock:
                self.seconds[verifier.name] += time.perf_counter() - start
                self.calls[verifier.name] += 1
        first = verdicts[self.verifiers[0].name]
        if len(verdicts) == 1 or len({words(v) for v in verdicts.values()}) == 1:
            return first
        if self.mode == "shadow":
            decided = first
        else:
            decided = Verdict(
                reason=Reason.VERIFIERS_DISAGREE,
                detail="; ".join(
                    f"{name}: {'valid' if v.valid else f'reason {int(v.reason)}'}"
                    for name, v in verdicts.items()
                ),
            )
        self._record(inp, verdicts, decided)
        return decided

    def _record(self, inp: ExecuteInput, verdicts: dict[str, Verdict], decided: Verdict) -> None:
        input_hash = keccak(encode_execute_input(inp))
        log.warning(
            "EXECUTE verifiers disagree (%s mode) on block %d: %s",
            self.mode,
            inp.number,
            "; ".join(
                f"{name}: {'valid ' + v.post_state_root.hex() if v.valid else f'reason {int(v.reason)} ({v.detail})'}"
                for name, v in verdicts.items()
            ),
        )
        with self._lock:
            self.disagreement_count += 1
            self.disagreements.append(Disagreement(input_hash, self.mode, verdicts, decided))

    def timings(self) -> dict[str, dict]:
        with self._lock:
            return {
                name: {"calls": self.calls[name], "seconds": self.seconds[name]}
                for name in self.seconds
            }
