"""Execution witnesses: parsing (RLP or ``debug_executionWitness`` JSON), the hash-linked
header chain, and a database that holds only the witness.

Canonical RLP form: ``[headers, codes, state, keys]``. ``headers`` entries are embedded
header lists or byte strings holding a header's RLP; every entry must decode as a header.
``codes`` and ``state`` are byte strings keyed by their keccak (opaque until read);
``keys`` are preimages and are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import rlp
from eth.abc import BlockHeaderAPI
from eth.db.backends.base import BaseDB
from eth_hash.auto import keccak

from precompiles.nesting import json_depth_ok, rlp_depth_ok

MAX_LINKED_HEADERS = 256
# Header integers have the widths Ethereum gives them (geth decodes the first group as
# uint64); a wider one is not a header (reason 2). Unbounded, a forged parent's megabyte-wide
# gas used and base fee would make the next base fee superlinear to compute.
UINT64_HEADER_FIELDS = (
    "block_number",
    "gas_limit",
    "gas_used",
    "timestamp",
    "blob_gas_used",
    "excess_blob_gas",
)
UINT256_HEADER_FIELDS = ("difficulty", "base_fee_per_gas")


class WitnessEncodingError(ValueError):
    """Witness bytes that are not a well-formed witness (EXECUTE reason 2)."""


@dataclass
class Witness:
    headers: list[BlockHeaderAPI]
    nodes: dict[bytes, bytes]  # keccak(value) -> value, for state nodes and codes alike

    def linked_chain(self, parent_hash: bytes) -> list[BlockHeaderAPI]:
        """Headers hash-linked back from ``parent_hash`` (parent first), or [] if absent.

        Only headers reached by following ``parent_hash`` links count; any other header in
        the witness is ignored, so ancestors cannot be forged.
        """
        by_hash = {h.hash: h for h in self.headers}
        chain = []
        cursor = parent_hash
        while cursor in by_hash and len(chain) < MAX_LINKED_HEADERS + 1:
            header = by_hash[cursor]
            chain.append(header)
            cursor = header.parent_hash
        return chain


def _decode_header(item: object, header_class: type) -> BlockHeaderAPI:
    try:
        if isinstance(item, bytes):
            header = rlp.decode(item, sedes=header_class)
        else:
            header = header_class.deserialize(item)
    except Exception as exc:  # untrusted bytes: any failure is an encoding error
        raise WitnessEncodingError(f"header entry does not decode: {exc}") from exc
    for fields, bits in ((UINT64_HEADER_FIELDS, 64), (UINT256_HEADER_FIELDS, 256)):
        for name in fields:
            value = getattr(header, name, 0)
            if value.bit_length() > bits:
                raise WitnessEncodingError(f"header entry: {name} does not fit uint{bits}")
    return header


def _blobs(items: object, what: str) -> list[bytes]:
    if not isinstance(items, list) or not all(isinstance(i, bytes) for i in items):
        raise WitnessEncodingError(f"{what} must be a list of byte strings")
    return items


def parse_witness(raw: bytes, header_class: type) -> Witness:
    if raw[:1] == b"{":
        if not json_depth_ok(raw):
            raise WitnessEncodingError("witness JSON nests too deep")
        return _parse_json_witness(raw, header_class)
    if not rlp_depth_ok(raw):
        raise WitnessEncodingError("witness RLP nests too deep")
    try:
        decoded = rlp.decode(raw)
    except Exception as exc:
        raise WitnessEncodingError(f"witness is not RLP: {exc}") from exc
    if not isinstance(decoded, list) or len(decoded) != 4:
        raise WitnessEncodingError("witness must be a list of four lists")
    headers_raw, codes, state, keys = decoded
    if not isinstance(headers_raw, list) or not isinstance(keys, list):
        raise WitnessEncodingError("witness headers and keys must be lists")
    headers = [_decode_header(item, header_class) for item in headers_raw]
    nodes = {keccak(v): v for v in _blobs(codes, "codes") + _blobs(state, "state")}
    return Witness(headers, nodes)


def _hex_list(doc: dict, key: str) -> list[bytes]:
    values = doc.get(key, [])
    if not isinstance(values, list):
        raise WitnessEncodingError(f"witness.{key} must be a list")
    out = []
    for value in values:
        if not isinstance(value, str):
            raise WitnessEncodingError(f"witness.{key} entries must be hex strings")
        digits = value[2:] if value[:2] in ("0x", "0X") else value
        try:
            out.append(bytes.fromhex(digits))
        except ValueError as exc:
            raise WitnessEncodingError(f"witness.{key} entry is not hex") from exc
    return out


def _parse_json_witness(raw: bytes, header_class: type) -> Witness:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WitnessEncodingError(f"witness JSON does not parse: {exc}") from exc
    if not isinstance(doc, dict):
        raise WitnessEncodingError("witness JSON must be an object")
    headers = [_decode_header(h, header_class) for h in _hex_list(doc, "headers")]
    nodes = {keccak(v): v for v in _hex_list(doc, "codes") + _hex_list(doc, "state")}
    _hex_list(doc, "keys")  # validated, then ignored
    return Witness(headers, nodes)


@dataclass
class WitnessDatabase(BaseDB):
    """Reads come from what execution wrote, else from the witness; a key in neither is a
    ``KeyError`` (py-evm turns it into ``MissingTrieNode``/``MissingBytecode``)."""

    witness: dict[bytes, bytes]
    written: dict[bytes, bytes] = field(default_factory=dict)
    deleted: set[bytes] = field(default_factory=set)

    def __getitem__(self, key: bytes) -> bytes:
        if key in self.written:
            return self.written[key]
        if key in self.deleted:
            raise KeyError(key)
        return self.witness[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.written[key] = value
        self.deleted.discard(key)

    def __delitem__(self, key: bytes) -> None:
        if key not in self.written and key not in self.witness:
            raise KeyError(key)
        self.written.pop(key, None)
        self.deleted.add(key)

    def _exists(self, key: bytes) -> bool:
        return key in self.written or (key in self.witness and key not in self.deleted)

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError("a witness database cannot be iterated")

    def __len__(self) -> int:
        return len(self.written) + len(self.witness)

    def __hash__(self) -> int:  # py-evm caches some lookups keyed by database
        return id(self)
