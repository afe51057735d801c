"""One L2 block as ``NativeRollup.advance`` input: the header fields the sequencer claims, the
block body and the execution witness, fetched from the L2 node.

``Witness`` is ``debug_executionWitness`` in parts with EXECUTE's canonical RLP encoding
(``precompiles.execute_wire``); ``AdvanceInput`` can be overridden field by field to forge an
advance (``sequencer.scenario_attacks``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import rlp
from eth_hash.auto import keccak

from precompiles.execute_wire import encode_witness, execute_input_length
from sequencer.client import RpcClient, h2b, h2i
from sequencer.messages import ADVANCE, ADVANCE_TO, calldata


@dataclass(frozen=True)
class Witness:
    """``debug_executionWitness`` in parts; ``encode`` gives EXECUTE's canonical RLP form."""

    headers: tuple[bytes, ...]
    codes: tuple[bytes, ...]
    state: tuple[bytes, ...]
    keys: tuple[bytes, ...]

    @classmethod
    def from_json(cls, doc: dict) -> Witness:
        return cls(
            *(
                tuple(h2b(x) for x in doc.get(k) or [])
                for k in ("headers", "codes", "state", "keys")
            )
        )

    def encode(self) -> bytes:
        return encode_witness(self.headers, self.codes, self.state, self.keys)

    def without_state_node(self, node_hash: bytes) -> Witness:
        state = tuple(n for n in self.state if keccak(n) != node_hash)
        if len(state) == len(self.state):
            raise ValueError(f"no state node 0x{node_hash.hex()} in the witness")
        return replace(self, state=state)

    def without_code(self, code_hash: bytes) -> Witness:
        codes = tuple(c for c in self.codes if keccak(c) != code_hash)
        if len(codes) == len(self.codes):
            raise ValueError(f"no code 0x{code_hash.hex()} in the witness")
        return replace(self, codes=codes)


@dataclass(frozen=True)
class AdvanceInput:
    """The sequencer's fields of ``advance(...)`` for one L2 block (override to forge)."""

    number: int
    block_hash: bytes
    post_state_root: bytes
    receipts_root: bytes
    gas_used: int
    timestamp: int
    coinbase: bytes
    prev_randao: bytes
    anchor: bytes
    transactions: bytes
    witness: Witness
    tx_count: int
    # ``advanceTo(number, ...)`` instead of ``advance(...)``: the number is checked first (a
    # lost race fails with ``BlockAlreadySettled``), and due forced transactions may be left
    # out with their invalidity proofs ``(l2Tx, witness)``.
    advance_to: bool = False
    invalid: tuple[tuple[bytes, bytes], ...] = ()

    def calldata(self) -> bytes:
        if self.advance_to or self.invalid:
            return calldata(
                ADVANCE_TO,
                self.number,
                (
                    self.post_state_root,
                    self.receipts_root,
                    self.gas_used,
                    self.timestamp,
                    self.coinbase,
                    self.prev_randao,
                    self.anchor,
                ),
                self.transactions,
                self.witness.encode(),
                list(self.invalid),
            )
        return calldata(
            ADVANCE,
            self.post_state_root,
            self.receipts_root,
            self.gas_used,
            self.timestamp,
            self.coinbase,
            self.prev_randao,
            self.anchor,
            self.transactions,
            self.witness.encode(),
        )

    @property
    def witness_bytes(self) -> int:
        return len(self.witness.encode())

    @property
    def execute_input_length(self) -> int:
        """``abi.encode(ExecuteHead, transactions, witness)`` as ``advance`` builds it."""
        return execute_input_length(len(self.transactions), self.witness_bytes)


def fetch_advance_input(l2: RpcClient, number: int) -> AdvanceInput:
    """``advance`` input for L2 block ``number``: header fields, body, execution witness."""
    block = l2.block(number)
    raw_block = rlp.decode(h2b(l2.call("debug_getRawBlock", hex(number))))
    witness = Witness.from_json(l2.call("debug_executionWitness", hex(number)))
    return AdvanceInput(
        number=number,
        block_hash=h2b(block["hash"]),
        post_state_root=h2b(block["stateRoot"]),
        receipts_root=h2b(block["receiptsRoot"]),
        gas_used=h2i(block["gasUsed"]),
        timestamp=h2i(block["timestamp"]),
        coinbase=h2b(block["miner"]),
        prev_randao=h2b(block["mixHash"]),
        anchor=h2b(block.get("parentBeaconBlockRoot") or "0x" + "00" * 32),
        transactions=rlp.encode(raw_block[1]),
        witness=witness,
        tx_count=len(raw_block[1]),
    )
