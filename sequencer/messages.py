"""The rollup's message format both ways, the L1 message tree in Python, ABI helpers and
revert decoding.

A message (``RollupMessages.Message``) is committed to by
``keccak256(abi.encodePacked(sender, to, value, fee, keccak256(data), index))``. L1 -> L2
messages are leaves of an OpenZeppelin ``MerkleTree`` on L1 (depth 32, empty leaf zero,
commutative keccak pairs); ``MessageTree`` rebuilds it so the relayer can prove a leaf to
the L2 messenger (``MerkleProof.verify``). L2 -> L1 messages sit in the messenger's
``sentMessages`` array (storage slot 0), which the L1 proves with ``eth_getProof`` data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import rlp
from eth_abi import decode, encode
from eth_hash.auto import keccak

ZERO32 = b"\x00" * 32
MESSAGE_TREE_DEPTH = 32
SENT_MESSAGES_SLOT = 0
MESSAGE_TYPE = "(address,address,uint256,uint256,bytes,uint256)"

# NativeRollup
ADVANCE = "advance(bytes32,bytes32,uint256,uint256,address,bytes32,bytes32,bytes,bytes)"
L1_SEND = "sendMessage(address,uint256,bytes)"
L1_CLAIM = f"claimL2Message({MESSAGE_TYPE},uint256,bytes[],bytes[])"
ROLLUP_CONSTRUCTOR = ["bytes32", "bytes32", "uint256", "uint256", "address", "address"]
# L2Messenger
L2_SEND = "sendMessage(address,uint256,bytes)"
L2_CLAIM = f"claim({MESSAGE_TYPE},bytes32[],uint256)"

MESSAGE_SENT_L1 = "MessageSent(uint256,address,address,uint256,uint256,bytes,bytes32)"
MESSAGE_SENT_L2 = "MessageSent(uint256,address,address,uint256,uint256,bytes,bytes32)"
BLOCK_SETTLED = "BlockSettled(uint256,bytes32,bytes32,uint256,uint256,uint256)"

# Errors that appear in revert data but not in the contracts' ABIs.
EXTRA_ERRORS = (
    "ExecuteInvalid(uint256)",
    "TrieProofTraversalError(uint8)",
    "RLPInvalidEncoding()",
    "Panic(uint256)",
    "Error(string)",
)
EXECUTE_REASONS = {
    1: "tx encoding",
    2: "witness encoding",
    3: "parent not in witness",
    4: "pre-state root",
    5: "header rule",
    6: "invalid transaction",
    7: "witness incomplete",
    8: "gas used",
    9: "receipts root",
    10: "post-state root",
    11: "execution requests",
}


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def topic(signature: str) -> str:
    return "0x" + keccak(signature.encode()).hex()


def split_types(inner: str) -> list[str]:
    """Top-level types of a comma-separated list (tuples kept whole)."""
    if not inner:
        return []
    types, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            types.append(inner[start:i])
            start = i + 1
    types.append(inner[start:])
    return types


def arg_types(signature: str) -> list[str]:
    return split_types(signature[signature.index("(") + 1 : signature.rindex(")")])


def calldata(signature: str, *args: Any) -> bytes:
    """Selector plus ABI-encoded ``args``; the types come from the signature."""
    types = arg_types(signature)
    return selector(signature) + (encode(types, list(args)) if types else b"")


def contract_address(sender: bytes, nonce: int) -> bytes:
    """The address a CREATE from ``sender`` at ``nonce`` deploys to."""
    return keccak(rlp.encode([sender, nonce]))[12:]


# -- messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A cross-layer message (``RollupMessages.Message``)."""

    sender: bytes
    to: bytes
    value: int
    fee: int
    data: bytes
    index: int

    @property
    def hash(self) -> bytes:
        return keccak(
            self.sender
            + self.to
            + self.value.to_bytes(32, "big")
            + self.fee.to_bytes(32, "big")
            + keccak(self.data)
            + self.index.to_bytes(32, "big")
        )

    def abi(self) -> tuple:
        return (self.sender, self.to, self.value, self.fee, self.data, self.index)

    def to_json(self) -> dict[str, Any]:
        return {
            "sender": "0x" + self.sender.hex(),
            "to": "0x" + self.to.hex(),
            "value": str(self.value),
            "fee": str(self.fee),
            "data": "0x" + self.data.hex(),
            "index": self.index,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Message:
        return cls(
            bytes.fromhex(doc["sender"][2:]),
            bytes.fromhex(doc["to"][2:]),
            int(doc["value"]),
            int(doc["fee"]),
            bytes.fromhex(doc["data"][2:]),
            int(doc["index"]),
        )

    @classmethod
    def from_log(cls, log: dict) -> Message:
        """A ``MessageSent`` log of either layer (same indexed fields and data layout)."""
        topics = log["topics"]
        value, fee, data, _ = decode(
            ["uint256", "uint256", "bytes", "bytes32"], bytes.fromhex(log["data"][2:])
        )
        return cls(
            sender=bytes.fromhex(topics[2][-40:]),
            to=bytes.fromhex(topics[3][-40:]),
            value=value,
            fee=fee,
            data=data,
            index=int(topics[1], 16),
        )


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin ``Hashes.commutativeKeccak256``."""
    return keccak(a + b) if a < b else keccak(b + a)


@cache
def _zeros(depth: int) -> tuple[bytes, ...]:
    zeros = [ZERO32]
    for _ in range(depth):
        zeros.append(hash_pair(zeros[-1], zeros[-1]))
    return tuple(zeros)


@dataclass
class MessageTree:
    """The L1 message tree as OpenZeppelin ``MerkleTree.Bytes32PushTree`` builds it."""

    leaves: list[bytes] = field(default_factory=list)
    depth: int = MESSAGE_TREE_DEPTH

    def levels(self) -> list[list[bytes]]:
        """Every level's non-empty nodes, leaves first, root last."""
        zeros = _zeros(self.depth)
        levels = [list(self.leaves)]
        for level in range(self.depth):
            nodes = levels[-1]
            if len(nodes) % 2:
                nodes = nodes + [zeros[level]]
            parents = [hash_pair(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
            levels.append(parents or [zeros[level + 1]])
        return levels

    @property
    def root(self) -> bytes:
        return self.levels()[-1][0]

    def proof(self, index: int, levels: list[list[bytes]] | None = None) -> list[bytes]:
        """Sibling hashes from the leaf up (``MerkleProof.verify`` takes them in this order)."""
        if not 0 <= index < len(self.leaves):
            raise IndexError(f"no leaf {index} in a tree of {len(self.leaves)}")
        levels = levels or self.levels()
        zeros = _zeros(self.depth)
        siblings = []
        for level, nodes in enumerate(levels[:-1]):
            sibling = index ^ 1
            siblings.append(nodes[sibling] if sibling < len(nodes) else zeros[level])
            index //= 2
        return siblings


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """OpenZeppelin ``MerkleProof.verify`` in Python."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


def sent_message_slot(index: int) -> int:
    """Storage slot of the L2 messenger's ``sentMessages[index]``."""
    base = int.from_bytes(keccak(SENT_MESSAGES_SLOT.to_bytes(32, "big")), "big")
    return base + index


# -- revert data -----------------------------------------------------------------------------


def _errors_of(abi: list[dict]) -> list[str]:
    out = []
    for item in abi:
        if item.get("type") == "error":
            types = ",".join(_abi_type(i) for i in item.get("inputs", []))
            out.append(f"{item['name']}({types})")
    return out


def _abi_type(item: dict) -> str:
    kind = item["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + kind[5:]
    return kind


@cache
def known_errors() -> dict[bytes, str]:
    """Selector -> signature for every error the rollup contracts (and EXECUTE) revert with."""
    from sequencer.artifacts import load_artifact

    signatures = list(EXTRA_ERRORS)
    for name in ("NativeRollup", "L2Messenger", "MessageRecorder"):
        try:
            signatures += _errors_of(load_artifact(name).abi)
        except FileNotFoundError:
            pass
    return {selector(s): s for s in signatures}


@dataclass(frozen=True)
class Revert:
    """Decoded revert data: the error's name and its arguments."""

    signature: str
    args: tuple
    raw: bytes

    @property
    def name(self) -> str:
        return self.signature.split("(")[0]

    def __str__(self) -> str:
        args = ", ".join(_show(a) for a in self.args)
        text = f"{self.name}({args})"
        if self.name == "ExecuteInvalid" and self.args:
            text += f" [{EXECUTE_REASONS.get(self.args[0], '?')}]"
        return text


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def decode_revert(data: bytes | None) -> Revert | None:
    """The custom error (or ``Error(string)``/``Panic``) behind revert bytes, if known."""
    if data is None or len(data) < 4:
        return None
    signature = known_errors().get(data[:4])
    if signature is None:
        return Revert(f"0x{data[:4].hex()}()", (), data)
    try:
        args = tuple(decode(arg_types(signature), data[4:]))
    except Exception:  # malformed arguments: keep the name
        args = ()
    return Revert(signature, args, data)
