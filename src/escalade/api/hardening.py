"""ASGI layers around the whole API: security headers, a barrier that turns any
unexpected error into a generic 500 with an error id, per-key rate limits and a
request size limit. Pure ASGI (no BaseHTTPMiddleware) so they cost little on
the ingest path and see every response, including 413, 429 and 500."""

from __future__ import annotations

import json
import logging
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson
from starlette.exceptions import HTTPException

from escalade.domain.ratelimit import RateLimiter

log = logging.getLogger("escalade.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Content-Security-Policy for an API (and a server-rendered dashboard): nothing
# from other origins, no inline script, no framing, no plugins, no <base> hijack.
# Inline style attributes stay allowed (the one-page acknowledge and feedback
# answers use them); they cannot run code.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Operations endpoints scraped by monitors are not rate limited.
UNLIMITED_PATHS = frozenset({"/healthz", "/metrics"})


def security_headers(hsts_max_age: int) -> list[tuple[bytes, bytes]]:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": CSP,
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if hsts_max_age > 0:
        headers["Strict-Transport-Security"] = f"max-age={hsts_max_age}; includeSubDomains"
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


async def _respond(
    send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class SecurityHeaders:
    """The headers on every answer, unless the route set its own (the dashboard
    sends a stricter CSP). Static files under `static_prefix` (the dashboard's
    script and styles, which change only with a release) may be cached;
    everything else is `no-store`."""

    def __init__(self, app: ASGIApp, hsts_max_age: int, static_prefix: str = "/ui/static/") -> None:
        self.app = app
        self.headers = security_headers(hsts_max_age)
        self.static_headers = [
            (k, b"public, max-age=3600" if k == b"cache-control" else v) for k, v in self.headers
        ]
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = (
            self.static_headers if scope["path"].startswith(self.static_prefix) else self.headers
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in own}
                message["headers"] = own + [(k, v) for k, v in headers if k not in present]
            await send(message)

        await self.app(scope, receive, with_headers)


class ErrorBarrier:
    """Any exception that reaches here becomes a 500 naming only an error id.

    The log line carries the id, the route and where it failed (file, line,
    function) but not the exception's text, which can quote SQL parameters,
    request bodies or URLs with credentials.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:  # noqa: BLE001 - the barrier is the one place that must catch all
            body = internal_error(exc, scope.get("method"), scope.get("path"))
            if not started:
                await _respond(send, 500, body)


def internal_error(exc: BaseException, method: str | None, path: str | None) -> dict[str, Any]:
    """Log an unexpected error under a new id; the 500 body that names only the id."""
    error_id = secrets.token_hex(8)
    frames = traceback.extract_tb(exc.__traceback__)
    where = " < ".join(f"{f.filename}:{f.lineno}:{f.name}" for f in reversed(frames[-5:]))
    log.error(
        "request.failed",
        extra={
            "error_id": error_id,
            "method": method,
            "path": path,
            "exception": type(exc).__name__,
            "where": where,
        },
    )
    return {
        "error": "internal",
        "message": f"internal error; the server log has it under {error_id}",
        "error_id": error_id,
    }


class RateLimit:
    """Per-key token buckets: the bearer token is the key, else the client address."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter | None) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limiter is None or scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(_client_key(scope), time.monotonic())
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry = self.limiter.retry_after_header(wait)
        await _respond(
            send,
            429,
            {"error": "rate_limited", "message": f"too many requests; retry after {retry} s"},
            [(b"retry-after", retry.encode())],
        )


def _client_key(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return token_key(bytes(value).decode("latin-1"))
    client = scope.get("client")
    return "a:" + (str(client[0]) if client else "?")


def token_key(authorization: str) -> str:
    """The rate-limit bucket of a request that sends an Authorization header."""
    return "t:" + authorization


class BodyLimit:
    """413 for a body over `limit` bytes: at once from Content-Length, or as soon
    as a streamed body passes the limit (nothing of it is processed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if not value.isdigit():
                    await _respond(
                        send, 400, {"error": "bad_request", "message": "invalid Content-Length"}
                    )
                    return
                if int(value) > self.limit:
                    await _respond(send, 413, self._problem())
                    return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # FastAPI passes HTTPExceptions from body reading through as they are.
                    raise HTTPException(413, self._problem()["message"])
            return message

        await self.app(scope, limited, send)

    def _problem(self) -> dict[str, Any]:
        return {"error": "too_large", "message": f"request body over {self.limit} bytes"}


class JsonGuard:
    """422 for JSON bodies that parse but could never be stored: integers beyond
    64 bits, NaN or Infinity, and text with lone UTF-16 surrogates ("\\ud800").
    Without it they pass validation of free-form fields (`args`, `data`) and fail
    at the database as a 500. Paths that parse their own bodies strictly (the
    ingest path, with orjson) are left alone."""

    def __init__(self, app: ASGIApp, skip: frozenset[str] = frozenset({"/v1/signals"})) -> None:
        self.app = app
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH")
            or scope["path"] in self.skip
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = _unstorable(body)
        if problem is not None:
            await _respond(send, 422, {"error": "invalid_request", "message": f"(body): {problem}"})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in bytes(value).lower()
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range for a JSON number")
    return value


def _unstorable(body: bytes) -> str | None:
    """Why this JSON cannot be stored, or None (also for invalid JSON: the
    route's own validation names the problem better)."""
    try:
        parsed = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except ValueError as exc:
        return str(exc) if "JSON number" in str(exc) else None
    try:
        orjson.dumps(parsed)
    except TypeError as exc:
        if "64-bit" in str(exc):
            return "integers must fit in 64 bits"
        return "text must be valid Unicode (no lone surrogates)"
    return None
