"""Property tests of EXECUTE's decoding and verification (hypothesis), in process.

Inputs are random bytes, random heads over random or real tails, and MUTATIONS of valid
inputs for real L2 blocks (built by an in-process ``Chain`` on genesis/l2.json): bytes
flipped, inserted or deleted anywhere, head words overwritten, tails truncated, witness
entries shuffled, duplicated, dropped or padded with junk, transactions dropped, duplicated
or swapped. For every input:

- ``decode_execute_input`` either raises ``MalformedInput`` or returns an ``ExecuteInput``;
- ``verify`` then returns a ``Verdict`` (never raises) with no reason or a reason in 1..11;
- a valid verdict is only given for the block the input encodes: every field that binds
  the block (roots, gas used, parent, number, timestamp, anchor, transactions, and chain id
  and coinbase where they matter) equals the original, and the block hash is the original
  header with the free fields (gasLimit, prevRandao, coinbase) of the mutated input;
- re-ordered or duplicated witness entries (RLP or JSON) stay valid with the same hash.

Size: ``EXECUTE_FUZZ_EXAMPLES`` (default 300) examples for the main properties, fewer for
re-ordering the witness; ``deadline=None``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, fields, replace
from functools import cache

import rlp
from eth.db.trie import make_trie_root_and_nodes
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from devtools.l2_blocks import L2_VM, L2Builder, calldata
from precompiles.execute import Verdict, decode_transactions, verify
from precompiles.execute_wire import (
    HEAD_SIZE,
    UINT64_MAX,
    ExecuteInput,
    MalformedInput,
    Reason,
    decode_execute_input,
    encode_execute_input,
)

EXAMPLES = int(os.environ.get("EXECUTE_FUZZ_EXAMPLES", "300"))
settings.register_profile(
    "execute-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
FUZZ = settings.get_profile("execute-fuzz")
FEWER = settings(FUZZ, max_examples=max(EXAMPLES // 2, 10))
WORD = 32

# Fields that are not free: a valid verdict for a mutated input must keep them.
# ``transactions`` may change (e.g. two independent transfers swapped): the block is then
# another valid block, whose hash must commit to the new transactions root.
BOUND_FIELDS = (
    "pre_state_root",
    "post_state_root",
    "gas_used",
    "receipts_root",
    "parent_hash",
    "number",
    "timestamp",
    "l1_anchor",
)
# verify()'s catch-all (an exception it did not classify) is tolerated only for these, which
# are invalid signatures and so reason 6 as the spec says.
SIGNATURE_ERRORS = ("BadSignature",)


@dataclass(frozen=True)
class Case:
    """One generated input; its repr stays short (the inputs are kilobytes)."""

    data: bytes
    base: Base | None
    how: str

    def __repr__(self) -> str:
        base = self.base.name if self.base else None
        head = self.data.hex()[:64]
        return f"Case({self.how}, base={base}, {len(self.data)} bytes, data=0x{head}...)"


@dataclass(frozen=True)
class Base:
    name: str
    inp: ExecuteInput
    data: bytes
    header: object  # the L2 block header the input encodes
    witness: object  # node.witness.ExecutionWitness


@cache
def bases() -> tuple[Base, ...]:
    """Valid inputs for a few real L2 blocks: empty, transfers, contract call, BLOCKHASH of
    an ancestor three blocks back (witness headers parent..k+1)."""
    l2 = L2Builder()
    empty = l2.build().block
    transfers = l2.build(
        [l2.tx(0, value=10**18), l2.tx(1, to=b"\x12" * 20, value=3), l2.legacy_tx(3)]
    ).block
    deploy, counter = l2.deploy("Counter", (["uint256"], [1]))
    l2.build([deploy])
    call = l2.build(
        [l2.tx(1, to=counter, data=calldata("increment()"), gas=100_000), l2.tx(2, value=9)]
    ).block
    reader_tx, reader = l2.deploy("BlockHashReader")
    l2.build([reader_tx])
    blockhash = l2.build(
        [l2.tx(3, to=reader, gas=100_000, data=calldata("record(uint256)", ["uint256"], [3]))]
    ).block
    out = []
    for name, block in (
        ("empty", empty),
        ("transfers", transfers),
        ("call", call),
        ("blockhash", blockhash),
    ):
        inp = l2.input_for(block)
        verdict = verify(inp, L2_VM)
        assert verdict.valid and verdict.block_hash == block.hash, verdict
        out.append(
            Base(name, inp, encode_execute_input(inp), block.header, l2.chain.witnesses[block.hash])
        )
    return tuple(out)


class _Unexpected(logging.Handler):
    """Counts verify()'s "failed unexpectedly" fallback (an exception it did not classify)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


UNEXPECTED = _Unexpected()
logging.getLogger("native_devnet.execute").addHandler(UNEXPECTED)


def _event(name: str) -> None:
    if currently_in_test_context():
        event(name)


def judge(data: bytes, base: Base | None) -> Verdict | None:
    """Decode and verify ``data``; check the verdict against the base input it came from."""
    try:
        inp = decode_execute_input(data)
    except MalformedInput:
        _event("malformed")
        return None
    assert isinstance(inp, ExecuteInput)
    before = len(UNEXPECTED.messages)
    verdict = verify(inp, L2_VM)
    assert isinstance(verdict, Verdict)
    _event(f"reason {verdict.reason}")
    for message in UNEXPECTED.messages[before:]:
        assert any(e in message for e in SIGNATURE_ERRORS), message
        assert verdict.reason == Reason.INVALID_TRANSACTION, verdict
    if verdict.reason is not None:
        assert Reason(verdict.reason) in Reason and 1 <= verdict.reason <= 11
        assert verdict.block_hash == b""
        return verdict
    assert base is not None, "random bytes were accepted as a valid block"
    assert_same_block(inp, verdict, base)
    return verdict


def assert_same_block(inp: ExecuteInput, verdict: Verdict, base: Base) -> None:
    changed = {
        f.name for f in fields(ExecuteInput) if getattr(inp, f.name) != getattr(base.inp, f.name)
    }
    assert not changed & set(BOUND_FIELDS), f"valid with bound fields changed: {changed}"
    has_txs = base.header.gas_used > 0
    if has_txs:
        assert "chain_id" not in changed, "valid with another chain id for signed txs"
        assert "coinbase" not in changed, "valid with another fee recipient"
    transactions = decode_transactions(inp.transactions, L2_VM)
    tx_root, _ = make_trie_root_and_nodes(tuple(transactions))
    expected = base.header.copy(
        gas_limit=inp.gas_limit,
        mix_hash=inp.prev_randao,
        coinbase=inp.coinbase,
        transaction_root=tx_root,
    )
    assert verdict.block_hash == expected.hash
    assert verdict.post_state_root == base.inp.post_state_root
    assert verdict.number == base.header.block_number
    assert verdict.gas_used == base.header.gas_used
    if not changed - {"witness"}:
        assert verdict.block_hash == base.header.hash


# -- strategies -------------------------------------------------------------------------

bases_st = st.integers(0, 3).map(lambda i: bases()[i])


def _u(value: int) -> bytes:
    return (value % 2**256).to_bytes(WORD, "big")


interesting_words = st.one_of(
    st.binary(min_size=WORD, max_size=WORD),
    st.sampled_from(
        [0, 1, 2, 31, 32, 448, 480, UINT64_MAX, UINT64_MAX + 1, 2**255, 2**256 - 1]
    ).map(_u),
    st.integers(0, 2**64 + 5).map(_u),
)


@st.composite
def byte_mutation(draw, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "overwrite"]))
    n = len(data)
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, n - 1))] ^= draw(st.integers(1, 255))
        return bytes(out)
    if kind == "insert":
        at = draw(st.integers(0, n))
        return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    if kind == "delete":
        at = draw(st.integers(0, n - 1))
        return data[:at] + data[at + draw(st.integers(1, 64)) :]
    if kind == "truncate":
        return data[: draw(st.integers(0, n - 1))]
    at = draw(st.integers(0, n - 1))
    chunk = draw(st.binary(min_size=1, max_size=32))
    return data[:at] + chunk + data[at + len(chunk) :]


@st.composite
def mutated(draw) -> Case:
    base = draw(bases_st)
    region = draw(st.sampled_from(["input", "transactions", "witness"]))
    if region == "input":
        data = base.data
    else:  # mutate inside one tail and re-encode, so that the offsets stay consistent
        data = getattr(base.inp, region)
    for _ in range(draw(st.integers(1, 3))):
        if len(data) == 0:
            break
        data = draw(byte_mutation(data))
    if region != "input":
        data = encode_execute_input(replace(base.inp, **{region: data}))
    return Case(data, base, f"bytes-in-{region}")


@st.composite
def head_word_mutated(draw) -> Case:
    base = draw(bases_st)
    data = bytearray(base.data)
    for _ in range(draw(st.integers(1, 2))):
        index = draw(st.integers(0, 13))
        word = draw(interesting_words)
        if draw(st.booleans()):  # near the original value
            value = int.from_bytes(base.data[index * WORD : (index + 1) * WORD], "big")
            word = _u(value + draw(st.integers(-2, 2)))
        data[index * WORD : (index + 1) * WORD] = word
    return Case(bytes(data), base, "head-words")


def _witness_lists(base: Base) -> list[list]:
    w = base.witness
    return [list(w.headers), list(w.codes), list(w.state), []]


@st.composite
def witness_reordered(draw) -> Case:
    """Entries shuffled and duplicated within each list; never removed."""
    base = draw(bases_st)
    lists = _witness_lists(base)
    out = []
    for entries in lists:
        entries = entries + draw(st.lists(st.sampled_from(entries), max_size=3)) if entries else []
        out.append(draw(st.permutations(entries)))
    keys = draw(st.lists(st.binary(max_size=40), max_size=3))
    form = draw(st.sampled_from(["rlp", "json"]))
    if form == "rlp":
        witness = rlp.encode([out[0], out[1], out[2], keys])
    else:
        witness = json.dumps(
            {
                "state": ["0x" + s.hex() for s in out[2]],
                "codes": ["0x" + c.hex() for c in out[1]],
                "keys": ["0x" + k.hex() for k in keys],
                "headers": ["0x" + x.hex() for x in out[0]],
            }
        ).encode()
    return Case(encode_execute_input(replace(base.inp, witness=witness)), base, form)


@st.composite
def structurally_mutated(draw) -> Case:
    """Witness entries dropped or replaced by junk, witness truncated, transactions
    dropped/duplicated/swapped; re-encoded as a well-formed input."""
    base = draw(bases_st)
    kind = draw(
        st.sampled_from(
            [
                "drop-entry",
                "junk-entry",
                "truncate-witness",
                "tx-drop",
                "tx-duplicate",
                "tx-swap",
                "tx-bytes",
            ]
        )
    )
    inp = base.inp
    if kind in ("drop-entry", "junk-entry"):
        lists = _witness_lists(base)
        which = draw(st.sampled_from([i for i in range(3) if lists[i]]))
        at = draw(st.integers(0, len(lists[which]) - 1))
        if kind == "drop-entry":
            del lists[which][at]
        else:
            entry = bytearray(lists[which][at])
            entry[draw(st.integers(0, len(entry) - 1))] ^= draw(st.integers(1, 255))
            lists[which][at] = bytes(entry)
        inp = replace(inp, witness=rlp.encode(lists))
    elif kind == "truncate-witness":
        inp = replace(inp, witness=inp.witness[: draw(st.integers(0, len(inp.witness) - 1))])
    else:
        items = rlp.decode(inp.transactions)
        if kind == "tx-drop" and items:
            del items[draw(st.integers(0, len(items) - 1))]
        elif kind == "tx-duplicate" and items:
            items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from(items)))
        elif kind == "tx-swap" and len(items) >= 2:
            i, j = draw(st.permutations(range(len(items))))[:2]
            items[i], items[j] = items[j], items[i]
        elif kind == "tx-bytes":
            raw = bytearray(inp.transactions)
            raw[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(1, 255))
            return Case(encode_execute_input(replace(inp, transactions=bytes(raw))), base, kind)
        inp = replace(inp, transactions=rlp.encode(items))
    return Case(encode_execute_input(inp), base, kind)


@st.composite
def random_head_over_tails(draw) -> Case:
    """A well-formed encoding with random head fields over random or real tails."""
    base = draw(bases_st)
    real = draw(st.booleans())
    inp = ExecuteInput(
        pre_state_root=draw(st.binary(min_size=32, max_size=32)),
        post_state_root=draw(st.binary(min_size=32, max_size=32)),
        gas_used=draw(st.integers(0, UINT64_MAX)),
        receipts_root=draw(st.binary(min_size=32, max_size=32)),
        parent_hash=base.inp.parent_hash if real else draw(st.binary(min_size=32, max_size=32)),
        chain_id=draw(st.integers(0, UINT64_MAX)),
        number=draw(st.integers(0, UINT64_MAX)),
        gas_limit=draw(st.integers(0, UINT64_MAX)),
        timestamp=draw(st.integers(0, UINT64_MAX)),
        coinbase=draw(st.binary(min_size=20, max_size=20)),
        prev_randao=draw(st.binary(min_size=32, max_size=32)),
        l1_anchor=draw(st.binary(min_size=32, max_size=32)),
        transactions=(
            base.inp.transactions if draw(st.booleans()) else draw(st.binary(max_size=300))
        ),
        witness=base.inp.witness if real else draw(st.binary(max_size=300)),
    )
    return Case(encode_execute_input(inp), base, "random-head")


# -- properties --------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    judge(data, None)


@FUZZ
@given(st.binary(min_size=HEAD_SIZE, max_size=HEAD_SIZE + 600))
def test_random_bytes_at_least_a_head(data):
    judge(data, None)


@FUZZ
@given(random_head_over_tails())
def test_random_head_over_tails(case):
    verdict = judge(case.data, case.base)
    assert verdict is not None  # a canonical encoding always decodes


@FUZZ
@given(mutated())
def test_byte_mutations_of_valid_input(case):
    judge(case.data, case.base)


@FUZZ
@given(head_word_mutated())
def test_head_word_mutations(case):
    judge(case.data, case.base)


@FUZZ
@given(structurally_mutated())
def test_structural_mutations(case):
    verdict = judge(case.data, case.base)
    assert verdict is not None


@FEWER
@given(witness_reordered())
def test_reordered_and_duplicated_witness_entries_stay_valid(case):
    verdict = judge(case.data, case.base)
    assert verdict is not None and verdict.valid, verdict
    assert verdict.block_hash == case.base.header.hash


def test_swapped_independent_transfers_are_another_valid_block():
    """The receipts and state of independent transfers do not depend on their order, so
    the swapped block is valid too, with its own transactions root and hash."""
    base = bases()[1]
    items = rlp.decode(base.inp.transactions)
    items[0], items[1] = items[1], items[0]
    verdict = judge(encode_execute_input(replace(base.inp, transactions=rlp.encode(items))), base)
    assert verdict.valid and verdict.block_hash != base.header.hash


def test_bases_are_valid():
    names = [b.name for b in bases()]
    assert names == ["empty", "transfers", "call", "blockhash"]
    for base in bases():
        assert judge(base.data, base).block_hash == base.header.hash
