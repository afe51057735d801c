"""JSON-RPC to any Ethereum node, hex helpers, and a signer that keeps a nonce book.

Nothing here knows about the rollup: ``RpcClient`` posts JSON-RPC over HTTP (stdlib only)
and raises ``RpcError`` (with the revert data, if any), or ``RpcUnreachable`` naming the URL
when the node cannot be reached (refused, DNS, timeout, not an HTTP URL); given a JWT secret it signs each
request for a node's authenticated endpoint, where an L2 serves its controls. ``Signer``
signs EIP-1559 transactions with ``eth_account``, sends them raw and waits for their
receipts, which works the same against an automining devnet, an interval-mining one or
any other node.
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from eth_account import Account
from eth_account.signers.local import LocalAccount

GWEI = 10**9
ETHER = 10**18
DEFAULT_TIP = GWEI
JWT_SECRET_BYTES = 32


class RpcError(RuntimeError):
    """A JSON-RPC error answer (``data`` holds revert bytes for reverts)."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data

    @property
    def revert_data(self) -> bytes | None:
        """The revert bytes a node attached to an ``execution reverted`` error."""
        data = self.data
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                return None
        return None


class RpcUnreachable(ConnectionError):
    """A node that could not be reached or did not answer JSON-RPC: the message names the
    URL and what failed (deliberately not an ``RpcError``, which is the node's own answer)."""

    def __init__(self, url: str, method: str, reason: str, name: str = "") -> None:
        where = f"the {name} node at {url}" if name else url
        super().__init__(f"cannot reach {where} ({method}): {reason}")
        self.url = url
        self.name = name
        self.method = method
        self.reason = reason


def _failure(exc: BaseException) -> str:
    """What failed, in a few words (``connection refused``, ``timed out``, ...)."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    text = str(reason).strip() or type(reason).__name__
    return text


class TxFailed(RuntimeError):
    """A mined transaction whose receipt says status 0."""

    def __init__(self, what: str, receipt: dict, revert: bytes | None = None) -> None:
        super().__init__(f"{what}: transaction {receipt.get('transactionHash')} reverted")
        self.receipt = receipt
        self.revert = revert


def h2b(value: str | None) -> bytes:
    """``0x``-hex to bytes (``None`` and ``0x`` give empty bytes)."""
    if not value:
        return b""
    return bytes.fromhex(value.removeprefix("0x"))


def b2h(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def h2i(value: str | int) -> int:
    return value if isinstance(value, int) else int(value, 16)


def i2h(value: int) -> str:
    return hex(value)


def checksum(address: bytes | str) -> str:
    """EIP-55 form of an address."""
    from eth_utils import to_checksum_address

    return to_checksum_address(address if isinstance(address, str) else b2h(address))


def read_jwt_secret(path: str | Path) -> bytes:
    """The 32-byte secret of a node's authenticated endpoint (hex in a file, ``0x`` optional)."""
    text = Path(path).read_text().strip()
    try:
        secret = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ValueError(f"JWT secret {path}: not hex") from None
    if len(secret) != JWT_SECRET_BYTES:
        raise ValueError(f"JWT secret {path}: {len(secret)} bytes, need {JWT_SECRET_BYTES}")
    return secret


@dataclass
class RpcClient:
    """One node's JSON-RPC endpoint; with ``jwt_secret``, its authenticated endpoint (each
    request carries a fresh HS256 token, as an Engine API client sends)."""

    url: str
    timeout: float = 120.0
    jwt_secret: bytes | None = field(default=None, repr=False)
    name: str = ""  # "L1", "L2": named in connection errors
    _ids: itertools.count = field(default_factory=itertools.count, repr=False)

    def call(self, method: str, *params: Any) -> Any:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.jwt_secret is not None:
            token = jwt.encode({"iat": int(time.time())}, self.jwt_secret, algorithm="HS256")
            headers["Authorization"] = f"Bearer {token}"
        if not self.url.lower().startswith(("http://", "https://")):
            raise RpcUnreachable(self.url, method, "not an http:// or https:// URL", self.name)
        try:
            request = urllib.request.Request(self.url, data=body, headers=headers)
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # a non-2xx answer may still be JSON-RPC
            raw = exc.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                # the authenticated endpoint says why in plain text ("stale token", ...)
                reason = raw.decode(errors="replace").strip()[:200]
                detail = f"HTTP {exc.code}" + (f": {reason}" if reason else "")
                raise RpcError(method, exc.code, detail) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            # refused, DNS, timeout, reset, a URL that is not http(s), a body that is not JSON
            raise RpcUnreachable(self.url, method, _failure(exc), self.name) from None
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise RpcUnreachable(self.url, method, "the answer is not JSON-RPC", self.name)
        if "error" in answer:
            error = answer["error"]
            raise RpcError(
                method, error.get("code", 0), error.get("message", ""), error.get("data")
            )
        return answer["result"]

    # -- common reads -------------------------------------------------------------------

    def chain_id(self) -> int:
        return h2i(self.call("eth_chainId"))

    def block(self, tag: int | str = "latest", full: bool = False) -> dict:
        block = self.call("eth_getBlockByNumber", i2h(tag) if isinstance(tag, int) else tag, full)
        if block is None:
            raise RpcError("eth_getBlockByNumber", 0, f"no block {tag}")
        return block

    def block_number(self) -> int:
        return h2i(self.call("eth_blockNumber"))

    def balance(self, address: bytes | str, tag: int | str = "latest") -> int:
        who = address if isinstance(address, str) else b2h(address)
        return h2i(self.call("eth_getBalance", who, i2h(tag) if isinstance(tag, int) else tag))

    def nonce(self, address: bytes | str, tag: str = "pending") -> int:
        who = address if isinstance(address, str) else b2h(address)
        return h2i(self.call("eth_getTransactionCount", who, tag))

    def code(self, address: bytes | str, tag: str = "latest") -> bytes:
        who = address if isinstance(address, str) else b2h(address)
        return h2b(self.call("eth_getCode", who, tag))

    def eth_call(
        self,
        to: bytes,
        data: bytes,
        sender: bytes | None = None,
        tag: int | str = "latest",
        value: int = 0,
        overrides: dict | None = None,
        block_overrides: dict | None = None,
    ) -> bytes:
        """``eth_call`` (with geth's optional state and block overrides); a revert raises
        ``RpcError`` whose ``revert_data`` holds the bytes."""
        request: dict[str, Any] = {"to": b2h(to), "data": b2h(data)}
        if sender is not None:
            request["from"] = b2h(sender)
        if value:
            request["value"] = i2h(value)
        params: list[Any] = [request, i2h(tag) if isinstance(tag, int) else tag]
        if overrides or block_overrides:
            params.append(overrides or {})
        if block_overrides:
            params.append(block_overrides)
        return h2b(self.call("eth_call", *params))

    def receipt(self, tx_hash: str) -> dict | None:
        return self.call("eth_getTransactionReceipt", tx_hash)

    def wait_receipt(self, tx_hash: str, timeout: float = 120.0, poll: float = 0.05) -> dict:
        """Poll until the transaction is mined (immediately under automine)."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise TimeoutError(f"{tx_hash} not mined within {timeout:.0f}s on {self.url}")
            time.sleep(poll)
            poll = min(poll * 1.5, 1.0)


@dataclass
class Signer:
    """A key on one chain: signs EIP-1559 transactions, tracks its own nonces."""

    rpc: RpcClient
    account: LocalAccount
    chain_id: int
    tip: int = DEFAULT_TIP
    _nonce: int | None = None

    @classmethod
    def from_key(cls, rpc: RpcClient, key: str, tip: int = DEFAULT_TIP) -> Signer:
        return cls(rpc, Account.from_key(key), rpc.chain_id(), tip)

    @property
    def address(self) -> bytes:
        return h2b(self.account.address)

    def next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self.rpc.nonce(self.account.address, "pending")
        nonce = self._nonce
        self._nonce += 1
        return nonce

    def resync(self) -> None:
        """Forget the nonce book (after a transaction was dropped or sent elsewhere)."""
        self._nonce = None

    def max_fee(self) -> int:
        base_fee = h2i(self.rpc.block("latest")["baseFeePerGas"])
        return 2 * base_fee + self.tip

    def estimate(self, to: bytes | None, data: bytes = b"", value: int = 0) -> int:
        request: dict[str, Any] = {"from": self.account.address, "data": b2h(data)}
        if to is not None:
            request["to"] = b2h(to)
        if value:
            request["value"] = i2h(value)
        return h2i(self.rpc.call("eth_estimateGas", request))

    def sign(
        self,
        to: bytes | None,
        data: bytes = b"",
        value: int = 0,
        gas: int | None = None,
        max_fee: int | None = None,
    ) -> tuple[bytes, str]:
        """A signed transaction (raw bytes, hash); ``gas`` is estimated unless given."""
        if gas is None:
            gas = self.estimate(to, data, value) * 6 // 5 + 10_000
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.next_nonce(),
            "value": value,
            "gas": gas,
            "maxFeePerGas": self.max_fee() if max_fee is None else max_fee,
            "maxPriorityFeePerGas": self.tip,
            "data": data,
        }
        if to is not None:
            tx["to"] = checksum(to)
        signed = self.account.sign_transaction(tx)
        return bytes(signed.raw_transaction), b2h(signed.hash)

    def submit(
        self, to: bytes | None, data: bytes = b"", value: int = 0, gas: int | None = None
    ) -> str:
        """Sign and send; returns the hash without waiting for it to be mined."""
        raw, tx_hash = self.sign(to, data, value, gas)
        try:
            self.rpc.call("eth_sendRawTransaction", b2h(raw))
        except RpcError:
            self.resync()
            raise
        return tx_hash

    def send(
        self,
        to: bytes | None,
        data: bytes = b"",
        value: int = 0,
        gas: int | None = None,
        what: str = "transaction",
        check: bool = True,
    ) -> dict:
        """Sign, send and wait; with ``check`` a reverted transaction raises ``TxFailed``."""
        receipt = self.rpc.wait_receipt(self.submit(to, data, value, gas))
        if check and h2i(receipt["status"]) != 1:
            raise TxFailed(what, receipt)
        return receipt


def gas_cost(receipt: dict) -> int:
    """Wei the sender paid for gas."""
    return h2i(receipt["gasUsed"]) * h2i(receipt["effectiveGasPrice"])
