"""JSON-RPC 2.0 over HTTP POST and WebSocket on one port (aiohttp).

Requests are validated here; methods come from the namespace tables; every exception is
turned into an error object by ``rpc.errors.to_rpc_error``. Each response is written in one
send (with TCP_NODELAY) so keep-alive clients never wait on Nagle's algorithm.

A WebSocket connection is one reader loop (a task per request, so a slow call never blocks
the next, at most ``MAX_IN_FLIGHT_PER_CONNECTION`` at once: beyond that the loop stops
reading, and TCP pushes back on the client) and one ``rpc.subscriptions.Session``: its
methods (``eth_subscribe``, ``eth_unsubscribe``) take precedence over the tables, and its
single sender task writes both responses and notifications.

The edge, in the order a request meets it: the connection cap and read timeout
(``rpc.connections``), the Host/Origin/content-type policy (``rpc.http_policy``), the body
size (``--max-body-size``: a longer Content-Length is answered ``413`` before anything is
read, and a WebSocket message over it closes the socket with 1009), strict decoding
(``rpc.wire``), then batches of at most ``MAX_BATCH`` requests whose response stops growing
at ``MAX_BATCH_RESPONSE_BYTES``: the requests after that one are answered geth's
``-32003 response too large`` without being run.

The request log (``-v``): one line per method at ``REQUEST_LEVEL``; at DEBUG (``-vv``) the
line also gives the params size and the time taken. A refused transaction is logged with its
reason at INFO, whatever the verbosity; nothing is formatted when a level is off.

A node may run two of these: the public port (without the test-node controls on an L2, see
``rpc.exposure``) and the authenticated endpoint (every method, behind ``rpc.auth``'s JWT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from node.devnet import Devnet
from rpc import (
    anvil,
    auth,
    connections,
    dashboard,
    debug,
    devnet_info,
    eth,
    execute,
    exposure,
    filters,
    fork_config,
    http_policy,
    net,
    parity,
    sign,
    subscriptions,
    trace,
    txpool,
    unsupported,
    wire,
)
from rpc.errors import (
    INVALID_REQUEST,
    InvalidParams,
    RpcError,
    to_rpc_error,
)
from rpc.http_policy import AccessPolicy, HostPolicy, OriginPolicy

log = logging.getLogger("native_devnet.rpc")


class MalformedHttpOneLine(logging.Filter):
    """aiohttp logs a request it cannot parse (a request line past 8190 bytes, a bad header)
    at ERROR with its traceback: that is a client's mistake, so it becomes one WARNING line,
    and the traceback shows only at ``-vv``."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import BadHttpMessage

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BadHttpMessage) and not log.isEnabledFor(logging.DEBUG):
            record.msg, record.args = "malformed HTTP request refused: %s", (exc.message,)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("aiohttp.server").addFilter(MalformedHttpOneLine())

# "-v": one line per RPC method, between DEBUG ("-vv": sizes, durations, tracebacks) and INFO.
REQUEST_LEVEL = 15
logging.addLevelName(REQUEST_LEVEL, "REQUEST")
TRANSACTION_METHODS = frozenset(
    {
        "eth_sendRawTransaction",
        "eth_sendTransaction",
        "eth_sendRawTransactionSync",
        "eth_sendTransactionSync",
    }
)

# 32 MiB, not geth's 5: anvil_loadState carries a whole chain (about 15 kB of hex per block
# here), so 5 MiB would refuse the dump of a few hundred blocks.
DEFAULT_MAX_BODY_BYTES = 32 * 2**20
MAX_BATCH = 1000  # requests in one batch (geth's)
MAX_BATCH_RESPONSE_BYTES = 25_000_000  # geth's --rpc.batch-response-max-size
MAX_IN_FLIGHT_PER_CONNECTION = 32  # WebSocket requests served at once on one connection
RESPONSE_TOO_LARGE = -32003  # geth's code and message for the rest of such a batch
WEBSOCKET_HEARTBEAT_SECONDS = 30.0

METHODS: dict[str, Any] = {
    **eth.METHODS,
    **net.METHODS,
    **debug.METHODS,
    **anvil.METHODS,
    **execute.METHODS,
    **subscriptions.METHODS,  # over HTTP: "notifications not supported"
    **txpool.METHODS,
    **trace.METHODS,
    **parity.METHODS,
    **sign.METHODS,
    **devnet_info.METHODS,
    **fork_config.METHODS,
}


@dataclass(frozen=True)
class EdgeSettings:
    """The limits and policy a user may change with flags (``rpc.cli``)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_connections: int = connections.DEFAULT_MAX_CONNECTIONS
    read_timeout: float = connections.DEFAULT_READ_TIMEOUT_SECONDS
    allow_hosts: list[str] | None = None  # None: the default for the bind address
    allow_origins: list[str] | None = None  # None: loopback pages and browser extensions


def _error(id_: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": error.to_json()}


def _plain(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text + "\n")
    response.force_close()  # the rest of the body is never read: this connection is done
    return response


class RpcServer:
    def __init__(
        self,
        devnet: Devnet,
        controls: bool = True,
        jwt_secret: bytes | None = None,
        edge: EdgeSettings | None = None,
        filter_store: filters.FilterStore | None = None,
        dashboard_settings: dashboard.DashboardSettings | None = None,
    ) -> None:
        """``controls``: also serve the test-node controls (``rpc.exposure``);
        ``jwt_secret``: the authenticated endpoint, every request needs a token (``rpc.auth``);
        ``edge``: limits and Host/Origin policy (defaults as ``EdgeSettings``);
        ``filter_store``: the polled filters, shared by the servers of one node (a new one
        when None); ``dashboard_settings``: the rollup the page at ``GET /`` shows
        (``rpc.dashboard``)."""
        self.devnet = devnet
        self.edge = edge or EdgeSettings()
        self.filters = filter_store if filter_store is not None else filters.FilterStore()
        self.filters.listen(devnet)
        table = {**METHODS, **self.filters.methods()}
        self.methods = dict(table) if controls else exposure.public_methods(table)
        self.subscriptions = subscriptions.SubscriptionHub(devnet)
        self.access = self._access_for("127.0.0.1")  # until start() knows the bind address
        middlewares = [http_policy.middleware(lambda: self.access)]
        if jwt_secret is not None:
            middlewares.append(auth.jwt_middleware(jwt_secret))
        # Bodies are read by _handle_http against the limit; aiohttp's own cap is a backstop.
        self.app = web.Application(
            client_max_size=self.edge.max_body_bytes, middlewares=middlewares
        )
        self.app.router.add_get("/", self._handle_get)
        self.app.router.add_post("/", self._handle_http)
        self.app.router.add_get("/health", self._health)
        self.dashboard = dashboard.Dashboard(devnet, dashboard_settings)
        self.app.router.add_get("/dashboard/{asset}", self.dashboard.asset)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        # Big bodies are read and decoded a few at a time: memory stays bounded whatever
        # the number of clients sending them.
        self._big_bodies = asyncio.Semaphore(2)

    def _access_for(self, bind_host: str) -> AccessPolicy:
        return AccessPolicy(
            HostPolicy.for_bind(bind_host, self.edge.allow_hosts),
            OriginPolicy.from_flag(self.edge.allow_origins),
        )

    # -- dispatch -------------------------------------------------------------------------

    async def handle_one(
        self, request: Any, session: subscriptions.Session | None = None
    ) -> dict[str, Any] | None:
        """One request object → one response object (None for a notification)."""
        if not isinstance(request, dict):
            return _error(None, RpcError(INVALID_REQUEST, "invalid request"))
        id_ = request.get("id")
        is_notification = "id" not in request
        method = request.get("method")
        if not isinstance(method, str) or request.get("jsonrpc", "2.0") != "2.0":
            return _error(id_, RpcError(INVALID_REQUEST, "invalid request"))
        if id_ is not None and (isinstance(id_, bool) or not isinstance(id_, str | int | float)):
            return _error(None, RpcError(INVALID_REQUEST, "invalid request: bad id"))
        handler = session.methods.get(method) if session is not None else None
        handler = handler or self.methods.get(method)
        params = request.get("params")
        started = time.perf_counter() if log.isEnabledFor(REQUEST_LEVEL) else None
        try:
            if handler is None:
                raise unsupported.refusal(method)  # anvil's names say why
            if params is not None and not isinstance(params, list):
                raise InvalidParams("non-array args")  # geth's words: no by-name params
            result = await handler(self.devnet, params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure becomes an error object, never a crash
            error = to_rpc_error(exc, method)
            if started is not None:
                _log_request(method, params, started)
            if method in TRANSACTION_METHODS:
                log.info("%s rejected: %s", method, error.message)
            if is_notification:
                return None
            return _error(id_, error)
        if started is not None:
            _log_request(method, params, started)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": id_, "result": result}

    async def handle_payload(
        self, body: bytes | str, session: subscriptions.Session | None = None
    ) -> bytes | None:
        """A raw body (single or batch) → the raw response body (None: nothing to send)."""
        try:
            payload = await wire.decode_off_loop(body)
        except RpcError as exc:
            return wire.encode(_error(None, exc))
        if isinstance(payload, list):
            if not payload:
                return wire.encode(_error(None, RpcError(INVALID_REQUEST, "empty batch")))
            if len(payload) > MAX_BATCH:
                return wire.encode(
                    _error(None, RpcError(INVALID_REQUEST, f"batch too large (max {MAX_BATCH})"))
                )
            return await self._handle_batch(payload, session)
        response = await self.handle_one(payload, session)
        return _encode(response) if response is not None else None

    async def _handle_batch(
        self, batch: list[Any], session: subscriptions.Session | None
    ) -> bytes | None:
        """Each request in order; once the encoded answers pass ``MAX_BATCH_RESPONSE_BYTES``
        the remaining requests are not run, each answered ``response too large`` (geth)."""
        parts: list[bytes] = []
        size = 0
        for item in batch:
            if size > MAX_BATCH_RESPONSE_BYTES:
                if isinstance(item, dict) and "id" in item:
                    too_large = RpcError(RESPONSE_TOO_LARGE, "response too large")
                    parts.append(wire.encode(_error(_echoable_id(item), too_large)))
                continue
            response = await self.handle_one(item, session)
            if response is not None:
                parts.append(_encode(response))
                size += len(parts[-1])
            await asyncio.sleep(0)  # one loop turn per request: other clients are not held up
        return b"[" + b",".join(parts) + b"]" if parts else None

    # -- transports -----------------------------------------------------------------------

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        limit = self.edge.max_body_bytes
        length = request.content_length
        if length is not None and length > limit:  # geth's wording
            return _plain(413, f"content length too large ({length}>{limit})")
        big = length is None or length > wire.DECODE_IN_THREAD_BYTES
        try:
            if not big and request.content.is_eof():
                # The whole (small) body came with the headers: nothing to wait for, so no
                # read timeout to arm (a timer per request).
                out = await self.handle_payload(await request.read())
            else:
                out = await self._read_and_handle(request, big)
        except web.HTTPRequestEntityTooLarge:  # a chunked body that did not say its length
            return _plain(413, f"content length too large (more than {limit} bytes)")
        except TimeoutError:
            return _plain(408, f"request body not received within {self.edge.read_timeout:g} s")
        if out is None:
            return web.Response(status=200)
        return web.Response(body=out, content_type="application/json")

    async def _read_and_handle(self, request: web.Request, big: bool) -> bytes | None:
        """The body read within the read timeout (a big one a few at a time), then handled."""
        async with self._big_bodies if big else contextlib.nullcontext():
            async with asyncio.timeout(self.edge.read_timeout):
                body = await request.read()
            return await self.handle_payload(body)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        head = self.devnet.head
        return web.json_response({"ok": True, "blockNumber": head.block_number})

    async def _handle_get(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return await self.dashboard.page(request)  # JSON-RPC: POST, or a WebSocket
        ws = web.WebSocketResponse(
            max_msg_size=self.edge.max_body_bytes, heartbeat=WEBSOCKET_HEARTBEAT_SECONDS
        )
        await ws.prepare(request)
        transport = request.transport
        session = subscriptions.Session(
            self.subscriptions, ws, abort=transport.abort if transport is not None else None
        )

        async def answer(data: str | bytes) -> None:
            with session.request_scope():  # its new subscriptions notify after this response
                out = await self.handle_payload(data, session)
                if out is not None:
                    await session.send(out.decode())

        pending: set[asyncio.Task] = set()
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT_PER_CONNECTION)

        def finished(task: asyncio.Task) -> None:
            pending.discard(task)
            in_flight.release()

        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await in_flight.acquire()  # not reading meanwhile: backpressure
                    task = asyncio.create_task(answer(message.data))
                    pending.add(task)
                    task.add_done_callback(finished)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            session.close()
            for task in pending:
                task.cancel()
        return ws

    async def start(self, host: str, port: int) -> None:
        self.access = self._access_for(host)
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.edge.read_timeout,  # idle and slow-header timeout
        )
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        factory = connections.capped_protocol_factory(server, self.edge.max_connections)
        loop = asyncio.get_running_loop()
        try:
            self._listener = await loop.create_server(factory, host, port, reuse_address=True)
        except OSError:
            await self._runner.cleanup()
            raise

    async def stop(self) -> None:
        self.subscriptions.close()
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()


def _log_request(method: str, params: Any, started: float) -> None:
    """The request's line (called only when ``REQUEST_LEVEL`` is on)."""
    if log.isEnabledFor(logging.DEBUG):
        size = len(wire.encode(params)) if params is not None else 0
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("%.200s (%d bytes of params, %.1f ms)", method, size, elapsed_ms)
    else:
        log.log(REQUEST_LEVEL, "%.200s", method)


def _encode(response: dict[str, Any]) -> bytes:
    """A response as strict JSON; one that cannot be (a handler's bug) becomes an error."""
    try:
        return wire.encode(response)
    except (TypeError, ValueError) as exc:
        return wire.encode(_error(response.get("id"), to_rpc_error(exc)))


def _echoable_id(request: dict[str, Any]) -> Any:
    id_ = request.get("id")
    return id_ if isinstance(id_, str | int | float) and not isinstance(id_, bool) else None
