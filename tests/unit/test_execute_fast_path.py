"""The tuned re-execution (``precompiles.reexecute``) against the reference (py-evm's
``import_block``, ``precompiles.execute_reference``): the same verdicts, reasons and output
words on the existing EXECUTE tests' inputs and on the fuzz's mutated inputs.

- every verification the existing EXECUTE unit tests make runs on both paths (the
  ``tests.unit.execute_differential`` plugin, in a pytest subprocess);
- the fuzz's strategies (``tests/unit/test_execute_fuzz.py``: byte, head-word and
  structural mutations of real blocks' inputs, random heads, re-ordered witnesses) go
  through ``verify`` and ``verify_reference``;
- the header rules py-evm checks only after execution keep their place (a forged parent's
  gas limit beyond py-evm's maximum is reason 6 after execution, 7 when execution first
  misses a witness node);
- a VM class whose block import the fast path does not know is re-executed by the reference;
- the pieces: the account encoding is RLP's byte for byte, senders recovered in one pass
  are the ones ``tx.sender`` gives, and a signature the pass cannot recover stays lazy.

Size: ``EXECUTE_DIFF_EXAMPLES`` (default 100) examples per strategy; ``deadline=None``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import rlp
from eth.db.trie import _make_trie_root_and_nodes
from eth.rlp.accounts import Account
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.prague.receipts import PragueTypedReceipt
from eth_hash.auto import keccak
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.l2_blocks import L2_VM, L2Builder, network_form
from precompiles.execute import verify
from precompiles.execute_reference import verify_reference
from precompiles.execute_wire import MalformedInput, Reason, decode_execute_input
from precompiles.ordered_trie import ordered_trie_root_and_nodes
from precompiles.reexecute import (
    encode_account,
    encode_receipt,
    fast_path_supported,
    stateless_vm_class,
)
from precompiles.senders import PARALLEL_MIN_TRANSACTIONS, recover_senders, signing_message
from tests.unit import test_execute_fuzz as fuzz
from tests.unit.reexecution_differential import run_execute_tests_with
from tests.unit.test_execute_header_bounds import Setup

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("EXECUTE_DIFF_EXAMPLES", "100"))
DIFF = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


def words(verdict) -> tuple:
    """Everything a verdict decides (its free-text detail aside)."""
    return (
        verdict.reason,
        verdict.post_state_root,
        verdict.number,
        verdict.gas_used,
        verdict.base_fee_per_gas,
        verdict.block_hash,
    )


def same_on_both(data: bytes, vm_class: type = L2_VM):
    """Decode ``data``; verify it on both paths (each decoding its own transactions) and
    require the same verdict; returns it (None for malformed input)."""
    try:
        inp = decode_execute_input(data)
    except MalformedInput:
        return None
    fast, reference = verify(inp, vm_class), verify_reference(inp, vm_class)
    assert words(fast) == words(reference), (fast, reference)
    return fast


# -- the existing EXECUTE tests, every verification on both paths ------------------------


def test_existing_execute_tests_agree_on_both_paths():
    """The EXECUTE unit tests run with every re-execution compared: the session fails on
    any difference (reason, output words or an exception's type)."""
    compared = run_execute_tests_with("tests.unit.execute_differential", "execute-differential")
    assert compared >= 100  # the plugin was active and saw the tests' blocks


# -- the fuzz's inputs -------------------------------------------------------------------


@DIFF
@given(fuzz.mutated())
def test_byte_mutations_agree(case):
    same_on_both(case.data)


@DIFF
@given(fuzz.head_word_mutated())
def test_head_word_mutations_agree(case):
    same_on_both(case.data)


@DIFF
@given(fuzz.structurally_mutated())
def test_structural_mutations_agree(case):
    assert same_on_both(case.data) is not None


@DIFF
@given(fuzz.random_head_over_tails())
def test_random_heads_agree(case):
    same_on_both(case.data)


@DIFF
@given(fuzz.witness_reordered())
def test_reordered_witnesses_agree(case):
    verdict = same_on_both(case.data)
    assert verdict.valid and verdict.block_hash == case.base.header.hash


@DIFF
@given(st.binary(min_size=448, max_size=1100))
def test_random_bytes_agree(data):
    same_on_both(data)


def test_fuzz_bases_are_valid_on_both_paths():
    for base in fuzz.bases():
        verdict = same_on_both(base.data)
        assert verdict.valid and verdict.block_hash == base.header.hash


# -- header rules keep their place -------------------------------------------------------


@pytest.fixture(scope="module")
def s() -> Setup:
    return Setup()


@pytest.mark.parametrize("gas_limit", [2**63 + 2**20, 2**64 - 1])
def test_gas_limit_beyond_py_evms_maximum_is_reason_6_after_execution(s, gas_limit):
    """Only py-evm's ``validate_header`` refuses it (after execution, as in the import)."""
    inp = replace(s.with_parent(gas_limit=gas_limit), gas_limit=gas_limit)
    assert verify(inp, L2_VM).reason == Reason.INVALID_TRANSACTION
    assert verify_reference(inp, L2_VM).reason == Reason.INVALID_TRANSACTION
    # Execution missing a witness node comes first: 7 on both paths, not 6.
    headers, codes, _state, _ = rlp.decode(inp.witness)
    starved = replace(inp, witness=rlp.encode([headers, codes, [], []]))
    assert verify(starved, L2_VM).reason == Reason.WITNESS_INCOMPLETE
    assert verify_reference(starved, L2_VM).reason == Reason.WITNESS_INCOMPLETE


# -- which VM classes take the fast path -------------------------------------------------


def test_the_l2_rules_take_the_fast_path():
    assert fast_path_supported(L2_VM)
    state = stateless_vm_class(L2_VM).get_state_class()
    assert state.account_db_class.__name__.startswith("Light")  # the light account writes


def test_a_fork_with_its_own_block_validation_takes_the_reference(s):
    """A fork whose ``validate_block`` adds a rule the fast path does not know: the
    reference (py-evm's import, which runs it) decides."""

    class StricterVM(L2_VM):
        def validate_block(self, block):
            raise ValidationError("stricter fork: no block is valid")

    assert not fast_path_supported(StricterVM)
    assert verify(s.base, L2_VM).valid
    verdict = verify(s.base, StricterVM)
    assert verdict.reason == Reason.INVALID_TRANSACTION
    assert words(verdict) == words(verify_reference(s.base, StricterVM))


def test_a_vm_class_with_its_own_block_import_takes_the_reference(s):
    """A fork that changes a step the fast path replaces (here: the end-of-block request
    processing) is re-executed by the reference, so its rule still decides."""

    class RequestlessVM(L2_VM):
        def block_postprocessing(self, block):
            raise ValidationError("this fork refuses every block at post-processing")

    assert not fast_path_supported(RequestlessVM)
    verdict = verify(s.base, RequestlessVM)
    assert verdict.reason == Reason.INVALID_TRANSACTION
    assert words(verdict) == words(verify_reference(s.base, RequestlessVM))


# -- the pieces --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**256 - 1),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
)
def test_account_encoding_is_rlps(nonce, balance, storage_root, code_hash):
    account = Account(nonce, balance, storage_root, code_hash)
    assert encode_account(account) == rlp.encode(account, sedes=Account)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=120), max_size=300))
def test_ordered_trie_is_py_evms(items):
    """Same root and same stored nodes as py-evm's one-by-one ``HexaryTrie`` build."""
    expected = _make_trie_root_and_nodes(tuple(items))
    assert ordered_trie_root_and_nodes(items) == expected


@pytest.mark.parametrize("count", [0, 1, 2, 16, 17, 127, 128, 129, 256, 257])
def test_ordered_trie_at_key_length_boundaries(count):
    items = tuple(bytes([i % 251]) * (1 + i % 40) for i in range(count))
    assert ordered_trie_root_and_nodes(items) == _make_trie_root_and_nodes(items)


logs_st = st.lists(
    st.builds(
        Log,
        st.binary(min_size=20, max_size=20),
        st.lists(
            st.one_of(st.integers(0, 2**256 - 1), st.sampled_from([0, 1, 2**255])), max_size=4
        ).map(tuple),
        st.one_of(st.binary(max_size=70), st.sampled_from([b"", b"\x00", b"\x7f", b"\x80"])),
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"", b"\x01"]),
    st.integers(0, 2**64 - 1),
    logs_st,
    st.sampled_from([None, 1, 2, 4]),
)
def test_receipt_encoding_is_py_evms(status, gas, logs, type_id):
    receipt = Receipt(status, gas, logs)
    if type_id is not None:
        receipt = PragueTypedReceipt(type_id, receipt)
    assert encode_receipt(receipt) == receipt.encode()


@pytest.fixture(scope="module")
def l2() -> L2Builder:
    return L2Builder()


def fresh(txs) -> list:
    """The same transactions decoded again (no sender computed yet)."""
    builder = L2_VM.get_transaction_builder()
    return [builder.deserialize(network_form(tx)) for tx in txs]


@pytest.mark.parametrize("count", [3, PARALLEL_MIN_TRANSACTIONS + 5])
def test_senders_recovered_in_one_pass_are_tx_sender(l2, count):
    txs = [l2.legacy_tx(i % 10) if i % 3 == 0 else l2.tx(i % 10, value=i) for i in range(count)]
    expected = [tx.sender for tx in fresh(txs)]  # eth_keys, lazily
    batch = fresh(txs)
    assert recover_senders(batch) == count
    assert all("sender" in tx.__dict__ for tx in batch)
    assert [tx.sender for tx in batch] == expected


def _typed(l2: L2Builder, type_id: int, data: bytes, access: list, auth: list) -> object:
    """A signed typed transaction of ``type_id`` built field by field, decoded by py-evm."""
    key = l2.keys[0]
    to = b"\x44" * 20
    if type_id == 1:
        unsigned = [31338, 7, 10**9, 100_000, to, 5, data, access]
    else:
        unsigned = [31338, 7, 10**9, 100 * 10**9, 100_000, to, 5, data, access]
    if type_id == 4:
        unsigned.append(auth)
    sig = key.sign_msg_hash(keccak(bytes([type_id]) + rlp.encode(unsigned)))
    raw = bytes([type_id]) + rlp.encode(unsigned + [sig.v, sig.r, sig.s])
    return L2_VM.get_transaction_builder().deserialize(raw)


@pytest.mark.parametrize("type_id", [1, 2, 4])
@pytest.mark.parametrize("data", [b"", b"\x01", b"\x00" * 60, bytes(range(200))])
def test_signing_message_cut_from_the_encoding_is_py_evms(l2, type_id, data):
    access = [[b"\x55" * 20, [b"\x00" * 31 + b"\x01"]]]
    auth = [[31338, b"\x66" * 20, 3, 1, 2**255 + 7, 12345]]
    tx = _typed(l2, type_id, data, access, auth)
    assert signing_message(tx) == tx.get_message_for_signing()
    batch = [_typed(l2, type_id, data, access, auth)]
    assert recover_senders(batch) == 1
    assert batch[0].sender == tx.sender == l2.address(0)


def test_a_signature_the_pass_cannot_recover_stays_lazy(l2):
    """r = 0 (coincurve refuses it) and y parity 5 (eth_keys refuses it): nothing cached,
    ``tx.sender`` still raises at the transaction's turn."""
    good = l2.tx(0, value=1)
    raw = network_form(good)
    fields = rlp.decode(raw[1:])
    bad_r = fields[:-2] + [0, fields[-1]]
    bad_v = fields[:-3] + [5] + fields[-2:]
    builder = L2_VM.get_transaction_builder()
    txs = [builder.deserialize(raw[:1] + rlp.encode(f)) for f in (bad_r, bad_v)]
    txs.append(builder.deserialize(raw))
    assert recover_senders(txs) == 1
    for tx in txs[:2]:
        assert "sender" not in tx.__dict__
        with pytest.raises((BadSignature, Exception)):
            tx.sender  # noqa: B018
    assert txs[2].sender == good.sender


def test_bench_execute_runs_and_reports_both_paths():
    """scripts/bench_execute.py end to end on small blocks: both paths accept the blocks
    (it exits otherwise) and every figure is reported."""
    proc = subprocess.run(
        [
            sys.executable,
            "scripts/bench_execute.py",
            "--txs",
            "4",
            "--writes",
            "3",
            "--repeat",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    for kind, count in (("transfers", 4), ("storage_writes", 3)):
        block = report[kind]
        assert block["transactions"] == count
        for key in (
            "execute_s",
            "execute_reference_s",
            "stateful_import_s",
            "stateful_over_execute",
            "execute_l2_mgas_per_s",
        ):
            assert block[key] > 0, (kind, key)
        assert block["witness"]["rlp_bytes_per_tx"] > 0
