"""The start-up self-test of EXECUTE's verifiers (NR-EXECUTE v1.2): a few built-in inputs
(``selftest_vectors.json``, a subset of the project's vector set made by
``devtools/eels_vectors.py`` with EELS's full-state execution as the oracle) through every
configured verifier. A node refuses to start when one gives another verdict (e.g. after an
EELS upgrade changed the internals the EELS verifier hooks)."""

from __future__ import annotations

import json
from pathlib import Path

from precompiles.execute_wire import decode_execute_input
from precompiles.verdict import Verdict
from precompiles.verifiers.base import Verifier

SELFTEST_VECTORS = Path(__file__).with_name("selftest_vectors.json")
# The vectors of the vector set the self-test runs (by name).
SELFTEST_NAMES = (
    "prague/transfers",
    "osaka/storage-writes",
    "osaka/clear-log-revert-blockhash",
    "osaka/storage-writes/wrong-post_state_root",
    "osaka/witness-without-code",
)


def answer(verdict: Verdict) -> dict:
    """A verdict as the vector set writes its expectation."""
    if not verdict.valid:
        return {"valid": False, "reason": int(verdict.reason)}
    return {
        "valid": True,
        "postStateRoot": "0x" + verdict.post_state_root.hex(),
        "number": verdict.number,
        "gasUsed": verdict.gas_used,
        "baseFeePerGas": verdict.base_fee_per_gas,
        "blockHash": "0x" + verdict.block_hash.hex(),
    }


def self_test(verifiers: list[Verifier], rules: dict[str, type]) -> list[str]:
    """What went wrong (empty: every verifier gave every built-in verdict). ``rules`` maps a
    fork name (``prague``, ``osaka``) to the L2 rules EXECUTE uses for it."""
    problems = []
    vectors = json.loads(SELFTEST_VECTORS.read_text())["vectors"]
    for vector in vectors:
        inp = decode_execute_input(bytes.fromhex(vector["input"][2:]))
        for verifier in verifiers:
            try:
                got = answer(verifier.verify(inp, rules[vector["fork"]]))
            except Exception as exc:  # noqa: BLE001 - a broken verifier, reported
                got = {"error": f"{type(exc).__name__}: {exc}"}
            if got != vector["expect"]:
                problems.append(
                    f"{verifier.name} on {vector['name']}: {got}, expected {vector['expect']}"
                )
    return problems
