"""EXECUTE's verifiers (NR-EXECUTE v1.2): py-evm and EELS behind one interface, and the
policy (``all``, ``shadow``) that combines them.

- every re-execution the existing EXECUTE unit tests make (valid blocks, every reason code,
  Prague and Osaka) also runs on EELS from the witness alone, and the verdicts and output
  words agree (the ``tests.unit.eels_differential`` plugin, in a pytest subprocess);
- the EELS hooks: EXTCODEHASH of code the witness lacks is its known hash (valid, same words
  as py-evm), reading such code is reason 7, a typed transaction of another chain is reason 6;
- the policy: agreeing verifiers give the shared verdict; a lying verifier gives reason 12
  in ``all`` mode (logged, kept for RPC) and is only reported in ``shadow`` mode.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import rlp
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth_hash.auto import keccak

from devtools.l2_blocks import L2_VM, L2Builder, contract_address
from precompiles.execute_wire import Reason
from precompiles.verdict import Verdict
from precompiles.verifiers import VerifierSet
from precompiles.verifiers.eels import EelsVerifier, eels_available
from precompiles.verifiers.pyevm import PyEvmVerifier
from tests.unit.reexecution_differential import run_execute_tests_with

pytestmark = pytest.mark.skipif(not eels_available(), reason="ethereum-execution not installed")
ROOT = Path(__file__).resolve().parents[2]


def words(v: Verdict) -> tuple:
    return (v.reason, v.post_state_root, v.number, v.gas_used, v.base_fee_per_gas, v.block_hash)


def both(inp) -> tuple[Verdict, Verdict]:
    return PyEvmVerifier().verify(inp, L2_VM), EelsVerifier().verify(inp, L2_VM)


def initcode(runtime: bytes) -> bytes:
    n = len(runtime)
    return bytes([0x60, n, 0x60, 10, 0x5F, 0x39, 0x60, n, 0x5F, 0xF3]) + runtime


def deploy(b: L2Builder, runtime: bytes) -> bytes:
    nonce = b.next_nonce(0)
    b.build([b.tx(0, to=CREATE_CONTRACT_ADDRESS, data=initcode(runtime), gas=200_000, nonce=nonce)])
    return contract_address(b.address(0), nonce)


def without_code(witness: bytes, code: bytes) -> bytes:
    headers, codes, state, keys = rlp.decode(witness)
    kept = [c for c in codes if keccak(c) != keccak(code)]
    assert len(kept) < len(codes), "the witness did not hold the code"
    return rlp.encode([headers, kept, state, keys])


def test_existing_execute_tests_agree_on_eels() -> None:
    compared = run_execute_tests_with("tests.unit.eels_differential", "eels-differential")
    assert compared >= 100  # the plugin was active and saw the tests' blocks


def test_valid_block_same_words() -> None:
    b = L2Builder()
    built = b.build([b.tx(0, value=5), b.tx(1, value=7), b.legacy_tx(2)])
    pyevm, eels = both(b.input_for(built.block))
    assert pyevm.valid and eels.valid, (pyevm, eels)
    assert words(pyevm) == words(eels)
    assert eels.block_hash == built.block.hash


def test_extcodehash_of_code_missing_from_witness() -> None:
    b = L2Builder()
    target_code = b"\x60\x01\x00"
    target = deploy(b, target_code)
    # sstore(0, extcodehash(target)); py-evm answers it from the account, reading no code
    probe = deploy(b, b"\x73" + target + b"\x3f\x5f\x55\x00")
    built = b.build([b.tx(0, to=probe, gas=100_000)])
    inp = b.input_for(built.block)
    assert keccak(target_code) not in rlp.decode(inp.witness)[1]
    pyevm, eels = both(inp)
    assert pyevm.valid and eels.valid, (pyevm.detail, eels.detail)
    assert words(pyevm) == words(eels)


def test_reading_code_missing_from_witness_is_reason_7() -> None:
    b = L2Builder()
    target_code = b"\x60\x01\x00"
    target = deploy(b, target_code)
    probe = deploy(b, b"\x73" + target + b"\x3b\x5f\x55\x00")  # sstore(0, extcodesize(target))
    built = b.build([b.tx(0, to=probe, gas=100_000)])
    inp = b.input_for(built.block)
    assert both(inp)[1].valid
    stripped = replace(inp, witness=without_code(inp.witness, target_code))
    pyevm, eels = both(stripped)
    assert eels.reason == Reason.WITNESS_INCOMPLETE, eels.detail
    assert pyevm.reason == Reason.WITNESS_INCOMPLETE, pyevm.detail


def test_typed_transaction_of_another_chain_is_reason_6() -> None:
    b = L2Builder()
    built = b.build([b.tx(0, value=1)])
    inp = b.input_for(built.block)
    other = b.tx(0, value=1, nonce=built.block.transactions[0].nonce, chain_id=inp.chain_id + 1)
    wrong = replace(inp, transactions=rlp.encode([other.encode()]))
    pyevm, eels = both(wrong)
    assert eels.reason == Reason.INVALID_TRANSACTION, eels.detail
    assert pyevm.reason == Reason.INVALID_TRANSACTION


class Liar:
    """A test-only verifier: says every block is valid with a made-up post-state root."""

    name = "liar"

    def verify(self, inp, vm_class, transactions=None) -> Verdict:
        return Verdict(reason=None, post_state_root=b"\x01" * 32, number=inp.number)


@pytest.fixture(scope="module")
def block_input():
    b = L2Builder()
    return b.input_for(b.build([b.tx(0, value=3)]).block)


def test_all_mode_agreement_gives_the_shared_verdict(block_input) -> None:
    verifiers = VerifierSet([PyEvmVerifier(), EelsVerifier()], "all")
    verdict = verifiers.verify(block_input, L2_VM)
    assert verdict.valid and verdict.post_state_root == block_input.post_state_root
    assert verifiers.disagreement_count == 0
    assert all(t["calls"] == 1 for t in verifiers.timings().values())


def test_all_mode_disagreement_is_reason_12(block_input, caplog) -> None:
    verifiers = VerifierSet([PyEvmVerifier(), Liar()], "all")
    verdict = verifiers.verify(block_input, L2_VM)
    assert verdict.reason == Reason.VERIFIERS_DISAGREE
    assert verifiers.disagreement_count == 1
    record = verifiers.disagreements[-1].as_dict()
    assert record["decidedReason"] == 12
    assert record["verdicts"]["liar"]["postStateRoot"] == b"\x01" * 32
    assert record["verdicts"]["pyevm"]["postStateRoot"] == block_input.post_state_root
    assert "verifiers disagree" in caplog.text


def test_shadow_mode_pyevm_decides(block_input) -> None:
    verifiers = VerifierSet([PyEvmVerifier(), Liar()], "shadow")
    verdict = verifiers.verify(block_input, L2_VM)
    assert verdict.valid and verdict.post_state_root == block_input.post_state_root
    assert verifiers.disagreement_count == 1


def test_reason_1_and_6_compare_equal(block_input) -> None:
    class Refuses:
        def __init__(self, reason):
            self.reason = reason
            self.name = f"refuses-{int(reason)}"

        def verify(self, inp, vm_class, transactions=None):
            return Verdict(reason=self.reason)

    agree = VerifierSet([Refuses(Reason.TX_ENCODING), Refuses(Reason.INVALID_TRANSACTION)])
    agree.verify(block_input, L2_VM)
    assert agree.disagreement_count == 0


def test_unknown_names_and_modes_refused() -> None:
    with pytest.raises(ValueError, match="unknown EXECUTE verifier"):
        VerifierSet.named(["pyevm", "geth"])
    with pytest.raises(ValueError, match="mode"):
        VerifierSet.named(["pyevm"], "any")
