"""EXECUTE's input: ``abi.encode(ExecuteHead head, bytes transactions, bytes witness)``.

``ExecuteHead`` is a static struct of 12 words, so the encoding is 14 head words (the 12
fields, then the two tail offsets) followed by the tails. Anything that does not fit is
``MalformedInput``, which EXECUTE turns into an exceptional halt.
"""

from __future__ import annotations

from dataclasses import dataclass

WORD = 32
HEAD_WORDS = 14
HEAD_SIZE = HEAD_WORDS * WORD
UINT64_MAX = 2**64 - 1


class MalformedInput(ValueError):
    """Input that is not a well-formed ``(ExecuteHead, bytes, bytes)`` encoding."""


@dataclass(frozen=True)
class ExecuteInput:
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
