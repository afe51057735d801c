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

Loading is bounded: the document may be at most ``MAX_STATE_SIZE`` bytes once decompressed
(``--max-state-size``), the same for a file and for ``anvil_loadState`` since loading costs
the same memory whichever way the bytes come. Decompression streams and stops at the limit,
so a small gzip bomb never expands past it. The number of entries is bounded by the text's
size (``MIN_ENTRY_SIZE`` bytes each on average), since a tiny entry costs far more memory as
Python objects than as JSON text: a document at the limit takes at most about three times its
size to load.

Files are written under a temporary name that says which process writes them,
``<name>.<pid>.tmp``, then renamed; a writer first removes temporary files of its target
whose process is gone (a node killed while dumping), so none outlive a second dump.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Any

from node.storage import MemoryDatabase, prefixed_items
from precompiles.nesting import json_depth_ok

FORMAT = "native-devnet-state"
VERSION = 1
MAX_STATE_DEPTH = 4
MAX_STATE_SIZE = 256 * 1024 * 1024  # decompressed bytes of one state document
# JSON bytes per entry, on average, at least: a real chain's average about 1 000 (a 32-byte
# key alone is 64 hex digits, a trie node's value a few hundred). Tiny entries would cost
# several times their text in Python objects.
MIN_ENTRY_SIZE = 128
DECOMPRESS_CHUNK = 1024 * 1024  # gzip output produced per step while checking the limit
GZIP_MAGIC = b"\x1f\x8b"


class StateFileError(ValueError):
    """A state file that cannot be loaded, with the reason."""


def dump_state(chain) -> dict[str, Any]:
    """The document of ``chain``; its head is read from the very entries it holds."""
    from node.chain import GENESIS_HASH_KEY
    from node.delayed_root import POST_STATE_ROOT_PREFIX
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
    """Write atomically: a temporary file in the same directory, then a rename. Temporary
    files an earlier, killed writer left behind are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporary_files(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporary_files(path: Path) -> None:
    """Remove ``<name>.<pid>.tmp`` files of ``path`` whose writing process is gone (and the
    ``<name>.<random>.tmp`` files older versions wrote)."""
    for candidate in path.parent.glob(f"{glob_escape(path.name)}.*.tmp"):
        writer = candidate.name[len(path.name) + 1 : -len(".tmp")]
        if writer.isdigit() and _process_alive(int(writer)):
            continue
        candidate.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftover: this process is not writing it now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process: leave its file alone
    return True


def read_state_file(path: str | Path, max_size: int = MAX_STATE_SIZE) -> list[tuple[bytes, bytes]]:
    try:
        with open(path, "rb") as f:
            raw = f.read(max_size + 1)  # a file beyond the limit is never read whole
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc.strerror}") from exc
    if len(raw) > max_size:
        raise StateFileError(f"{path} is larger than {_limit(max_size)}")
    return parse_state(decode_state_bytes(raw, max_size))


def encode_state_bytes(doc: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(doc, separators=(",", ":")).encode())


def decode_state_bytes(raw: bytes, max_size: int = MAX_STATE_SIZE) -> Any:
    """A state document from plain or gzip-compressed JSON bytes, at most ``max_size``
    bytes once decompressed."""
    if raw[:2] == GZIP_MAGIC:
        raw = _gunzip(raw, max_size)
    elif len(raw) > max_size:
        raise StateFileError(f"state is larger than {_limit(max_size)}")
    if not json_depth_ok(raw, MAX_STATE_DEPTH):
        raise StateFileError("state is not a state document (nested too deep)")
    # Each entry is one JSON array; every array but the entries list is one.
    entries = raw.count(b"[") - 1
    if entries > max(len(raw) // MIN_ENTRY_SIZE, 1):
        raise StateFileError(
            f"state has too many entries for its size: {entries} in {len(raw)} bytes "
            f"(at least {MIN_ENTRY_SIZE} bytes each on average)"
        )
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateFileError(f"state is not (gzip-compressed) JSON: {exc}") from exc


def _gunzip(raw: bytes, max_size: int) -> bytearray:
    """Decompress every gzip member of ``raw``, stopping as soon as the output would pass
    ``max_size`` bytes."""
    out = bytearray()
    data = raw
    try:
        while data[:2] == GZIP_MAGIC:
            member = zlib.decompressobj(zlib.MAX_WBITS | 16)
            while not member.eof:
                room = min(DECOMPRESS_CHUNK, max_size + 1 - len(out))
                out += member.decompress(data, room)
                if len(out) > max_size:
                    raise StateFileError(
                        f"state is larger than {_limit(max_size)} once decompressed"
                    )
                data = member.unconsumed_tail
                if not data and not member.eof:
                    raise EOFError("compressed file ended before the end-of-stream marker")
            data = member.unused_data
    except (zlib.error, EOFError) as exc:
        raise StateFileError(f"state is not (gzip-compressed) JSON: {exc}") from exc
    if data.strip(b"\x00"):  # as gzip, trailing zeros are padding; anything else is not
        raise StateFileError("state is not (gzip-compressed) JSON: data after the gzip stream")
    return out


def _limit(max_size: int) -> str:
    return f"the state size limit ({max_size} bytes, --max-state-size)"
