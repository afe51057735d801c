"""JSON-RPC 2.0 over HTTP POST and WebSocket on one port (aiohttp).

Requests are validated here; methods come from the namespace tables; every exception is
turned into an error object by ``rpc.errors.to_rpc_error``. Each response is written in one
send (with TCP_NODELAY) so keep-alive clients never wait on Nagle's algorithm.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from node.devnet import Devnet
from rpc import anvil, debug, eth, execute, net
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

METHODS: dict[str, Any] = {
    **eth.METHODS,
    **net.METHODS,
    **debug.METHODS,
    **anvil.METHODS,
    **execute.METHODS,
}


def _error(id_: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": error.to_json()}


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class RpcServer:
    def __init__(self, devnet: Devnet) -> None:
        self.devnet = devnet
        self.methods = dict(METHODS)
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.router.add_get("/", self._handle_get)
        self.app.router.add_post("/", self._handle_http)
        self.app.router.add_get("/health", self._health)
        self._runner: web.AppRunner | None = None

    # -- dispatch -------------------------------------------------------------------------

    async def handle_one(self, request: Any) -> dict[str, Any] | None:
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
        handler = self.methods.get(method)
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

    async def handle_payload(self, body: bytes | str) -> bytes | None:
        """A raw body (single or batch) → the raw response body (None: nothing to send)."""
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
            responses = [await self.handle_one(item) for item in payload]
            responses = [r for r in responses if r is not None]
            return _dumps(responses) if responses else None
        response = await self.handle_one(payload)
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
        send_lock = asyncio.Lock()

        async def answer(data: str | bytes) -> None:
            out = await self.handle_payload(data)
            if out is not None and not ws.closed:
                async with send_lock:
                    await ws.send_str(out.decode())

        pending: set[asyncio.Task] = set()
        async for message in ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                task = asyncio.create_task(answer(message.data))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif message.type == WSMsgType.ERROR:
                break
        for task in pending:
            task.cancel()
        return ws

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
