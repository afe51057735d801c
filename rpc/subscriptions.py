"""WebSocket subscriptions (``eth_subscribe``/``eth_unsubscribe``) and each connection's outbox.

A ``SubscriptionHub`` per server hears the node (new blocks, transactions the pool accepts) and
fans notifications out to subscriptions: ``newHeads`` (the header as geth shapes it), ``logs``
(one notification per matching log, criteria as ``eth_getLogs`` without a block range),
``newPendingTransactions`` (hashes, or transaction objects when the second parameter is true)
and ``syncing`` (never fires: a devnet is always in sync).

A ``Session`` is one WebSocket connection. Everything it sends — responses and notifications —
goes through one bounded queue drained by one sender task, so messages never interleave and
a slow client cannot make the node buffer without limit. The bound is in bytes
(``MAX_UNSENT_BYTES`` of messages not yet handed to the socket, notifications held for a
subscription counted too) and in messages (``MAX_QUEUED_MESSAGES``). Responses wait for room
(the requests behind them wait too); a notification that finds no room closes the connection
with code 1008 and a log line: dropping notifications silently would leave the client
believing it saw every block, and a closed socket is what clients (web3.py, ethers, viem)
notice and reconnect on. A client that does not even read the close frame within
``CLOSE_TIMEOUT_SECONDS`` has its connection aborted, which frees what the socket still holds.

A subscription's notifications are held until the response carrying its id has been queued,
so a client never sees a notification for an id it does not know yet (geth does the same).
Closing the socket removes every subscription of the connection. Over HTTP both methods
answer geth's ``-32601 notifications not supported``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from eth.abc import SignedTransactionAPI

from node.chain import BuiltBlock
from node.devnet import Devnet
from node.logs import LogFilter, logs_matching
from rpc import params as parse
from rpc import shapes
from rpc.errors import METHOD_NOT_FOUND, SERVER_ERROR, InvalidParams, RpcError
from rpc.filters import new_id
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb

log = logging.getLogger("native_devnet.rpc")

MAX_QUEUED_MESSAGES = 10_000
MAX_UNSENT_BYTES = 8 * 2**20  # per connection: about 8 000 headers, or 70 full 60 kB txs
MAX_SUBSCRIPTIONS_PER_CONNECTION = 1_000
CLOSE_TIMEOUT_SECONDS = 5.0
POLICY_VIOLATION = 1008  # WebSocket close code for a client that fell too far behind

NEW_HEADS = "newHeads"
LOGS = "logs"
NEW_PENDING_TRANSACTIONS = "newPendingTransactions"
SYNCING = "syncing"

http = Namespace()
METHODS = http.methods


@http.method("eth_subscribe")
@http.method("eth_unsubscribe")
async def notifications_not_supported(devnet: Devnet, params: Any) -> None:
    raise RpcError(METHOD_NOT_FOUND, "notifications not supported")


class WebSocketLike(Protocol):
    """What a session needs of its socket (aiohttp's ``WebSocketResponse`` has it)."""

    async def send_str(self, data: str) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


def _notification(subscription_id: str, result_json: str) -> str:
    return (
        '{"jsonrpc":"2.0","method":"eth_subscription","params":'
        f'{{"subscription":"{subscription_id}","result":{result_json}}}}}'
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Subscription:
    id: str
    kind: str
    session: Session
    criteria: LogFilter | None = None  # logs: what they match
    full_transactions: bool = False  # newPendingTransactions: objects instead of hashes
    held: list[str] | None = field(default_factory=list)  # None once the client knows the id

    def deliver(self, result_json: str) -> None:
        message = _notification(self.id, result_json)
        if self.held is None:
            self.session.notify(message)
        elif len(self.held) < self.session.max_queued and self.session.reserve(len(message)):
            self.held.append(message)
        else:
            self.session.overflow()

    def activate(self) -> None:
        held, self.held = self.held or [], None
        for message in held:
            self.session.enqueue_reserved(message)


# Subscriptions created while serving the current request (one context per request task).
_created_by_request: ContextVar[list[Subscription] | None] = ContextVar(
    "created_by_request", default=None
)


class SubscriptionHub:
    """The node's side: turns new blocks and pooled transactions into notifications."""

    def __init__(self, devnet: Devnet) -> None:
        self.devnet = devnet
        self.subscriptions: dict[str, Subscription] = {}
        devnet.listeners.append(self.on_block)
        devnet.pending_listeners.append(self.on_pending)

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.devnet.listeners.remove(self.on_block)
        with contextlib.suppress(ValueError):
            self.devnet.pending_listeners.remove(self.on_pending)

    def of_kind(self, kind: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.kind == kind]

    def on_block(self, built: BuiltBlock) -> None:
        header = built.block.header
        heads = self.of_kind(NEW_HEADS)
        if heads:
            result = _dumps(shapes.header_json(header))
            for subscription in heads:
                subscription.deliver(result)
        if not built.receipts:
            return
        for subscription in self.of_kind(LOGS):
            criteria = replace(subscription.criteria, block_hash=header.hash)
            for found in logs_matching(self.devnet, criteria):
                subscription.deliver(_dumps(shapes.found_log_json(found)))

    def on_pending(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        subscriptions = self.of_kind(NEW_PENDING_TRANSACTIONS)
        if not subscriptions:
            return
        as_hash = _dumps(hexb(tx.hash))
        as_object = None
        for subscription in subscriptions:
            if subscription.full_transactions:
                if as_object is None:
                    as_object = _dumps(shapes.transaction_json(tx, sender=sender))
                subscription.deliver(as_object)
            else:
                subscription.deliver(as_hash)


class Session:
    """One WebSocket connection: its subscriptions and its single, bounded outbox."""

    def __init__(
        self,
        hub: SubscriptionHub,
        ws: WebSocketLike,
        max_queued: int = MAX_QUEUED_MESSAGES,
        max_unsent_bytes: int = MAX_UNSENT_BYTES,
        abort: Callable[[], None] | None = None,
    ) -> None:
        """``abort`` drops the connection at once (the transport's ``abort``), for a peer
        that does not read even the close frame."""
        self.hub = hub
        self.ws = ws
        self.max_queued = max_queued
        self.max_unsent_bytes = max_unsent_bytes
        self.unsent_bytes = 0  # queued or being written, not yet taken by the socket
        self._room = asyncio.Event()  # set whenever the sender has finished a message
        self._abort = abort
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=max_queued)
        self.subscriptions: dict[str, Subscription] = {}
        self.closed = False
        self.methods = {"eth_subscribe": self.subscribe, "eth_unsubscribe": self.unsubscribe}
        self._sender = asyncio.create_task(self._send_loop(), name="ws-sender")
        self._closer: asyncio.Task | None = None

    # -- sending ------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        try:
            while True:
                message = await self.outbox.get()
                await self.ws.send_str(message)  # waits while the socket's buffer is full
                self.unsent_bytes -= len(message)
                self._room.set()
        except Exception as exc:  # the peer went away mid-send
            log.debug("WebSocket send failed: %s", exc)
            self.close()

    def reserve(self, size: int) -> bool:
        """Count ``size`` more unsent bytes; False if that passes the bound (a message on
        an empty queue always fits, however big)."""
        if self.unsent_bytes and self.unsent_bytes + size > self.max_unsent_bytes:
            return False
        self.unsent_bytes += size
        return True

    def enqueue_reserved(self, message: str) -> None:
        """Queue a notification whose bytes ``reserve`` already counted."""
        if self.closed:
            return
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.overflow()

    async def send(self, message: str) -> None:
        """Queue a response, waiting for room."""
        while not self.closed and not self.reserve(len(message)):
            self._room.clear()
            await self._room.wait()
        if not self.closed:
            await self.outbox.put(message)

    def notify(self, message: str) -> None:
        """Queue a notification; no room closes the connection."""
        if self.closed:
            return
        if self.reserve(len(message)):
            self.enqueue_reserved(message)
        else:
            self.overflow()

    def overflow(self) -> None:
        if self.closed:
            return
        log.warning(
            "closing a WebSocket connection: it fell behind by %d messages, %d bytes, "
            "on %d subscription(s) (limits %d messages, %d bytes)",
            self.outbox.qsize(),
            self.unsent_bytes,
            len(self.subscriptions),
            self.max_queued,
            self.max_unsent_bytes,
        )
        self.close()
        self._closer = asyncio.create_task(self._close_socket(), name="ws-close")

    async def _close_socket(self) -> None:
        try:
            await asyncio.wait_for(
                self.ws.close(code=POLICY_VIOLATION, message=b"notification queue overflow"),
                CLOSE_TIMEOUT_SECONDS,
            )
        except Exception:  # the peer reads nothing, not even the close frame
            if self._abort is not None:
                self._abort()

    def close(self) -> None:
        """Forget every subscription and stop sending (the socket closed or overflowed)."""
        if self.closed:
            return
        self.closed = True
        for subscription_id in self.subscriptions:
            self.hub.subscriptions.pop(subscription_id, None)
        self.subscriptions.clear()
        self._sender.cancel()
        while not self.outbox.empty():  # what was never sent is garbage now
            self.outbox.get_nowait()
        self.unsent_bytes = 0
        self._room.set()  # responses waiting for room give up

    @contextlib.contextmanager
    def request_scope(self) -> Iterator[None]:
        """Serve one request: subscriptions it creates start notifying once the block exits,
        that is after its response has been queued."""
        token = _created_by_request.set([])
        try:
            yield
        finally:
            created = _created_by_request.get() or []
            _created_by_request.reset(token)
            for subscription in created:
                subscription.activate()

    # -- methods (same signature as the namespace tables) ---------------------------------

    async def subscribe(self, devnet: Devnet, params: Any) -> str:
        kind, argument = parse_params(
            params, [(_subscription_kind, REQUIRED, "subscription"), (_any, None, "options")]
        )
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise RpcError(
                SERVER_ERROR,
                f"too many subscriptions on this connection (max {MAX_SUBSCRIPTIONS_PER_CONNECTION})",
            )
        subscription = Subscription(new_id(), kind, self)
        if kind == LOGS:
            subscription.criteria = parse.log_filter(argument or {}, "filter")
            if subscription.criteria.block_hash is not None:
                raise InvalidParams("filter: blockHash is not supported for subscriptions")
        elif kind == NEW_PENDING_TRANSACTIONS:
            subscription.full_transactions = parse.boolean(argument or False, "fullTransactions")
        elif argument not in (None, {}):
            raise InvalidParams(f"{kind}: takes no options")
        self.subscriptions[subscription.id] = subscription
        self.hub.subscriptions[subscription.id] = subscription
        created = _created_by_request.get()
        if created is not None:
            created.append(subscription)
        else:
            subscription.activate()
        return subscription.id

    async def unsubscribe(self, devnet: Devnet, params: Any) -> bool:
        (subscription_id,) = parse_params(params, [(_subscription_id, REQUIRED, "id")])
        subscription = self.subscriptions.pop(subscription_id.lower(), None)
        if subscription is None:
            raise RpcError(SERVER_ERROR, "subscription not found")
        self.hub.subscriptions.pop(subscription.id, None)
        return True


def _subscription_kind(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"{what}: expected a subscription name")
    if value not in (NEW_HEADS, LOGS, NEW_PENDING_TRANSACTIONS, SYNCING):
        raise RpcError(METHOD_NOT_FOUND, f'no "{value}" subscription in eth namespace')
    return value


def _subscription_id(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"{what}: expected a subscription id")
    return value


def _any(value: Any, what: str) -> Any:
    return value
