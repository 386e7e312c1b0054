"""Key authentication, request-size limits and timeouts for the scoring service.

One pure-ASGI middleware (:class:`ServiceGuard`) does all three before any
route runs: it is cheaper per request than Starlette's ``BaseHTTPMiddleware``,
and it can reject an unauthenticated or oversized request before its body is read.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from asl_recog._errors import ConfigurationError

KEY_ENV_VAR = "ASL_RECOG_API_KEY"
logger = logging.getLogger("asl_recog.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def generate_key() -> str:
    """A new random API key (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def read_key_file(path: str | os.PathLike[str]) -> list[str]:
    """Keys in a key file: one per line (a second line allows key rotation); blank lines and # comments skipped.

    Raises:
        ConfigurationError: the file is missing or holds no key.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigurationError(
            f"--key-file {path}: cannot read it ({exc.strerror}). Fix: pass a readable text file holding the API key"
        ) from exc
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise ConfigurationError(f"--key-file {path}: holds no key. Fix: write the API key on its first line")
    return keys


def resolve_keys(
    api_key: str | Iterable[str] | None = None, key_file: str | os.PathLike[str] | None = None
) -> tuple[list[str], bool]:
    """The accepted keys: ``api_key``, else ``key_file``, else ``$ASL_RECOG_API_KEY``, else a new one.

    Returns:
        ``(keys, generated)``; ``generated`` is True when a key was made up here
        and must be shown to the operator.
    """
    if api_key is not None:
        keys = [api_key] if isinstance(api_key, str) else list(api_key)
        if not keys or not all(isinstance(k, str) and k.strip() for k in keys):
            raise ConfigurationError("api_key must be a non-empty string (or a list of them)")
        return [k.strip() for k in keys], False
    if key_file is not None:
        return read_key_file(key_file), False
    env = os.environ.get(KEY_ENV_VAR, "").strip()
    if env:
        return [env], False
    return [generate_key()], True


def announce_generated_key(key: str) -> None:
    """Print a generated key once, to stderr, so the operator can call the service."""
    print(
        f"asl-recog serve: no --key-file or ${KEY_ENV_VAR} given; generated API key (shown once):\n"
        f"    {key}\nSend it as 'Authorization: Bearer <key>'.",
        file=sys.stderr,
        flush=True,
    )


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body read so far exceeds the limit."""


def error_body(code: str, detail: str, where: str | None = None) -> bytes:
    """The JSON error body every non-2xx response of the service uses."""
    return json.dumps({"error": code, "detail": detail, "where": where}).encode()


async def send_error(
    send: Send, status: int, code: str, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with the service's JSON error (:func:`error_body`) from ASGI middleware."""
    await send_json(send, status, error_body(code, detail), headers)


async def send_json(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with a JSON ``body`` from ASGI middleware (no Response object exists there)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServiceGuard:
    """ASGI middleware: bearer-key auth, a body-size limit enforced while reading, and a request timeout.

    Args:
        app: the wrapped ASGI app.
        keys: accepted API keys; None switches authentication off.
        max_body_bytes: largest body accepted (413 beyond it).
        timeout_s: longest time to read and score one request (504 beyond it).
        public_paths: exact paths served without a key.
        public_prefixes: folders (ending in ``/``) whose files are served without a key.

    Which paths are public is a fact of the endpoint table (``_endpoints.PUBLIC_PATHS``);
    the guard only applies it.

    Example:
        >>> async def app(scope, receive, send): ...
        >>> guard = ServiceGuard(app, keys=["s3cret"], max_body_bytes=1024, timeout_s=5.0,
        ...                      public_paths=frozenset({"/health"}), public_prefixes=("/docs/static/",))
        >>> guard.is_public("/health"), guard.is_public("/docs/static/redoc.js"), guard.is_public("/score")
        (True, True, False)
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: list[str] | None,
        max_body_bytes: int,
        timeout_s: float,
        public_paths: frozenset[str],
        public_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app, self.public_paths, self.public_prefixes = app, public_paths, public_prefixes
        # Comparing bytes keeps hmac.compare_digest constant-time for any characters.
        self.keys = [k.encode() for k in keys] if keys is not None else None
        self.max_body_bytes, self.timeout_s = max_body_bytes, timeout_s

    def is_public(self, path: str) -> bool:
        """Whether ``path`` is served without a key."""
        return path in self.public_paths or path.startswith(self.public_prefixes)

    def _authorized(self, header: bytes | None) -> bool:
        if header is None or header[:7].lower() != b"bearer ":
            return False
        token = header[7:].strip()
        ok = False
        for key in self.keys or ():  # no early exit: every key is compared
            ok |= hmac.compare_digest(token, key)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"content-length":
                length = value
        path = scope["path"]
        if self.keys is not None and not self.is_public(path) and not self._authorized(auth):
            detail = "missing API key: send 'Authorization: Bearer <key>'" if auth is None else "invalid API key"
            await send_error(send, 401, "unauthorized", detail, [(b"www-authenticate", b"Bearer")])
            return
        limit = self.max_body_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
            await send_error(
                send,
                413 if length.isdigit() else 400,
                "body_too_large" if length.isdigit() else "bad_request",
                f"the body ({length.decode(errors='replace')} bytes) exceeds the limit of {limit} "
                "bytes; send fewer images per request"
                if length.isdigit()
                else "invalid Content-Length header",
            )
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            # Counted as it arrives: a chunked body or a lying Content-Length cannot get past the limit.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await send_error(
                    send,
                    413,
                    "body_too_large",
                    f"the body exceeds the limit of {limit} bytes; send fewer images per request",
                )
        except TimeoutError:
            logger.warning("%s %s timed out after %.1f s", scope.get("method"), scope["path"], self.timeout_s)
            if not started:
                await send_error(
                    send,
                    504,
                    "timeout",
                    f"the request was not scored within {self.timeout_s:g} s; "
                    "send fewer images per request or retry later",
                )
