"""The project's EXECUTE vector set (``tests/unit/data/execute_vectors.json``, made by
``devtools/eels_vectors.py`` with EELS's full-state execution as the oracle) through both
verifiers: every verdict and every output word agree with the oracle's and with each other.
The committed file is what the generator makes today (it is deterministic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.eels_vectors import generate
from node.fork import DevnetPragueVM
from node.fork.osaka import DevnetOsakaVM
from precompiles.execute_wire import decode_execute_input
from precompiles.verifiers.eels import EelsVerifier
from precompiles.verifiers.pyevm import PyEvmVerifier
from precompiles.verifiers.selftest import answer

VECTORS = Path(__file__).parent / "data" / "execute_vectors.json"
DOC = json.loads(VECTORS.read_text())
RULES = {"prague": DevnetPragueVM, "osaka": DevnetOsakaVM}


def test_the_set_covers_both_forks_and_the_reasons():
    vectors = DOC["vectors"]
    assert {v["fork"] for v in vectors} == {"prague", "osaka"}
    reasons = {v["expect"].get("reason") for v in vectors}
    assert {None, 6, 7, 8, 9, 10} <= reasons
    assert sum(v["expect"]["valid"] for v in vectors) >= 10


@pytest.mark.parametrize("vector", DOC["vectors"], ids=[v["name"] for v in DOC["vectors"]])
def test_both_verifiers_give_the_oracles_verdict(vector):
    inp = decode_execute_input(bytes.fromhex(vector["input"][2:]))
    rules = RULES[vector["fork"]]
    pyevm = PyEvmVerifier().verify(inp, rules)
    eels = EelsVerifier().verify(inp, rules)
    assert answer(pyevm) == vector["expect"], pyevm.detail
    assert answer(eels) == vector["expect"], eels.detail


def test_the_committed_vectors_are_the_generators():
    assert generate() == DOC


def test_the_selftest_vectors_are_the_generators_subset():
    from devtools.eels_vectors import selftest_subset
    from precompiles.verifiers.selftest import SELFTEST_VECTORS

    assert json.loads(SELFTEST_VECTORS.read_text()) == selftest_subset(DOC)
