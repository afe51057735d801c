"""EXECUTE with a forged parent header: integer fields beyond their width, blob gas on a chain
without blobs, and a base fee whose output words would not fit uint256.

Regression tests for bugs found while auditing EXECUTE's cost: a witness parent whose excess
blob gas was 2**63 made the block's first BLOBBASEFEE cost over a second (py-evm's
``fake_exponential`` on 300 000-bit numbers), for 100 000 L1 gas: some 300 such calls, each
with another coinbase to miss the verdict cache, would stall one L1 block for minutes; a parent base fee of 2**300 gave a valid verdict
whose output word did not fit, and the precompile raised ``OverflowError`` out of the EVM
instead of answering; megabyte-wide header integers made the base-fee arithmetic superlinear.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import rlp
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert

from devtools.l2_blocks import L2_VM, L2Builder, contract_address
from precompiles.execute import VerdictCache, make_execute_precompile, verify
from precompiles.execute_wire import (
    ExecuteInput,
    Reason,
    encode_execute_input,
    encode_invalid,
)

# PUSH0 ; loop: BLOBBASEFEE POP ; PUSH1 1 ; ADD ; DUP1 ; PUSH2 1000 ; GT ; PUSH1 1 ; JUMPI ; STOP
BLOB_BASE_FEE_LOOP = bytes.fromhex("5f5b4a50600101806103e81160015700")


def creation_code(runtime: bytes) -> bytes:
    """PUSH1 n ; DUP1 ; PUSH1 9 ; PUSH0 ; CODECOPY ; PUSH0 ; RETURN ; runtime"""
    return bytes([0x60, len(runtime), 0x80, 0x60, 9, 0x5F, 0x39, 0x5F, 0xF3]) + runtime


class Setup:
    def __init__(self) -> None:
        self.l2 = L2Builder()
        block = self.l2.build().block
        self.base: ExecuteInput = self.l2.input_for(block)
        self.parent = self.l2.chain.header_by_hash(block.header.parent_hash)
        headers, self.codes, self.state, _ = rlp.decode(self.base.witness)

    def with_parent(self, inp: ExecuteInput | None = None, **fields) -> ExecuteInput:
        """``inp`` (the empty block by default) re-parented on a changed copy of its parent."""
        parent = self.parent.copy(**fields)
        witness = rlp.encode([[rlp.encode(parent)], self.codes, self.state, []])
        return replace(inp or self.base, parent_hash=parent.hash, witness=witness)


@pytest.fixture(scope="module")
def s() -> Setup:
    return Setup()


@pytest.mark.parametrize(
    "field,value",
    [
        ("gas_used", 2**64),
        ("gas_limit", 2**64),
        ("timestamp", 2**64),
        ("block_number", 2**64),
        ("excess_blob_gas", 2**64),
        ("blob_gas_used", 2**64),
        ("base_fee_per_gas", 2**256),
        ("difficulty", 2**256),
        ("base_fee_per_gas", 2**8_000_000),
    ],
    ids=lambda value: value if isinstance(value, str) else f"2**{value.bit_length() - 1}",
)
def test_header_integers_wider_than_their_field_are_reason_2(s, field, value):
    verdict = verify(s.with_parent(**{field: value}), L2_VM)
    assert verdict.reason == Reason.WITNESS_ENCODING
    assert field in verdict.detail


def test_widest_header_integers_still_decode(s):
    verdict = verify(s.with_parent(timestamp=2**64 - 1), L2_VM)
    assert verdict.reason == Reason.HEADER_RULE  # the block's timestamp is not after it


@pytest.mark.parametrize("field", ["excess_blob_gas", "blob_gas_used"])
def test_parent_with_blob_gas_is_reason_5(s, field):
    """L2 headers carry no blob gas (docs/EXECUTE.md); a forged parent's would have become the
    block's excess blob gas, from which BLOBBASEFEE computed a 300 000-bit number."""
    l2 = s.l2
    nonce = l2.next_nonce(0)
    deploy = l2.tx(
        0,
        to=CREATE_CONTRACT_ADDRESS,
        data=creation_code(BLOB_BASE_FEE_LOOP),
        gas=100_000,
        nonce=nonce,
    )
    address = contract_address(l2.address(0), nonce)
    l2.build([deploy])
    assert l2.chain.code(address, l2.chain.head) == BLOB_BASE_FEE_LOOP
    call = l2.tx(0, to=address, gas=200_000)
    built = l2.build([call]).block
    inp = l2.input_for(built)
    assert verify(inp, L2_VM).valid
    parent = l2.chain.header_by_hash(built.header.parent_hash)
    forged = parent.copy(**{field: 2**63})
    headers, codes, state, _ = rlp.decode(inp.witness)
    witness = rlp.encode([[rlp.encode(forged), *headers], codes, state, []])
    verdict = verify(replace(inp, parent_hash=forged.hash, witness=witness), L2_VM)
    assert verdict.reason == Reason.HEADER_RULE


def test_base_fee_beyond_uint256_is_reason_5_not_an_overflow(s):
    inp = s.with_parent(base_fee_per_gas=2**256 - 1, gas_used=s.parent.gas_limit)
    assert verify(inp, L2_VM).reason == Reason.HEADER_RULE
    execute = make_execute_precompile(L2_VM, cache=VerdictCache(size=0))

    class Computation:
        class msg:
            data = encode_execute_input(inp)

        output = b""

        def consume_gas(self, amount: int, reason: str) -> None:
            pass

    computation = Computation()
    with pytest.raises(Revert):
        execute(computation)
    assert computation.output == encode_invalid(Reason.HEADER_RULE)
