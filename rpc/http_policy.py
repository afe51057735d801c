"""Who may talk to the node over HTTP and WebSocket: content type, Host and Origin.

A dev node holds unlocked accounts and test controls (``anvil_reset``, ``anvil_setBalance``),
so any web page the user visits must not be able to drive it. Three checks, as geth makes
them, run before any request is served:

- **Content type.** A POST must be JSON (``application/json``, or geth's other two spellings,
  parameters such as ``charset`` allowed); anything else is answered ``415``. A page can send
  a cross-origin ``text/plain`` or form POST without asking first; a JSON POST needs a CORS
  preflight, which the Origin policy answers.
- **Host** (DNS rebinding). A hostile page whose name re-resolves to 127.0.0.1 talks to the
  node as its own origin; its requests still name the attacker's host. On a loopback bind
  only ``localhost`` (any port) and IP literals (which cannot be rebound) are served; other
  names get ``403 invalid host specified`` (geth's ``--http.vhosts localhost``). Beyond
  loopback the node is meant to be reached under names it cannot know (a Docker service
  name, a LAN hostname), so any Host is served unless ``--allow-host`` says otherwise.
- **Origin**, one policy for CORS preflights, cross-origin requests and WebSocket upgrades
  (which browsers never preflight). By default: pages served from loopback (http/https,
  ``localhost``, ``127.0.0.1``, ``[::1]``, any port), so local dapps work, and browser
  extensions (wallets such as MetaMask call the node from their own origin). Requests
  without an Origin header (every non-browser client) are served. ``--allow-origin '*'``
  is anvil's behaviour (any origin); a list replaces the default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from aiohttp import web

ACCEPTED_CONTENT_TYPES = frozenset(
    {"application/json", "application/json-rpc", "application/jsonrequest"}
)
LOOPBACK_NAMES = ("localhost",)
DEFAULT_ALLOWED_ORIGINS = (
    *(
        f"{scheme}://{host}{port}"
        for scheme in ("http", "https")
        for host in ("localhost", "127.0.0.1", "[::1]")
        for port in ("", ":*")
    ),
    "chrome-extension://*",
    "moz-extension://*",
    "safari-web-extension://*",
)
ANY = "*"
CORS_METHODS = "POST, GET, OPTIONS"
CORS_MAX_AGE_SECONDS = 600  # geth's

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """True for a bind address or host name that only this machine can reach."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_flag_values(values: Iterable[str] | None) -> list[str] | None:
    """``--allow-host a,b --allow-host c`` → ``["a", "b", "c"]`` (``None``: not given)."""
    if values is None:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _glob(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters but ``/``; everything else is literal."""
    return re.compile(".*" if pattern == ANY else re.escape(pattern).replace(r"\*", "[^/]*"))


def _host_name(header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_ip_literal(name: str) -> bool:
    """Whether ``name`` is an IP address. Asked on every request, so a short name's answer
    is kept (at most 256 of them); a long one (an IPv6 address with a long zone) is parsed."""
    return _parses_as_ip(name) if len(name) > 64 else _short_is_ip_literal(name)


def _parses_as_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


_short_is_ip_literal = lru_cache(maxsize=256)(_parses_as_ip)


@dataclass(frozen=True)
class HostPolicy:
    """Which Host headers are served (``patterns`` is ``None``: any)."""

    patterns: tuple[str, ...] | None

    @classmethod
    def for_bind(cls, bind_host: str, allowed: list[str] | None = None) -> HostPolicy:
        if allowed is not None:
            return cls(None if ANY in allowed else tuple(p.lower() for p in allowed))
        return cls(LOOPBACK_NAMES if is_loopback(bind_host) else None)

    def allows(self, header: str | None) -> bool:
        if self.patterns is None or header is None:  # browsers always send Host
            return True
        name = _host_name(header)
        if _is_ip_literal(name):
            return True  # an IP literal cannot be re-resolved by an attacker
        return any(_glob(p).fullmatch(name) for p in self.patterns)

    def describe(self) -> str:
        return "any" if self.patterns is None else ", ".join(self.patterns) + ", IP addresses"


@dataclass(frozen=True)
class OriginPolicy:
    """Which browser origins may call the node (``patterns`` is ``None``: any)."""

    patterns: tuple[str, ...] | None = DEFAULT_ALLOWED_ORIGINS

    @classmethod
    def from_flag(cls, allowed: list[str] | None) -> OriginPolicy:
        if allowed is None:
            return cls()
        return cls(None if ANY in allowed else tuple(p.lower() for p in allowed))

    def allows(self, origin: str) -> bool:
        if self.patterns is None:
            return True
        origin = origin.strip().lower()
        return any(_glob(p).fullmatch(origin) for p in self.patterns)

    def describe(self) -> str:
        if self.patterns is None:
            return "any"
        if self.patterns == DEFAULT_ALLOWED_ORIGINS:
            return "loopback pages and browser extensions"
        return ", ".join(self.patterns)


@dataclass(frozen=True)
class AccessPolicy:
    hosts: HostPolicy
    origins: OriginPolicy


def _refuse(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n")


def _cors_headers(policy: OriginPolicy, origin: str) -> dict[str, str]:
    if policy.patterns is None:
        return {"Access-Control-Allow-Origin": "*"}  # anvil's answer
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _preflight(request: web.Request, policy: OriginPolicy, origin: str | None) -> web.Response:
    if origin is None:  # not a CORS preflight: just say what the endpoint takes
        return web.Response(status=204, headers={"Allow": CORS_METHODS})
    if not policy.allows(origin):
        return _refuse(403, f"origin not allowed: {origin} (see --allow-origin)")
    headers = {
        **_cors_headers(policy, origin),
        "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Allow-Headers": request.headers.get(
            "Access-Control-Request-Headers", "content-type"
        ),
        "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
    }
    if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
        headers["Access-Control-Allow-Private-Network"] = "true"  # a public page → loopback
    return web.Response(status=204, headers=headers)


def middleware(current: Callable[[], AccessPolicy]) -> Callable[..., Awaitable]:
    """The aiohttp middleware that applies ``current()``'s policy to every request."""

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        policy = current()
        if not policy.hosts.allows(request.headers.get("Host")):
            return _refuse(403, "invalid host specified (see --allow-host)")
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS":
            return _preflight(request, policy.origins, origin)
        if origin is not None and not policy.origins.allows(origin):
            return _refuse(403, f"origin not allowed: {origin} (see --allow-origin)")
        if request.method == "POST" and request.content_type.lower() not in ACCEPTED_CONTENT_TYPES:
            return _refuse(415, "invalid content type, only application/json is supported")
        response = await handler(request)
        if origin is not None and not response.prepared:  # a WebSocket is already sent
            response.headers.update(_cors_headers(policy.origins, origin))
        return response

    return access
