"""Transaction senders recovered in one pass, before a block is re-executed.

py-evm recovers a transaction's sender lazily (``tx.sender``, a cached property) through
eth_keys: a ``Signature`` object, the signing message hashed, coincurve's recovery, a
``PublicKey`` object, its address. ``recover_senders`` does the same computation with the
same library calls for every transaction of a block at once and stores each sender where
the cached property keeps it, so execution finds it:

- the signing message is py-evm's (``get_message_for_signing``), or for EIP-2930, 1559
  and 7702 transactions the same bytes cut from the signed encoding (``signing_message``);
- the recovery is coincurve's ``PublicKey.from_signature_and_message`` on the bytes eth_keys
  would pass (``r || s || v``), the address the last 20 bytes of the key's keccak;
- only a signature eth_keys would accept is recovered here (``v`` 0 or 1, ``r`` and ``s``
  below the curve order); anything else, or any failure, is left to the lazy path, which
  raises then, at the transaction's turn, exactly as before (a block's earlier failure,
  e.g. a missing witness node, keeps its precedence).

coincurve calls libsecp256k1 through cffi, which releases the GIL during the call: with
``threads`` > 1 the recoveries of a large block run in that many threads (the Python parts,
message encoding and hashing, stay on the calling thread). Nothing is done when eth_keys
does not use the coincurve backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from eth_hash.auto import keccak

SECPK1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# Below this many transactions one thread recovers them all (a pool hand-off costs more).
PARALLEL_MIN_TRANSACTIONS = 64
DEFAULT_THREADS = 2


@cache
def _coincurve_public_key():
    """coincurve's ``PublicKey`` when eth_keys recovers through coincurve, else None."""
    try:
        from eth_keys.backends import get_backend
        from eth_keys.backends.coincurve import CoinCurveECCBackend
    except ImportError:  # pragma: no cover - eth_keys without its coincurve backend
        return None
    backend = get_backend()
    if not isinstance(backend, CoinCurveECCBackend):
        return None
    return backend.keys.PublicKey


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="execute-senders")


def _sender_is_lazy(tx: object) -> bool:
    """The transaction keeps its sender in the instance dict under ``sender`` (the
    ``cached_property`` py-evm uses), and has not computed it yet."""
    descriptor = getattr(type(tx), "sender", None)
    func = getattr(descriptor, "func", None)
    return (
        func is not None
        and func.__name__ == "sender"
        and hasattr(tx, "__dict__")
        and "sender" not in tx.__dict__
    )


# Typed transactions whose unsigned fields are their signed fields less the last three
# (y parity, r, s): EIP-2930, EIP-1559, EIP-7702.
TRAILING_SIGNATURE_TYPES = frozenset({1, 2, 4})


def _rlp_int(value: int) -> bytes:
    if value == 0:
        return b"\x80"
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return raw if len(raw) == 1 and raw[0] < 0x80 else bytes([0x80 + len(raw)]) + raw


def _list_prefix(size: int) -> bytes:
    if size < 56:
        return bytes([0xC0 + size])
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(length)]) + length


def signing_message(tx) -> bytes:
    """``tx.get_message_for_signing()``: for the typed transactions whose signature closes
    their field list, cut from the signed encoding (which the transactions root reuses)
    instead of building and encoding an unsigned transaction; else py-evm's."""
    if getattr(tx, "type_id", None) in TRAILING_SIGNATURE_TYPES:
        signed = tx.encode()
        body = signed[1:]
        if body and 0xC0 <= body[0]:
            start = 1 if body[0] <= 0xF7 else 1 + body[0] - 0xF7
            payload = body[start:]
            tail = _rlp_int(tx.y_parity) + _rlp_int(tx.r) + _rlp_int(tx.s)
            if len(payload) > len(tail) and payload.endswith(tail):
                fields = payload[: -len(tail)]
                return signed[:1] + _list_prefix(len(fields)) + fields
    return tx.get_message_for_signing()


def _signature_job(tx: object) -> tuple[bytes, bytes] | None:
    """(r || s || v, message hash) for a signature eth_keys would accept, else None."""
    try:
        v, r, s = tx.y_parity, tx.r, tx.s
        if v not in (0, 1) or not (0 <= r < SECPK1_N and 0 <= s < SECPK1_N):
            return None
        if not (isinstance(r, int) and isinstance(s, int)):
            return None
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
        return signature, keccak(signing_message(tx))
    except Exception:  # left to the lazy path, which raises at the transaction's turn
        return None


def _recover_all(public_key_class, jobs: Sequence[tuple[bytes, bytes] | None]) -> list:
    out = []
    for job in jobs:
        if job is None:
            out.append(None)
            continue
        try:
            key = public_key_class.from_signature_and_message(job[0], job[1], hasher=None)
            out.append(key.format(compressed=False)[1:])
        except Exception:
            out.append(None)
    return out


def recover_senders(transactions: Sequence[object], threads: int = DEFAULT_THREADS) -> int:
    """Recover and cache the sender of every transaction that has a lazy, not yet computed
    one; returns how many were recovered. Never raises."""
    public_key_class = _coincurve_public_key()
    if public_key_class is None:
        return 0
    pending = [tx for tx in transactions if _sender_is_lazy(tx)]
    jobs = [_signature_job(tx) for tx in pending]
    if threads > 1 and len(jobs) >= PARALLEL_MIN_TRANSACTIONS:
        size = -(-len(jobs) // threads)
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        futures = [_pool(threads).submit(_recover_all, public_key_class, c) for c in chunks[1:]]
        keys = _recover_all(public_key_class, chunks[0])
        for future in futures:
            keys.extend(future.result())
    else:
        keys = _recover_all(public_key_class, jobs)
    recovered = 0
    for tx, key in zip(pending, keys, strict=True):
        if key is not None:
            tx.__dict__["sender"] = keccak(key)[12:]
            recovered += 1
    return recovered
