"""Open connections: a cap on how many, and how long one may take to say what it wants.

The listening socket's protocol factory counts the connections aiohttp is serving; past
``--max-connections`` a new one gets ``503 too many open connections (max N)`` and is closed
(after a short linger, so the client reads the answer instead of a reset). Each connection
costs a file descriptor and aiohttp's buffers, and a node on a shared port must stay
reachable for its own tools whatever one misbehaving client opens.

Time: ``--read-timeout`` (geth's 30 s ``ReadTimeout``/``ReadHeaderTimeout``) is how long a
connection may go without delivering a complete request head, counted from its opening or
from its last response. That single aiohttp timer (``keepalive_timeout``) is both the idle
keep-alive timeout and the defence against clients that trickle their headers (slowloris):
aiohttp does not restart it on partial data. The server applies the same limit to reading
a request body. Request-line and header sizes are aiohttp's bounds (8 190 bytes per line,
128 headers), answered ``400``/``431``. A WebSocket is exempt once upgraded: its ping every
30 s closes it when the peer stops answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from aiohttp import web

DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_READ_TIMEOUT_SECONDS = 30.0
REFUSAL_LINGER_SECONDS = 2.0  # how long a refused connection may take to read the 503


class _Refusal(asyncio.Protocol):
    """Answers ``503`` to a connection over the cap and closes it."""

    def __init__(self, max_connections: int) -> None:
        self.text = f"too many open connections (max {max_connections})\n".encode()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's does not subclass it
        self.transport = transport
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Connection: close\r\nRetry-After: 1\r\n"
            + f"Content-Length: {len(self.text)}\r\n\r\n".encode()
            + self.text
        )
        if transport.can_write_eof():
            transport.write_eof()
        # Closing with the request unread would reset the connection and lose the answer:
        # wait for the client to close, but not for long.
        asyncio.get_running_loop().call_later(REFUSAL_LINGER_SECONDS, transport.abort)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not read

    def eof_received(self) -> bool:
        if self.transport is not None:
            self.transport.close()
        return False


def capped_protocol_factory(
    server: web.Server, max_connections: int
) -> Callable[[], asyncio.BaseProtocol]:
    """aiohttp's protocol factory, refusing connections beyond ``max_connections``."""

    def factory() -> asyncio.BaseProtocol:
        if len(server.connections) >= max_connections:
            return _Refusal(max_connections)
        return server()

    return factory
