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

import importlib
import logging
import os
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


# Tests only: "name=module:Class" adds a verifier (e.g. one that lies) under ``name``.
TEST_VERIFIER_ENV = "NATIVE_DEVNET_TEST_VERIFIER"


def _test_verifier() -> tuple[str, str] | None:
    spec = os.environ.get(TEST_VERIFIER_ENV, "")
    name, _, target = spec.partition("=")
    return (name, target) if name and ":" in target else None


def known_names() -> tuple[str, ...]:
    extra = _test_verifier()
    return VERIFIER_NAMES + ((extra[0],) if extra else ())


def verifier_named(name: str) -> Verifier:
    extra = _test_verifier()
    if extra is not None and name == extra[0]:
        module, _, attr = extra[1].partition(":")
        return getattr(importlib.import_module(module), attr)()
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
    raise ValueError(f"unknown EXECUTE verifier {name!r} (known: {', '.join(known_names())})")


VERIFIERS_KEY = b"native-devnet:execute-verifiers"
DEFAULT_VERIFIERS = ("pyevm",)
MAX_VERIFIERS = 4


def check_verifier_config(names, mode: str) -> None:
    """A verifier set a chain may run; raises ValueError with what is wrong."""
    names = list(names)
    if not names or len(names) > MAX_VERIFIERS:
        raise ValueError(f"EXECUTE verifiers: between 1 and {MAX_VERIFIERS} names")
    unknown = [n for n in names if n not in known_names()]
    if unknown:
        raise ValueError(
            f"unknown EXECUTE verifier {unknown[0]!r} (known: {', '.join(known_names())})"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"EXECUTE verifiers named twice: {','.join(names)}")
    if names[0] != "pyevm":
        raise ValueError("EXECUTE verifiers: pyevm comes first (it decides in shadow mode)")
    if mode not in MODES:
        raise ValueError(f"unknown EXECUTE verifier mode {mode!r} (known: all, shadow)")


def describe_config(names, mode: str) -> str:
    return f"{','.join(names)} ({mode})"


def check_stored_verifiers(db, names, mode: str, reopened: bool) -> None:
    """A chain's database records its verifier set the first time; a node resuming it with
    another set is refused (nodes with different sets would split the chain). A chain
    recorded before verifier sets existed ran py-evm alone. Raises ValueError."""
    wanted = describe_config(names, mode).encode()
    if VERIFIERS_KEY not in db:
        stored = describe_config(DEFAULT_VERIFIERS, "all").encode() if reopened else wanted
        if stored == wanted:
            with db.block_transaction():
                db[VERIFIERS_KEY] = wanted
            return
    else:
        stored = bytes(db[VERIFIERS_KEY])
    if stored != wanted:
        raise ValueError(
            f"the data directory's chain runs the EXECUTE verifiers {stored.decode()}, not "
            f"{wanted.decode()} (--execute-verifiers/--execute-verifier-mode or the genesis' "
            "config.executeVerifiers)"
        )


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
        verdicts, seconds = self.run_each(inp, vm_class, transactions)
        return self.decide(inp, verdicts, seconds)

    def run_each(
        self, inp: ExecuteInput, vm_class: type, transactions=None
    ) -> tuple[dict[str, Verdict], dict[str, float]]:
        """Every verifier's verdict and time, undecided (a worker process runs this and the
        node decides, so disagreements are recorded where RPC can serve them)."""
        verdicts: dict[str, Verdict] = {}
        seconds: dict[str, float] = {}
        for verifier in self.verifiers:
            start = time.perf_counter()
            # The py-evm decoding is py-evm's: other verifiers decode themselves.
            given = transactions if verifier is self.verifiers[0] else None
            verdicts[verifier.name] = verifier.verify(inp, vm_class, given)
            seconds[verifier.name] = time.perf_counter() - start
        return verdicts, seconds

    def decide(
        self, inp: ExecuteInput, verdicts: dict[str, Verdict], seconds: dict[str, float]
    ) -> Verdict:
        """The policy's verdict from each verifier's."""
        with self._lock:
            for name, spent in seconds.items():
                self.seconds[name] = self.seconds.get(name, 0.0) + spent
                self.calls[name] = self.calls.get(name, 0) + 1
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
