"""The authenticated endpoint's gate: Engine-API-style JWT bearer tokens (HS256).

As geth's ``--authrpc.jwtsecret``: the secret is 32 bytes, hex in a file (``0x`` optional);
a file that does not exist is created with a fresh random secret, mode 0600, and its path
logged. Every request (HTTP POST and the WebSocket upgrade) carries
``Authorization: Bearer <token>``, a token signed with the secret whose ``iat`` lies within
``IAT_TOLERANCE_SECONDS`` of the node's clock; an optional ``exp`` is honoured. Anything else
is answered 401 with geth's wording (``missing token``, ``stale token``, ``future token``...).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt
from aiohttp import web

log = logging.getLogger("native_devnet.rpc")

JWT_SECRET_BYTES = 32
IAT_TOLERANCE_SECONDS = 60  # geth's jwtExpiryTimeout
JWT_ALGORITHM = "HS256"  # the only one the Engine API allows
SECRET_FILE_MODE = 0o600


class JwtSecretError(ValueError):
    """A JWT secret file that cannot be used, with the reason."""


def parse_secret(text: str, where: str) -> bytes:
    """32 bytes from hex text (``0x`` optional, surrounding whitespace ignored)."""
    raw = text.strip().removeprefix("0x").removeprefix("0X")
    try:
        secret = bytes.fromhex(raw)
    except ValueError:
        raise JwtSecretError(f"invalid JWT secret in {where}: not hex") from None
    if len(secret) != JWT_SECRET_BYTES:
        raise JwtSecretError(
            f"invalid JWT secret in {where}: {len(secret)} bytes, need {JWT_SECRET_BYTES}"
        )
    return secret


def load_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``; a missing file is created (0600) with a fresh random secret."""
    try:
        return parse_secret(path.read_text(), str(path))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise JwtSecretError(f"cannot read JWT secret {path}: {exc.strerror}") from None
    secret = secrets.token_bytes(JWT_SECRET_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never overwrite a secret another process wrote in between.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    except FileExistsError:
        return parse_secret(path.read_text(), str(path))
    except OSError as exc:
        raise JwtSecretError(f"cannot create JWT secret {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as out:
        out.write("0x" + secret.hex())
    log.info("generated JWT secret %s", path)
    return secret


def make_token(secret: bytes, now: float | None = None) -> str:
    """A token the endpoint accepts (what a client such as the sequencer sends)."""
    issued = int(time.time() if now is None else now)
    return jwt.encode({"iat": issued}, secret, algorithm=JWT_ALGORITHM)


def token_error(authorization: str | None, secret: bytes, now: float | None = None) -> str | None:
    """Why an ``Authorization`` header is refused (geth's wording), or ``None`` if it passes."""
    header = authorization or ""
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token:
        return "missing token"
    now = time.time() if now is None else now
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            # iat is checked below with geth's tolerance; PyJWT would refuse any future iat.
            options={"verify_iat": False, "verify_exp": False},
        )
    except jwt.InvalidSignatureError:
        return "signature is invalid"
    except jwt.PyJWTError as exc:
        return f"invalid token: {exc}"
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp < now):
        return "token is expired"
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        return "missing issued-at"
    if now - iat > IAT_TOLERANCE_SECONDS:
        return "stale token"
    if iat - now > IAT_TOLERANCE_SECONDS:
        return "future token"
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def jwt_middleware(
    secret: bytes,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware that answers 401 to every request without a valid token."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        reason = token_error(request.headers.get("Authorization"), secret)
        if reason is not None:
            return web.Response(status=401, text=reason + "\n")
        return await handler(request)

    return check
