"""EXECUTE's verification (``precompiles.execute.verify``) on real L2 blocks, in process.

Every block here is built by an in-process ``node.chain.Chain`` on genesis/l2.json (chain id
31338, dev accounts funded) with the witness the chain recorded while building it, then
turned into EXECUTE input with ``devtools.execute_inputs.input_from_chain``. Each test then
changes exactly one thing and checks the verdict against the NR-EXECUTE v1 spec: valid blocks
(with their output words), one test per reason code 1-11, JSON and RLP witnesses agreeing,
malformed input being ``MalformedInput`` (an exceptional halt in the precompile), and the
verdict cache.

Regression tests for bugs found here: a type-4 transaction without destination answers 1;
undecodable transactions are reported before the parent/header checks (spec order); a
deeply nested JSON witness answers 2 instead of overflowing the C stack.
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
from eth.vm.forks.prague.headers import PragueBlockHeader
from eth_hash.auto import keccak
from eth_keys.constants import SECPK1_N

from devtools.contracts import load
from devtools.execute_inputs import encoded
from devtools.l2_blocks import (
    L2_CHAIN_ID,
    L2_VM,
    WITHDRAWAL_REQUEST_ADDRESS,
    L2Builder,
    blob_tx,
    calldata,
    network_form,
    trie_nodes,
)
from precompiles.execute import Charge, VerdictCache, encode_output, verify
from precompiles.execute_wire import (
    HEAD_SIZE,
    UINT64_MAX,
    MalformedInput,
    Reason,
    decode_execute_input,
    decode_output,
    encode_witness,
)

WORD = 32

# -- fixtures: one small L2 history, built once ---------------------------------------------


class History:
    """Blocks of one L2 chain, each with the input EXECUTE takes for it."""

    def __init__(self) -> None:
        self.l2 = L2Builder()
        l2 = self.l2
        self.empty = l2.build().block
        self.transfers = l2.build(
            [
                l2.tx(0, value=10**18),
                l2.tx(1, to=b"\x12" * 20, value=3),
                l2.tx(2, value=5),
                l2.legacy_tx(3),
            ]
        ).block
        deploy, self.counter = l2.deploy("Counter", (["uint256"], [41]))
        self.deploy_block = l2.build([deploy]).block
        self.increment = l2.build(
            [
                l2.tx(1, to=self.counter, data=calldata("increment()"), gas=100_000),
                l2.tx(2, value=9),
            ]
        ).block
        reader_tx, self.reader = l2.deploy("BlockHashReader")
        l2.build([reader_tx])
        self.blockhash = {}
        for depth in (2, 3):
            tx = l2.tx(
                1,
                to=self.reader,
                data=calldata("record(uint256)", ["uint256"], [depth]),
                gas=100_000,
            )
            self.blockhash[depth] = l2.build([tx]).block

    def input(self, block):
        return self.l2.input_for(block)

    def witness(self, block):
        return self.l2.chain.witnesses[block.hash]

    def parent(self, block):
        return self.l2.chain.header_by_hash(block.header.parent_hash)


@pytest.fixture(scope="module")
def h() -> History:
    return History()


def json_witness(headers, codes, state, keys=()) -> bytes:
    return json.dumps(
        {
            "state": ["0x" + s.hex() for s in state],
            "codes": ["0x" + c.hex() for c in codes],
            "keys": ["0x" + k.hex() for k in keys],
            "headers": ["0x" + x.hex() for x in headers],
        }
    ).encode()


def check(inp, expected: Reason | None):
    verdict = verify(inp, L2_VM)
    assert verdict.reason == expected, verdict.detail
    return verdict


def with_txs(inp, *items) -> object:
    """``inp`` with its transactions replaced by these body items (txs or raw items)."""
    raw = [network_form(i) if hasattr(i, "sender") else i for i in items]
    return replace(inp, transactions=rlp.encode(raw))


# -- valid blocks ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["empty", "transfers", "deploy_block", "increment"])
def test_valid_block(h, which):
    block = getattr(h, which)
    verdict = check(h.input(block), None)
    assert verdict.valid
    assert verdict.block_hash == block.hash
    out = decode_output(encode_output(verdict, Charge(fee=7, price=3)))
    header = block.header
    assert out["postStateRoot"] == header.state_root
    assert out["number"] == header.block_number
    assert out["gasUsed"] == header.gas_used
    assert out["baseFeePerGas"] == header.base_fee_per_gas
    assert out["burnedFees"] == header.base_fee_per_gas * header.gas_used
    assert out["blockHash"] == block.hash
    assert (out["executeFee"], out["executeBaseFeePerGas"]) == (7, 3)


def test_transfers_block_is_not_trivial(h):
    assert len(h.transfers.transactions) == 4
    assert h.transfers.header.gas_used == 4 * 21_000


@pytest.mark.parametrize("delta", [-1, 1])
def test_gas_limit_inside_the_bound_is_a_different_valid_block(h, delta):
    """gasLimit is free within 1/1024 of the parent's; the block (and hash) follow it."""
    parent = h.parent(h.transfers)
    gas_limit = parent.gas_limit + delta * (parent.gas_limit // 1024 - 1)
    verdict = check(replace(h.input(h.transfers), gas_limit=gas_limit), None)
    assert verdict.block_hash == h.transfers.header.copy(gas_limit=gas_limit).hash


def test_prev_randao_is_free_and_becomes_mix_hash(h):
    verdict = check(replace(h.input(h.transfers), prev_randao=b"\x77" * 32), None)
    assert verdict.block_hash == h.transfers.header.copy(mix_hash=b"\x77" * 32).hash


# -- reason 1: transaction encoding ----------------------------------------------------------


def _type4_without_destination(l2: L2Builder) -> bytes:
    key = l2.keys[1]
    auth = [[L2_CHAIN_ID, b"\x44" * 20, 0, 0, 1, 1]]
    unsigned = [L2_CHAIN_ID, 0, 10**9, 100 * 10**9, 100_000, b"", 0, b"", [], auth]
    sig = key.sign_msg_hash(keccak(b"\x04" + rlp.encode(unsigned)))
    return b"\x04" + rlp.encode(unsigned + [sig.v, sig.r, sig.s])


TX_ENCODING_CASES = {
    "not-rlp": lambda l2: b"\xff\x00",
    "rlp-but-not-a-list": lambda l2: rlp.encode(b"abc"),
    "unknown-type-byte": lambda l2: rlp.encode([b"\x07" + rlp.encode([1, 2, 3])]),
    "garbage-typed-payload": lambda l2: rlp.encode([b"\x02\xc3\x01\x02\x03"]),
    "legacy-list-of-wrong-length": lambda l2: rlp.encode([[1, 2, 3]]),
    "type4-without-destination": lambda l2: rlp.encode([_type4_without_destination(l2)]),
}


@pytest.mark.parametrize(
    "case",
    [name for name in TX_ENCODING_CASES],
)
def test_reason_1_transaction_encoding(h, case):
    transactions = TX_ENCODING_CASES[case](h.l2)
    check(replace(h.input(h.empty), transactions=transactions), Reason.TX_ENCODING)


# -- reason 2: witness encoding --------------------------------------------------------------


def _witness_encoding_cases(h):
    w = h.witness(h.transfers)
    return {
        "not-rlp": b"\xff\x00\x01",
        "empty": b"",
        "list-of-three": rlp.encode([w.headers, w.codes, w.state]),
        "list-of-five": rlp.encode([w.headers, w.codes, w.state, [], []]),
        "header-bytes-do-not-decode": encode_witness(
            [*w.headers, b"\x01\x02\x03"], w.codes, w.state
        ),
        "header-list-wrong-length": encode_witness(
            [*w.headers, [b"\x01", b"\x02"]], w.codes, w.state
        ),
        "codes-not-byte-strings": encode_witness(w.headers, [[b"\x01"]], w.state),
        "json-does-not-parse": b"{not json",
        "json-state-not-a-list": b'{"state": 1, "codes": [], "keys": [], "headers": []}',
        "json-entry-not-hex": json.dumps(
            {"state": ["0xzz"], "codes": [], "keys": [], "headers": []}
        ).encode(),
        "json-header-does-not-decode": json_witness([b"\x01\x02"], w.codes, w.state),
    }


@pytest.mark.parametrize(
    "case",
    [
        "not-rlp",
        "empty",
        "list-of-three",
        "list-of-five",
        "header-bytes-do-not-decode",
        "header-list-wrong-length",
        "codes-not-byte-strings",
        "json-does-not-parse",
        "json-state-not-a-list",
        "json-entry-not-hex",
        "json-header-does-not-decode",
    ],
)
def test_reason_2_witness_encoding(h, case):
    witness = _witness_encoding_cases(h)[case]
    check(replace(h.input(h.transfers), witness=witness), Reason.WITNESS_ENCODING)


def test_garbage_codes_and_state_entries_that_are_never_read_are_harmless(h):
    w = h.witness(h.transfers)
    witness = encode_witness(w.headers, [*w.codes, b"\x00junk"], [*w.state, b"\xc1\x80", b""])
    verdict = check(replace(h.input(h.transfers), witness=witness), None)
    assert verdict.block_hash == h.transfers.hash


# -- reason 3: parent not in the witness -------------------------------------------------------


def test_reason_3_unknown_parent_hash(h):
    check(replace(h.input(h.transfers), parent_hash=b"\x42" * 32), Reason.PARENT_NOT_IN_WITNESS)


def test_reason_3_grandparent_hash_whose_header_is_absent(h):
    grandparent = h.parent(h.transfers).parent_hash
    check(replace(h.input(h.transfers), parent_hash=grandparent), Reason.PARENT_NOT_IN_WITNESS)


def test_reason_3_forged_parent_header(h):
    """A modified copy of the parent in the witness does not hash to parentHash."""
    w = h.witness(h.transfers)
    parent = rlp.decode(w.headers[0], sedes=PragueBlockHeader)
    forged = rlp.encode(parent.copy(extra_data=b"forged"))
    witness = encode_witness([forged, *w.headers[1:]], w.codes, w.state)
    check(replace(h.input(h.transfers), witness=witness), Reason.PARENT_NOT_IN_WITNESS)


def test_reason_3_no_headers_at_all(h):
    w = h.witness(h.transfers)
    check(
        replace(h.input(h.transfers), witness=encode_witness([], w.codes, w.state)),
        Reason.PARENT_NOT_IN_WITNESS,
    )


# -- reason 4: pre-state root ---------------------------------------------------------------


def test_reason_4_wrong_pre_state_root(h):
    inp = h.input(h.transfers)
    check(replace(inp, pre_state_root=inp.post_state_root), Reason.PRE_STATE_ROOT)
    check(replace(inp, pre_state_root=b"\x00" * 32), Reason.PRE_STATE_ROOT)


# -- reason 5: header rules ------------------------------------------------------------------


def _header_rule_changes(h):
    parent = h.parent(h.transfers)
    bound = parent.gas_limit // 1024
    return {
        "number-parent+2": {"number": parent.block_number + 2},
        "number-parent": {"number": parent.block_number},
        "number-zero": {"number": 0},
        "timestamp-equal-parent": {"timestamp": parent.timestamp},
        "timestamp-before-parent": {"timestamp": parent.timestamp - 1},
        "gas-limit-up-by-bound": {"gas_limit": parent.gas_limit + bound},
        "gas-limit-down-by-bound": {"gas_limit": parent.gas_limit - bound},
        "gas-limit-zero": {"gas_limit": 0},
        "gas-limit-uint64-max": {"gas_limit": UINT64_MAX},
    }


@pytest.mark.parametrize(
    "case",
    [
        "number-parent+2",
        "number-parent",
        "number-zero",
        "timestamp-equal-parent",
        "timestamp-before-parent",
        "gas-limit-up-by-bound",
        "gas-limit-down-by-bound",
        "gas-limit-zero",
        "gas-limit-uint64-max",
    ],
)
def test_reason_5_header_rules(h, case):
    changes = _header_rule_changes(h)[case]
    check(replace(h.input(h.transfers), **changes), Reason.HEADER_RULE)


# -- reason 6: invalid transactions ----------------------------------------------------------


def _sender_block_input(h):
    """The transfers block's input: its witness covers dev keys 0..3 as senders."""
    return h.input(h.transfers)


def test_reason_6_tx_signed_for_another_chain(h):
    l2 = h.l2
    inp = _sender_block_input(h)
    nonce = h.transfers.transactions[0].nonce
    tx = l2.tx(0, value=10**18, nonce=nonce, chain_id=31337)
    check(with_txs(inp, tx, *h.transfers.transactions[1:]), Reason.INVALID_TRANSACTION)


def test_reason_6_legacy_tx_signed_for_another_chain(h):
    l2 = h.l2
    inp = _sender_block_input(h)
    original = h.transfers.transactions[3]
    unsigned = l2.builder.create_unsigned_transaction(
        nonce=original.nonce,
        gas_price=original.gas_price,
        gas=original.gas,
        to=original.to,
        value=original.value,
        data=b"",
    )
    tx = unsigned.as_signed_transaction(l2.keys[3], chain_id=1)
    check(with_txs(inp, *h.transfers.transactions[:3], tx), Reason.INVALID_TRANSACTION)


def test_reason_6_nonce_gap(h):
    inp = _sender_block_input(h)
    first = h.transfers.transactions[0]
    gap = h.l2.tx(0, value=10**18, nonce=first.nonce + 1)
    check(with_txs(inp, gap, *h.transfers.transactions[1:]), Reason.INVALID_TRANSACTION)


def test_reason_6_replayed_nonce(h):
    inp = _sender_block_input(h)
    first = h.transfers.transactions[0]
    check(with_txs(inp, first, first), Reason.INVALID_TRANSACTION)


def test_reason_6_blob_transaction(h):
    inp = _sender_block_input(h)
    nonce = h.transfers.transactions[2].nonce
    raw = blob_tx(h.l2.keys[2], nonce)
    assert raw[0] == 3
    check(
        with_txs(inp, *h.transfers.transactions[:2], raw, h.transfers.transactions[3]),
        Reason.INVALID_TRANSACTION,
    )


def test_reason_6_blob_transaction_alone_in_empty_block(h):
    check(with_txs(h.input(h.empty), blob_tx(h.l2.keys[2], 0)), Reason.INVALID_TRANSACTION)


def test_reason_6_tx_gas_above_block_gas_limit(h):
    inp = _sender_block_input(h)
    first = h.transfers.transactions[0]
    tx = h.l2.tx(0, value=1, nonce=first.nonce, gas=inp.gas_limit + 1)
    check(with_txs(inp, tx), Reason.INVALID_TRANSACTION)


def _reason_6_txs(h) -> dict[str, object]:
    """Transactions from dev key 0 (its account is in the transfers block's witness), each
    invalid for one rule of the spec's list."""
    l2 = h.l2
    nonce = h.transfers.transactions[0].nonce

    def typed(fields_changes) -> bytes:
        raw = network_form(l2.tx(0, value=1, nonce=nonce))
        fields = rlp.decode(raw[1:])
        for index, value in fields_changes.items():
            fields[index] = value
        return raw[:1] + rlp.encode(fields)

    key = l2.keys[0]
    unsigned = [L2_CHAIN_ID, nonce, 10**9, 100 * 10**9, 100_000, b"\x44" * 20, 0, b"", [], []]
    sig = key.sign_msg_hash(keccak(b"\x04" + rlp.encode(unsigned)))
    type4_empty_auth = b"\x04" + rlp.encode(unsigned + [sig.v, sig.r, sig.s])
    s_value = int.from_bytes(rlp.decode(network_form(l2.tx(0, value=1, nonce=nonce))[1:])[-1])
    y_parity = rlp.decode(network_form(l2.tx(0, value=1, nonce=nonce))[1:])[-3]
    return {
        "tip-above-fee-cap": l2.tx(0, nonce=nonce, tip=10**11, max_fee=10**10),
        "fee-cap-below-base-fee": l2.tx(0, nonce=nonce, max_fee=1, tip=1),
        "intrinsic-gas": l2.tx(0, nonce=nonce, gas=20_999),
        "eip7623-floor": l2.tx(0, nonce=nonce, gas=21_000 + 16 * 100, data=b"\x01" * 100),
        "insufficient-balance": l2.tx(0, nonce=nonce, value=2 * 10**22),
        "nonce-2^64-1": l2.tx(0, nonce=2**64 - 1),
        "initcode-too-large": l2.tx(0, nonce=nonce, to=b"", data=b"\x00" * 49_153, gas=4_000_000),
        "type4-empty-authorization-list": type4_empty_auth,
        "high-s-signature": typed(
            {-1: SECPK1_N - s_value, -3: 1 - int.from_bytes(y_parity or b"\x00")}
        ),
        "r-zero-signature": typed({-2: 0}),
        "y-parity-5": typed({-3: 5}),
    }


@pytest.mark.parametrize(
    "case",
    [
        "tip-above-fee-cap",
        "fee-cap-below-base-fee",
        "intrinsic-gas",
        "eip7623-floor",
        "insufficient-balance",
        "nonce-2^64-1",
        "initcode-too-large",
        "type4-empty-authorization-list",
        "high-s-signature",
        "r-zero-signature",
        "y-parity-5",
    ],
)
def test_reason_6_transaction_validation_rules(h, case):
    item = _reason_6_txs(h)[case]
    check(with_txs(_sender_block_input(h), item), Reason.INVALID_TRANSACTION)


@pytest.mark.parametrize(
    "changes",
    [{"parent_hash": b"\x42" * 32}, {"pre_state_root": b"\x42" * 32}, {"number": 99}],
    ids=["bad-parent", "bad-pre-state-root", "bad-number"],
)
def test_reason_1_comes_before_header_checks(h, changes):
    check(replace(h.input(h.transfers), transactions=b"\xff", **changes), Reason.TX_ENCODING)


# -- reason 7: witness incomplete ------------------------------------------------------------


def test_reason_7_each_missing_pre_state_node(h):
    """Removing any node of the pre-state trie the block read gives 7 and never "valid".

    The recorded witness also carries nodes the block writes itself (intermediate tries
    read back while building); those are unused entries, so removing them changes nothing.
    """
    block = h.increment
    inp = h.input(block)
    w = h.witness(block)
    pre_state = trie_nodes(h.l2.chain.db, h.parent(block).state_root)
    reasons = {}
    for index, node in enumerate(w.state):
        state = w.state[:index] + w.state[index + 1 :]
        verdict = verify(replace(inp, witness=encode_witness(w.headers, w.codes, state)), L2_VM)
        reasons[index] = verdict.reason
        if keccak(node) in pre_state:
            assert verdict.reason == Reason.WITNESS_INCOMPLETE, (index, verdict)
        else:
            assert verdict.reason in (None, Reason.WITNESS_INCOMPLETE), (index, verdict)
            if verdict.valid:
                assert verdict.block_hash == block.hash
    assert sum(r == Reason.WITNESS_INCOMPLETE for r in reasons.values()) >= 1
    assert any(keccak(n) in pre_state for n in w.state)


def test_reason_7_missing_code_of_called_contract(h):
    block = h.increment
    code = bytes.fromhex(load("Counter").deployed_bytecode[2:])
    assert h.l2.chain.code(h.counter, h.parent(block)) == code
    w = h.witness(block)
    assert code in w.codes
    codes = [c for c in w.codes if c != code]
    verdict = check(
        replace(h.input(block), witness=encode_witness(w.headers, codes, w.state)),
        Reason.WITNESS_INCOMPLETE,
    )
    assert verdict.block_hash == b""


@pytest.mark.parametrize("form", ["rlp", "json"])
def test_reason_7_every_missing_code(h, form):
    """Whatever code entry is removed (Counter or a system contract), the answer is 7."""
    block = h.increment
    w = h.witness(block)
    encode = encode_witness if form == "rlp" else json_witness
    for index in range(len(w.codes)):
        codes = w.codes[:index] + w.codes[index + 1 :]
        check(
            replace(h.input(block), witness=encode(w.headers, codes, w.state)),
            Reason.WITNESS_INCOMPLETE,
        )


def test_reason_7_blockhash_of_ancestor_not_covered(h):
    block = h.blockhash[3]
    w = h.witness(block)
    assert len(w.headers) >= 2  # the builder recorded headers back to the read ancestor
    check(
        replace(h.input(block), witness=encode_witness(w.headers[:1], w.codes, w.state)),
        Reason.WITNESS_INCOMPLETE,
    )


@pytest.mark.parametrize("depth", [2, 3])
def test_blockhash_block_with_its_recorded_witness_is_valid(h, depth):
    """The witness holds headers back to k+1 only; hash(k) is header k+1's parent_hash."""
    block = h.blockhash[depth]
    headers = [rlp.decode(x, sedes=PragueBlockHeader) for x in h.witness(block).headers]
    assert headers[-1].block_number == block.number - depth + 1
    verdict = check(h.input(block), None)
    assert verdict.block_hash == block.hash


def test_reason_7_forged_ancestor_header(h):
    """Replace an ancestor header (not the parent) with a modified copy: the real one is now
    missing and the copy is not hash-linked, so the BLOCKHASH it would feed is unknown."""
    block = h.blockhash[3]
    w = h.witness(block)
    inp = h.input(block)
    assert len(w.headers) >= 2
    for index in range(1, len(w.headers)):
        original = rlp.decode(w.headers[index], sedes=PragueBlockHeader)
        for forged in (
            original.copy(extra_data=b"forged"),
            original.copy(parent_hash=b"\x66" * 32),
            original.copy(state_root=b"\x67" * 32),
        ):
            headers = list(w.headers)
            headers[index] = rlp.encode(forged)
            check(
                replace(inp, witness=encode_witness(headers, w.codes, w.state)),
                Reason.WITNESS_INCOMPLETE,
            )
            # Adding the forged copy next to the real header changes nothing.
            both = [*w.headers, rlp.encode(forged)]
            assert (
                check(replace(inp, witness=encode_witness(both, w.codes, w.state)), None).block_hash
                == block.hash
            )


def test_headers_beyond_the_needed_ancestors_are_harmless(h):
    """Header k itself (not needed: header k+1 already proves hash(k)), genuine or forged."""
    block = h.blockhash[3]
    w = h.witness(block)
    extra = h.l2.chain.header_by_number(block.number - 3)
    for header in (extra, extra.copy(extra_data=b"forged")):
        witness = encode_witness([*w.headers, rlp.encode(header)], w.codes, w.state)
        assert check(replace(h.input(block), witness=witness), None).block_hash == block.hash


# -- reasons 8, 9, 10: results -------------------------------------------------------------


@pytest.mark.parametrize("delta", [-1, 1])
def test_reason_8_gas_used(h, delta):
    inp = h.input(h.transfers)
    check(replace(inp, gas_used=inp.gas_used + delta), Reason.GAS_USED)


def test_reason_8_empty_block_claiming_gas(h):
    check(replace(h.input(h.empty), gas_used=1), Reason.GAS_USED)


def test_reason_9_receipts_root(h):
    inp = h.input(h.transfers)
    check(replace(inp, receipts_root=h.input(h.increment).receipts_root), Reason.RECEIPTS_ROOT)
    check(replace(inp, receipts_root=b"\x00" * 32), Reason.RECEIPTS_ROOT)


def test_reason_10_post_state_root(h):
    inp = h.input(h.transfers)
    check(replace(inp, post_state_root=inp.pre_state_root), Reason.POST_STATE_ROOT)
    check(replace(inp, post_state_root=b"\x01" * 32), Reason.POST_STATE_ROOT)


def test_reason_10_l1_anchor_is_bound_by_the_state(h):
    """l1Anchor is written by the EIP-4788 system call, so the claimed root no longer holds."""
    check(replace(h.input(h.empty), l1_anchor=b"\x99" * 32), Reason.POST_STATE_ROOT)


def test_reason_10_coinbase_of_a_block_with_fees(h):
    """Priority fees go to the coinbase, so another coinbase gives another state."""
    check(replace(h.input(h.transfers), coinbase=b"\x55" * 20), Reason.POST_STATE_ROOT)


# -- reason 11: execution requests ---------------------------------------------------------


def test_reason_11_withdrawal_request():
    l2 = L2Builder.permissive()
    l2.build()
    pubkey, amount = b"\xaa" * 48, (5).to_bytes(8, "big")
    tx = l2.tx(0, to=WITHDRAWAL_REQUEST_ADDRESS, value=1, data=pubkey + amount, gas=200_000)
    built = l2.build([tx])
    assert len(built.block.transactions) == 1
    header = built.block.header
    assert header.requests_hash != keccak(b"") and header.requests_hash != b""
    check(l2.input_for(built.block), Reason.EXECUTION_REQUESTS)


def test_l2_builder_refuses_withdrawal_requests():
    """The L2's own builder leaves such a transaction out (it could never settle)."""
    l2 = L2Builder()
    l2.build()
    tx = l2.tx(0, to=WITHDRAWAL_REQUEST_ADDRESS, value=1, data=b"\xaa" * 56, gas=200_000)
    built = l2.build([tx], expect_all=False)
    assert len(built.block.transactions) == 0
    assert len(built.skipped) == 1
    check(l2.input_for(built.block), None)


# -- JSON and RLP witnesses ------------------------------------------------------------------


def _both_forms(h, block):
    w = h.witness(block)
    inp = h.input(block)
    return (
        replace(inp, witness=encode_witness(w.headers, w.codes, w.state)),
        replace(inp, witness=json_witness(w.headers, w.codes, w.state)),
    )


@pytest.mark.parametrize("which", ["empty", "transfers", "increment"])
def test_json_and_rlp_witness_valid(h, which):
    block = getattr(h, which)
    as_rlp, as_json = _both_forms(h, block)
    assert as_rlp.witness == h.input(block).witness  # the recorded encode_rlp() form
    assert as_json.witness[:1] == b"{"
    a, b = verify(as_rlp, L2_VM), verify(as_json, L2_VM)
    assert a.valid and b.valid
    assert a == b
    assert a.block_hash == block.hash


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"post_state_root": b"\x01" * 32}, Reason.POST_STATE_ROOT),
        ({"parent_hash": b"\x42" * 32}, Reason.PARENT_NOT_IN_WITNESS),
        ({"gas_used": 1}, Reason.GAS_USED),
        ({"timestamp": 0}, Reason.HEADER_RULE),
    ],
)
def test_json_and_rlp_witness_invalid(h, changes, reason):
    as_rlp, as_json = _both_forms(h, h.increment)
    a = verify(replace(as_rlp, **changes), L2_VM)
    b = verify(replace(as_json, **changes), L2_VM)
    assert a.reason == b.reason == reason


def test_json_and_rlp_witness_missing_code(h):
    w = h.witness(h.increment)
    code = bytes.fromhex(load("Counter").deployed_bytecode[2:])
    codes = [c for c in w.codes if c != code]
    inp = h.input(h.increment)
    a = verify(replace(inp, witness=encode_witness(w.headers, codes, w.state)), L2_VM)
    b = verify(replace(inp, witness=json_witness(w.headers, codes, w.state)), L2_VM)
    assert a.reason == b.reason == Reason.WITNESS_INCOMPLETE


def test_json_witness_with_keys_and_unprefixed_hex(h):
    w = h.witness(h.transfers)
    doc = {
        "state": [s.hex() for s in w.state],
        "codes": ["0x" + c.hex() for c in w.codes],
        "keys": ["0x" + b"\x01".hex()],
        "headers": ["0x" + x.hex() for x in w.headers],
    }
    inp = replace(h.input(h.transfers), witness=json.dumps(doc).encode())
    assert check(inp, None).block_hash == h.transfers.hash


def test_witness_headers_as_embedded_lists(h):
    w = h.witness(h.transfers)
    headers = [rlp.decode(x) for x in w.headers]
    inp = replace(h.input(h.transfers), witness=encode_witness(headers, w.codes, w.state))
    assert check(inp, None).block_hash == h.transfers.hash


# -- malformed input ------------------------------------------------------------------------


def _set_word(data: bytes, index: int, value: int | bytes) -> bytes:
    word = value if isinstance(value, bytes) else value.to_bytes(WORD, "big")
    return data[: index * WORD] + word + data[(index + 1) * WORD :]


def _word(data: bytes, index: int) -> int:
    return int.from_bytes(data[index * WORD : (index + 1) * WORD], "big")


def _malformed_cases(data: bytes) -> dict[str, bytes]:
    tx_offset, witness_offset = _word(data, 12), _word(data, 13)
    return {
        "empty": b"",
        "head-minus-one": data[: HEAD_SIZE - 1],
        "head-only-zeros": b"\x00" * HEAD_SIZE,
        "tx-offset-at-end": _set_word(data, 12, len(data)),
        "tx-offset-huge": _set_word(data, 12, 2**256 - 1),
        "witness-offset-outside": _set_word(data, 13, len(data) - WORD + 1),
        "tx-length-outside": _set_word(data, tx_offset // WORD, len(data)),
        "witness-length-outside": _set_word(data, witness_offset // WORD, len(data)),
        "witness-length-huge": _set_word(data, witness_offset // WORD, 2**256 - 1),
        "truncated-witness-tail": data[: witness_offset + WORD + 1],
        "gas-used-2^64": _set_word(data, 2, 2**64),
        "chain-id-2^64": _set_word(data, 5, 2**64),
        "number-2^64": _set_word(data, 6, 2**64),
        "gas-limit-2^64": _set_word(data, 7, 2**64),
        "timestamp-2^64": _set_word(data, 8, 2**64),
        "timestamp-2^256-1": _set_word(data, 8, 2**256 - 1),
        "coinbase-dirty-top-byte": _set_word(data, 9, b"\x01" + data[9 * WORD + 1 : 10 * WORD]),
        "coinbase-dirty-byte-11": _set_word(
            data, 9, b"\x00" * 11 + b"\x01" + data[9 * WORD + 12 : 10 * WORD]
        ),
    }


MALFORMED = [
    "empty",
    "head-minus-one",
    "head-only-zeros",
    "tx-offset-at-end",
    "tx-offset-huge",
    "witness-offset-outside",
    "tx-length-outside",
    "witness-length-outside",
    "witness-length-huge",
    "truncated-witness-tail",
    "gas-used-2^64",
    "chain-id-2^64",
    "number-2^64",
    "gas-limit-2^64",
    "timestamp-2^64",
    "timestamp-2^256-1",
    "coinbase-dirty-top-byte",
    "coinbase-dirty-byte-11",
]


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_input(h, case):
    data = encoded(h.input(h.transfers))
    assert decode_execute_input(data) == h.input(h.transfers)
    with pytest.raises(MalformedInput):
        decode_execute_input(_malformed_cases(data)[case])


@pytest.mark.parametrize(
    "index, field",
    [(2, "gas_used"), (5, "chain_id"), (6, "number"), (7, "gas_limit"), (8, "timestamp")],
)
def test_uint64_max_fits(h, index, field):
    data = _set_word(encoded(h.input(h.transfers)), index, UINT64_MAX)
    inp = decode_execute_input(data)
    assert getattr(inp, field) == UINT64_MAX
    assert verify(inp, L2_VM).reason is not None  # decodes; the block itself is invalid


def test_zero_length_tails_decode(h):
    inp = replace(h.input(h.empty), transactions=b"", witness=b"")
    decoded = decode_execute_input(encoded(inp))
    assert decoded.transactions == b"" and decoded.witness == b""
    # Verification decodes the transactions first: empty bytes are not an RLP list.
    assert verify(decoded, L2_VM).reason == Reason.TX_ENCODING


def test_tails_in_any_order_and_with_trailing_bytes(h):
    """Standard ABI decoding follows the offsets; padding and trailing bytes are ignored."""
    inp = h.input(h.transfers)
    data = encoded(inp)
    tx_offset, witness_offset = _word(data, 12), _word(data, 13)
    tx_tail, witness_tail = data[tx_offset:witness_offset], data[witness_offset:]
    swapped = _set_word(
        _set_word(data[:HEAD_SIZE], 12, HEAD_SIZE + len(witness_tail)), 13, HEAD_SIZE
    )
    swapped += witness_tail + tx_tail + b"\xee" * 5
    decoded = decode_execute_input(swapped)
    assert decoded == inp
    assert check(decoded, None).block_hash == h.transfers.hash


# -- robustness: verify() must survive any witness bytes ----------------------------------

DEEP_JSON_SCRIPT = """
import sys
from node.fork.l1 import L1PragueVM  # imports what the L1 node imports
from node.fork import DevnetPragueVM
from precompiles.execute import verify
from precompiles.execute_wire import ExecuteInput
z = bytes(32)
depth = 100_000
witness = b'{"state": ' + b"[" * depth + b"]" * depth + b"}"
inp = ExecuteInput(z, z, 0, z, z, 1, 1, 5_000_000, 1, bytes(20), z, z, b"\\xc0", witness)
print(int(verify(inp, DevnetPragueVM).reason))
"""


def test_deeply_nested_json_witness_is_reason_2_not_a_crash():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-c", DEEP_JSON_SCRIPT],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"verify() killed the interpreter: exit {proc.returncode}"
    assert proc.stdout.split()[-1] == b"2"


# -- the verdict cache -------------------------------------------------------------------


def test_verdict_cache_hits_on_identical_bytes(h):
    cache = VerdictCache()
    data = encoded(h.input(h.transfers))
    first = cache.get_or_verify(data, decode_execute_input(data), L2_VM)
    assert cache.hits == 0
    second = cache.get_or_verify(bytes(data), decode_execute_input(data), L2_VM)
    assert cache.hits == 1
    assert first == second and first.valid
    other = encoded(h.input(h.transfers), gas_used=1)
    third = cache.get_or_verify(other, decode_execute_input(other), L2_VM)
    assert cache.hits == 1 and third.reason == Reason.GAS_USED
    cache.get_or_verify(other, decode_execute_input(other), L2_VM)
    assert cache.hits == 2


def test_verdict_cache_is_bounded(h):
    cache = VerdictCache(size=2)
    inputs = [encoded(h.input(h.empty), gas_used=g) for g in (1, 2, 3)]
    for data in inputs:
        cache.get_or_verify(data, decode_execute_input(data), L2_VM)
    cache.get_or_verify(inputs[0], decode_execute_input(inputs[0]), L2_VM)
    assert cache.hits == 0  # the oldest entry was evicted
    cache.get_or_verify(inputs[2], decode_execute_input(inputs[2]), L2_VM)
    assert cache.hits == 1
