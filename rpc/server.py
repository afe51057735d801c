"""JSON-RPC 2.0 over HTTP POST and WebSocket on one port (aiohttp).

Requests are validated here; methods come from the namespace tables; every exception is
turned into an error object by ``rpc.errors.to_rpc_error``. Each response is written in one
send (with TCP_NODELAY) so keep-alive clients never wait on Nagle's algorithm.

A WebSocket connection is one reader loop (a task per request, so a slow call never blocks
the next) and one ``rpc.subscriptions.Session``: its methods (``eth_subscribe``,
``eth_unsubscribe``) take precedence over the tables, and its single sender task writes both
responses and notifications.

A node may run two of these: the public port (without the test-node controls on an L2, see
``rpc.exposure``) and the authenticated endpoint (every method, behind ``rpc.auth``'s JWT).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from node.devnet import Devnet
from precompiles.nesting import json_depth_ok
from rpc import (
    anvil,
    auth,
    debug,
    devnet_info,
    eth,
    execute,
    exposure,
    filters,
    net,
    sign,
    subscriptions,
    trace,
    txpool,
)
from rpc.errors import (
    INVALID_REQUEST,
    PARSE_ERROR,
    MethodNotFound,
    RpcError,
    to_rpc_error,
)

log = logging.getLogger("native_devnet.rpc")

MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_BATCH = 1000
MAX_REQUEST_DEPTH = 64

METHODS: dict[str, Any] = {
    **eth.METHODS,
    **net.METHODS,
    **debug.METHODS,
    **anvil.METHODS,
    **execute.METHODS,
    **filters.METHODS,
    **subscriptions.METHODS,  # over HTTP: "notifications not supported"
    **txpool.METHODS,
    **trace.METHODS,
    **sign.METHODS,
    **devnet_info.METHODS,
}


def _error(id_: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": error.to_json()}


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class RpcServer:
    def __init__(
        self, devnet: Devnet, controls: bool = True, jwt_secret: bytes | None = None
    ) -> None:
        """``controls``: also serve the test-node controls (``rpc.exposure``);
        ``jwt_secret``: the authenticated endpoint, every request needs a token (``rpc.auth``)."""
        self.devnet = devnet
        self.methods = dict(METHODS) if controls else exposure.public_methods(METHODS)
        self.subscriptions = subscriptions.SubscriptionHub(devnet)
        middlewares = [auth.jwt_middleware(jwt_secret)] if jwt_secret is not None else []
        self.app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
        self.app.router.add_get("/", self._handle_get)
        self.app.router.add_post("/", self._handle_http)
        self.app.router.add_get("/health", self._health)
        self._runner: web.AppRunner | None = None

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
        if id_ is not None and not isinstance(id_, str | int | float):
            return _error(None, RpcError(INVALID_REQUEST, "invalid request: bad id"))
        handler = session.methods.get(method) if session is not None else None
        handler = handler or self.methods.get(method)
        try:
            if handler is None:
                raise MethodNotFound(method)
            result = await handler(self.devnet, request.get("params"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure becomes an error object, never a crash
            if is_notification:
                return None
            return _error(id_, to_rpc_error(exc))
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": id_, "result": result}

    async def handle_payload(
        self, body: bytes | str, session: subscriptions.Session | None = None
    ) -> bytes | None:
        """A raw body (single or batch) → the raw response body (None: nothing to send)."""
        raw = body.encode() if isinstance(body, str) else body
        if not json_depth_ok(raw, MAX_REQUEST_DEPTH):  # deep nesting would overflow the C stack
            return _dumps(_error(None, RpcError(PARSE_ERROR, "parse error: nested too deep")))
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _dumps(_error(None, RpcError(PARSE_ERROR, "parse error")))
        if isinstance(payload, list):
            if not payload:
                return _dumps(_error(None, RpcError(INVALID_REQUEST, "empty batch")))
            if len(payload) > MAX_BATCH:
                return _dumps(
                    _error(None, RpcError(INVALID_REQUEST, f"batch too large (max {MAX_BATCH})"))
                )
            responses = [await self.handle_one(item, session) for item in payload]
            responses = [r for r in responses if r is not None]
            return _dumps(responses) if responses else None
        response = await self.handle_one(payload, session)
        return _dumps(response) if response is not None else None

    # -- transports -----------------------------------------------------------------------

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        out = await self.handle_payload(body)
        if out is None:
            return web.Response(status=200)
        return web.Response(body=out, content_type="application/json")

    async def _health(self, request: web.Request) -> web.StreamResponse:
        head = self.devnet.head
        return web.json_response({"ok": True, "blockNumber": head.block_number})

    async def _handle_get(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(text="native-devnet JSON-RPC: POST JSON or open a WebSocket\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY_BYTES, heartbeat=30)
        await ws.prepare(request)
        session = subscriptions.Session(self.subscriptions, ws)

        async def answer(data: str | bytes) -> None:
            with session.request_scope():  # its new subscriptions notify after this response
                out = await self.handle_payload(data, session)
                if out is not None:
                    await session.send(out.decode())

        pending: set[asyncio.Task] = set()
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    task = asyncio.create_task(answer(message.data))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            session.close()
            for task in pending:
                task.cancel()
        return ws

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        self.subscriptions.close()
        if self._runner is not None:
            await self._runner.cleanup()
