"""The rollup's message format both ways, the L1 message tree in Python, ABI helpers and
revert decoding.

A message (``RollupMessages.Message``) is committed to by
``keccak256(abi.encode(direction, l1ChainId, l2ChainId, rollup, nonce, sender, to, value,
fee, minGasLimit, keccak256(data)))``: the direction tag and the rollup's domain (both chain
ids and the L1 rollup address) keep a message valid in one place only. L1 -> L2 messages are
leaves of an OpenZeppelin ``MerkleTree`` on L1 (depth 32, empty leaf zero, commutative keccak
pairs); ``MessageTree`` rebuilds it so the relayer can prove a leaf to the L2 messenger
(``MerkleProof.verify``). L2 -> L1 messages are entries ``sent[messageHash] = true`` of the
messenger's ERC-7201 namespace, which the L1 proves with ``eth_getProof`` data at the slot
``keccak256(abi.encode(messageHash, SENT_MESSAGES_SLOT))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import rlp
from eth_abi import decode, encode
from eth_hash.auto import keccak

from precompiles.execute_wire import EXECUTE_INVALID, describe_reason

ZERO32 = b"\x00" * 32
MESSAGE_TREE_DEPTH = 32
# ERC-7201 namespace of the L2 messenger; its first member is the ``sent`` mapping.
STORAGE_NAMESPACE = "native-rollup.L2Messenger"
SENT_MESSAGES_SLOT = 0x69FDD5C6A0CDD3EC7E220012AD5384810D755D84EC4339C53DDE910CED467900
L1_TO_L2 = keccak(b"NativeRollup.L1ToL2.v1")
L2_TO_L1 = keccak(b"NativeRollup.L2ToL1.v1")
MESSAGE_TYPE = "(uint256,address,address,uint256,uint256,uint256,bytes)"
# RollupMessages limits (the contracts enforce them; kept here to check before sending)
MAX_MIN_GAS_LIMIT = 4_000_000
MAX_RETURN_DATA = 256
REFUND_DELAY = 24 * 3600

# NativeRollup
ADVANCE = "advance(bytes32,bytes32,uint256,uint256,address,bytes32,bytes32,bytes,bytes)"
L1_SEND = "sendMessage(address,uint256,uint256,bytes)"
L1_CLAIM = f"claimL2Message({MESSAGE_TYPE},uint256,bytes[],bytes[])"
L2_BLOCK_TYPE = "(bytes32,bytes32,uint256,uint256,address,bytes32,bytes32)"
INVALID_FORCED_TYPE = "(bytes,bytes)"
ADVANCE_TO = f"advanceTo(uint256,{L2_BLOCK_TYPE},bytes,bytes,{INVALID_FORCED_TYPE}[])"
FORCE_INCLUDE = "forceInclude(bytes)"
ROLLUP_CONSTRUCTOR = [
    "bytes32",  # L2 genesis hash
    "bytes32",  # L2 genesis state root
    "uint256",  # L2 chain id
    "uint256",  # L2 gas limit
    "address",  # sequencer (zero under BASED)
    "address",  # L2 messenger
    "uint8",  # sequencing policy (POLICIES)
    "uint256",  # forceDelay, L1 blocks
    "uint256",  # forceFee, wei
]
POLICIES = ("sequencer", "based")
# L2Messenger
L2_SEND = "sendMessage(address,uint256,uint256,bytes)"
L2_CLAIM = f"claim(uint256,address,{MESSAGE_TYPE},bytes32[],uint256)"
L2_REFUND = f"refund(uint256,address,{MESSAGE_TYPE},bytes32[],uint256)"

MESSAGE_SENT = "MessageSent(uint256,address,address,uint256,uint256,uint256,bytes,bytes32)"
MESSAGE_SENT_L1 = MESSAGE_SENT
MESSAGE_SENT_L2 = MESSAGE_SENT
BLOCK_SETTLED = "BlockSettled(uint256,bytes32,bytes32,uint256,uint256,uint256)"
FORCED_TX_QUEUED = "ForcedTxQueued(uint256,bytes32,address,uint256,bytes)"
FORCED_TX_INCLUDED = "ForcedTxIncluded(uint256,bytes32,uint256)"
FORCED_TX_SKIPPED = "ForcedTxSkipped(uint256,bytes32,uint256)"

# Errors that appear in revert data but not in the contracts' ABIs.
EXTRA_ERRORS = (
    EXECUTE_INVALID,
    "TrieProofTraversalError(uint8)",
    "RLPInvalidEncoding()",
    "Panic(uint256)",
    "Error(string)",
)


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
class Domain:
    """The rollup a message belongs to (``RollupMessages.Domain``)."""

    l1_chain_id: int
    l2_chain_id: int
    rollup: bytes


@dataclass(frozen=True)
class Message:
    """A cross-layer message (``RollupMessages.Message``) of one rollup and direction.

    ``index`` is the contracts' ``nonce``: the message's position in its direction's sequence
    (the L1 tree's leaf index for L1 -> L2, the messenger's send count for L2 -> L1)."""

    sender: bytes
    to: bytes
    value: int
    fee: int
    data: bytes
    index: int
    domain: Domain
    direction: bytes = L1_TO_L2
    min_gas_limit: int = 0

    @property
    def hash(self) -> bytes:
        d = self.domain
        return keccak(
            encode(
                ["bytes32", "uint256", "uint256", "address", "uint256", "address", "address"]
                + ["uint256", "uint256", "uint256", "bytes32"],
                [
                    self.direction,
                    d.l1_chain_id,
                    d.l2_chain_id,
                    d.rollup,
                    self.index,
                    self.sender,
                    self.to,
                    self.value,
                    self.fee,
                    self.min_gas_limit,
                    keccak(self.data),
                ],
            )
        )

    def abi(self) -> tuple:
        return (
            self.index,
            self.sender,
            self.to,
            self.value,
            self.fee,
            self.min_gas_limit,
            self.data,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": "L1->L2" if self.direction == L1_TO_L2 else "L2->L1",
            "l1ChainId": self.domain.l1_chain_id,
            "l2ChainId": self.domain.l2_chain_id,
            "rollup": "0x" + self.domain.rollup.hex(),
            "nonce": self.index,
            "sender": "0x" + self.sender.hex(),
            "to": "0x" + self.to.hex(),
            "value": str(self.value),
            "fee": str(self.fee),
            "minGasLimit": self.min_gas_limit,
            "data": "0x" + self.data.hex(),
            "hash": "0x" + self.hash.hex(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Message:
        return cls(
            sender=bytes.fromhex(doc["sender"][2:]),
            to=bytes.fromhex(doc["to"][2:]),
            value=int(doc["value"]),
            fee=int(doc["fee"]),
            data=bytes.fromhex(doc["data"][2:]),
            index=int(doc["nonce"]),
            domain=Domain(
                int(doc["l1ChainId"]), int(doc["l2ChainId"]), bytes.fromhex(doc["rollup"][2:])
            ),
            direction=L1_TO_L2 if doc["direction"] == "L1->L2" else L2_TO_L1,
            min_gas_limit=int(doc["minGasLimit"]),
        )

    @classmethod
    def from_log(cls, log: dict, domain: Domain, direction: bytes) -> Message:
        """A ``MessageSent`` log of either layer (same indexed fields and data layout)."""
        topics = log["topics"]
        value, fee, min_gas_limit, data, message_hash = decode(
            ["uint256", "uint256", "uint256", "bytes", "bytes32"], bytes.fromhex(log["data"][2:])
        )
        message = cls(
            sender=bytes.fromhex(topics[2][-40:]),
            to=bytes.fromhex(topics[3][-40:]),
            value=value,
            fee=fee,
            data=data,
            index=int(topics[1], 16),
            domain=domain,
            direction=direction,
            min_gas_limit=min_gas_limit,
        )
        if message.hash != message_hash:
            raise ValueError(f"message {message.index}: logged hash is not the hash of its fields")
        return message


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


def sent_message_slot(message_hash: bytes) -> int:
    """Storage slot of the L2 messenger's ``sent[message_hash]``."""
    slot = keccak(message_hash + SENT_MESSAGES_SLOT.to_bytes(32, "big"))
    return int.from_bytes(slot, "big")


def namespace_slot(namespace: str) -> int:
    """ERC-7201: ``keccak256(abi.encode(uint256(keccak256(id)) - 1)) & ~0xff``."""
    inner = int.from_bytes(keccak(namespace.encode()), "big") - 1
    return int.from_bytes(keccak(inner.to_bytes(32, "big")), "big") & ~0xFF


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
    for name in ("NativeRollup", "OptimisticRollup", "L2Messenger", "MessageRecorder"):
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
            text += f" [{describe_reason(self.args[0])}]"
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
