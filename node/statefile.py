"""State files: the whole chain of a node in one versioned JSON document.

Format ``native-devnet-state`` version 1::

    {
      "format": "native-devnet-state",
      "version": 1,
      "chainId": 31337,
      "genesisHash": "0x…",
      "head": {"number": 12, "hash": "0x…", "postStateRoot": "0x…"},
      "entries": [["0x<key>", "0x<value>"], …]
    }

``entries`` is every key/value pair of the node's database, sorted by key: state and
storage trie nodes, bytecodes, headers, bodies, receipts, the canonical index, execution
witnesses, post-state roots and the pending-transaction journal. Loading writes them into a
fresh database, so a loaded node has the same head, state and history as the one that
dumped it (a round trip is exact), and its pool holds what the dumping node's held.
``anvil_dumpState`` returns this document gzip-compressed, as hex, the way anvil does.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

from node.storage import MemoryDatabase, prefixed_items
from precompiles.nesting import json_depth_ok

FORMAT = "native-devnet-state"
VERSION = 1
MAX_STATE_DEPTH = 4


class StateFileError(ValueError):
    """A state file that cannot be loaded, with the reason."""


def dump_state(chain) -> dict[str, Any]:
    """The document of ``chain``; its head is read from the very entries it holds."""
    from node.chain import GENESIS_HASH_KEY, POST_STATE_ROOT_PREFIX
    from node.fork.l1 import L1ChainDB

    entries = prefixed_items(chain.db, b"")
    snapshot = entries_database(entries)
    head = L1ChainDB(snapshot).get_canonical_head()
    return {
        "format": FORMAT,
        "version": VERSION,
        "chainId": chain.chain_id,
        "genesisHash": "0x" + snapshot[GENESIS_HASH_KEY].hex(),
        "head": {
            "number": head.block_number,
            "hash": "0x" + head.hash.hex(),
            "postStateRoot": "0x" + snapshot[POST_STATE_ROOT_PREFIX + head.hash].hex(),
        },
        "entries": [["0x" + k.hex(), "0x" + v.hex()] for k, v in entries],
    }


def parse_state(doc: Any) -> list[tuple[bytes, bytes]]:
    """The entries of a state document, after checking its format and version."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateFileError(f"not a {FORMAT} document")
    if doc.get("version") != VERSION:
        raise StateFileError(f"unsupported state version {doc.get('version')!r}, want {VERSION}")
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise StateFileError("state document has no entries list")
    try:
        return [(bytes.fromhex(k[2:]), bytes.fromhex(v[2:])) for k, v in entries]
    except (TypeError, ValueError, IndexError) as exc:
        raise StateFileError(f"malformed entry: {exc}") from exc


def checked_entries(chain_factory, entries: list[tuple[bytes, bytes]]) -> None:
    """Raise ``StateFileError`` unless ``entries`` hold a complete chain that
    ``chain_factory(db)`` accepts (same genesis and chain id); changes nothing."""
    from node.chain import GENESIS_HASH_KEY
    from node.genesis import GenesisError

    db = entries_database(entries)
    if GENESIS_HASH_KEY not in db:
        raise StateFileError("the state holds no chain")
    try:
        chain_factory(db)
    except GenesisError as exc:
        raise StateFileError(str(exc)) from None
    except Exception as exc:  # a document whose records are incomplete or damaged
        raise StateFileError(
            f"the state's chain is incomplete: {type(exc).__name__}: {exc}"
        ) from None


def entries_database(entries: list[tuple[bytes, bytes]]) -> MemoryDatabase:
    db = MemoryDatabase()
    for key, value in entries:
        db[key] = value
    return db


def write_state_file(path: str | Path, doc: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same directory, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_state_file(path: str | Path) -> list[tuple[bytes, bytes]]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_state(decode_state_bytes(raw))


def encode_state_bytes(doc: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(doc, separators=(",", ":")).encode())


def decode_state_bytes(raw: bytes) -> Any:
    """A state document from plain or gzip-compressed JSON bytes."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise StateFileError(f"state is not (gzip-compressed) JSON: {exc}") from exc
    if not json_depth_ok(raw, MAX_STATE_DEPTH):
        raise StateFileError("state is not a state document (nested too deep)")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateFileError(f"state is not (gzip-compressed) JSON: {exc}") from exc
