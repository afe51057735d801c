"""EXECUTE's wire format (NR-EXECUTE v1): everything a caller of EXECUTE needs to build its
input and read its answer, importable without py-evm.

- the address (``0x…0101``) and the L1 gas of a call: a fixed charge plus a charge per word;
- the input ``abi.encode(ExecuteHead head, bytes transactions, bytes witness)``:
  ``ExecuteHead`` is a static struct of 12 words, so the encoding is 14 head words (the 12
  fields, then the two tail offsets) followed by the tails. Anything that does not fit is
  ``MalformedInput``, which EXECUTE turns into an exceptional halt;
- the transactions tail (a block body's transaction list) and the witness in its canonical
  RLP form ``[headers, codes, state, keys]``;
- the answer: 8 words on a valid block (``ExecuteOutput``), or a revert with
  ``ExecuteInvalid(reason)`` whose reason codes are ``Reason``.

The precompile (``precompiles.execute``), the node's witness store, the sequencer, the
scripts and the tests all take these from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from enum import IntEnum

import rlp
from eth_abi import decode
from eth_hash.auto import keccak

EXECUTE_ADDRESS = b"\x00" * 18 + b"\x01\x01"
EXECUTE_GAS_COST = 100_000
EXECUTE_WORD_GAS = 6
WORD = 32
HEAD_WORDS = 14
HEAD_SIZE = HEAD_WORDS * WORD
UINT64_MAX = 2**64 - 1
EXECUTE_INVALID = "ExecuteInvalid(uint256)"
EXECUTE_INVALID_SELECTOR = keccak(EXECUTE_INVALID.encode())[:4]


def execute_gas_cost(input_length: int) -> int:
    """L1 gas of one EXECUTE call: a fixed charge plus a charge per input word."""
    return EXECUTE_GAS_COST + EXECUTE_WORD_GAS * ((input_length + 31) // 32)


def execute_input_length(transactions_length: int, witness_length: int) -> int:
    """Bytes of ``abi.encode(ExecuteHead, transactions, witness)`` for tails of these sizes."""

    def tail(n: int) -> int:
        return WORD + (n + WORD - 1) // WORD * WORD

    return HEAD_SIZE + tail(transactions_length) + tail(witness_length)


# -- reasons ---------------------------------------------------------------------------------


class Reason(IntEnum):
    """Why EXECUTE found a block invalid: the argument of ``ExecuteInvalid(uint256)``."""

    TX_ENCODING = 1
    WITNESS_ENCODING = 2
    PARENT_NOT_IN_WITNESS = 3
    PRE_STATE_ROOT = 4
    HEADER_RULE = 5
    INVALID_TRANSACTION = 6
    WITNESS_INCOMPLETE = 7
    GAS_USED = 8
    RECEIPTS_ROOT = 9
    POST_STATE_ROOT = 10
    EXECUTION_REQUESTS = 11
    VERIFIERS_DISAGREE = 12  # NR-EXECUTE v1.2, mode "all"

    @property
    def description(self) -> str:
        """The reason in a few words, e.g. ``post-state root``."""
        return REASON_DESCRIPTIONS[self]


REASON_DESCRIPTIONS = {
    Reason.TX_ENCODING: "tx encoding",
    Reason.WITNESS_ENCODING: "witness encoding",
    Reason.PARENT_NOT_IN_WITNESS: "parent not in witness",
    Reason.PRE_STATE_ROOT: "pre-state root",
    Reason.HEADER_RULE: "header rule",
    Reason.INVALID_TRANSACTION: "invalid transaction",
    Reason.WITNESS_INCOMPLETE: "witness incomplete",
    Reason.GAS_USED: "gas used",
    Reason.RECEIPTS_ROOT: "receipts root",
    Reason.POST_STATE_ROOT: "post-state root",
    Reason.EXECUTION_REQUESTS: "execution requests",
    Reason.VERIFIERS_DISAGREE: "verifiers disagree",
}


def describe_reason(code: int) -> str:
    """``Reason(code).description``, or ``?`` for a code EXECUTE never gives."""
    try:
        return Reason(code).description
    except ValueError:
        return "?"


def encode_invalid(reason: Reason) -> bytes:
    """The revert data of an invalid block: ``ExecuteInvalid(reason)``."""
    return EXECUTE_INVALID_SELECTOR + int(reason).to_bytes(WORD, "big")


def decode_invalid(data: bytes) -> Reason | None:
    """The reason in ``ExecuteInvalid(reason)`` revert data; None for any other data."""
    if len(data) != 4 + WORD or data[:4] != EXECUTE_INVALID_SELECTOR:
        return None
    try:
        return Reason(int.from_bytes(data[4:], "big"))
    except ValueError:
        return None


# -- output ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecuteOutput:
    """The 8 words EXECUTE returns for a valid block."""

    post_state_root: bytes
    number: int
    gas_used: int
    burned_fees: int
    base_fee_per_gas: int
    block_hash: bytes
    execute_fee: int
    execute_base_fee_per_gas: int

    def encode(self) -> bytes:
        return b"".join(
            value if isinstance(value, bytes) else value.to_bytes(WORD, "big")
            for value in astuple(self)
        )

    @classmethod
    def decode(cls, data: bytes) -> ExecuteOutput:
        return cls(*decode(OUTPUT_TYPES, data))


OUTPUT_TYPES = [
    "bytes32",
    "uint256",
    "uint256",
    "uint256",
    "uint256",
    "bytes32",
    "uint256",
    "uint256",
]
# The output words by their Solidity names (``NativeRollup`` reads them so).
OUTPUT_FIELDS = (
    "postStateRoot",
    "number",
    "gasUsed",
    "burnedFees",
    "baseFeePerGas",
    "blockHash",
    "executeFee",
    "executeBaseFeePerGas",
)


def decode_output(data: bytes) -> dict[str, int | bytes]:
    """EXECUTE's output words by their Solidity names."""
    output = ExecuteOutput.decode(data)
    values = [getattr(output, f.name) for f in fields(output)]
    return dict(zip(OUTPUT_FIELDS, values, strict=True))


# -- the tails -------------------------------------------------------------------------------


def encode_witness(
    headers: Sequence[bytes],
    codes: Sequence[bytes],
    state: Sequence[bytes],
    keys: Sequence[bytes] = (),
) -> bytes:
    """A witness in EXECUTE's canonical RLP form ``[headers, codes, state, keys]``."""
    return rlp.encode([list(headers), list(codes), list(state), list(keys)])


def encode_body_transactions(raw_transactions: Sequence[bytes]) -> bytes:
    """A block body's transaction list from transactions in network form: legacy ones
    embedded as lists, typed ones as byte strings."""
    items = [rlp.decode(raw) if raw[0] >= 0xC0 else raw for raw in raw_transactions]
    return rlp.encode(items)


# -- input -----------------------------------------------------------------------------------


class MalformedInput(ValueError):
    """Input that is not a well-formed ``(ExecuteHead, bytes, bytes)`` encoding."""


@dataclass(frozen=True)
class ExecuteInput:
    """The decoded input: ``ExecuteHead``'s 12 fields, then the two tails."""

    pre_state_root: bytes
    post_state_root: bytes
    gas_used: int
    receipts_root: bytes
    parent_hash: bytes
    chain_id: int
    number: int
    gas_limit: int
    timestamp: int
    coinbase: bytes
    prev_randao: bytes
    l1_anchor: bytes
    transactions: bytes
    witness: bytes


def _word(data: bytes, index: int) -> bytes:
    return data[index * WORD : (index + 1) * WORD]


def _uint64(data: bytes, index: int, name: str) -> int:
    value = int.from_bytes(_word(data, index), "big")
    if value > UINT64_MAX:
        raise MalformedInput(f"{name} does not fit uint64")
    return value


def _tail(data: bytes, offset_word: int, name: str) -> bytes:
    offset = int.from_bytes(_word(data, offset_word), "big")
    if offset < HEAD_SIZE or offset + WORD > len(data):
        raise MalformedInput(f"offset of {name} outside the input")
    length = int.from_bytes(data[offset : offset + WORD], "big")
    start = offset + WORD
    if length > len(data) - start:
        raise MalformedInput(f"length of {name} outside the input")
    return data[start : start + length]


def decode_execute_input(data: bytes) -> ExecuteInput:
    """Decode EXECUTE's input; ``MalformedInput`` if it is not a well-formed encoding."""
    if len(data) < HEAD_SIZE:
        raise MalformedInput(f"input is {len(data)} bytes, the head alone is {HEAD_SIZE}")
    coinbase_word = _word(data, 9)
    if coinbase_word[:12] != b"\x00" * 12:
        raise MalformedInput("coinbase has dirty high bytes")
    return ExecuteInput(
        pre_state_root=_word(data, 0),
        post_state_root=_word(data, 1),
        gas_used=_uint64(data, 2, "gasUsed"),
        receipts_root=_word(data, 3),
        parent_hash=_word(data, 4),
        chain_id=_uint64(data, 5, "chainId"),
        number=_uint64(data, 6, "number"),
        gas_limit=_uint64(data, 7, "gasLimit"),
        timestamp=_uint64(data, 8, "timestamp"),
        coinbase=coinbase_word[12:],
        prev_randao=_word(data, 10),
        l1_anchor=_word(data, 11),
        transactions=_tail(data, 12, "transactions"),
        witness=_tail(data, 13, "witness"),
    )


def encode_execute_input(inp: ExecuteInput) -> bytes:
    """The canonical encoding (what ``abi.encode`` in Solidity produces)."""

    def pad(b: bytes) -> bytes:
        return b + b"\x00" * (-len(b) % WORD)

    def u(value: int) -> bytes:
        return value.to_bytes(WORD, "big")

    tx_tail = u(len(inp.transactions)) + pad(inp.transactions)
    head = b"".join(
        [
            inp.pre_state_root,
            inp.post_state_root,
            u(inp.gas_used),
            inp.receipts_root,
            inp.parent_hash,
            u(inp.chain_id),
            u(inp.number),
            u(inp.gas_limit),
            u(inp.timestamp),
            b"\x00" * 12 + inp.coinbase,
            inp.prev_randao,
            inp.l1_anchor,
            u(HEAD_SIZE),
            u(HEAD_SIZE + len(tx_tail)),
        ]
    )
    return head + tx_tail + u(len(inp.witness)) + pad(inp.witness)
