"""The ingest lane: `POST /v1/signals` answered by the HTTP protocol itself.

uvicorn hands every request to the ASGI application as a task of its own, with
a scope, message events and a send per message, through each middleware and
the framework. For the one hot path that costs more than the work: a raw ASGI
app on uvicorn answers about a third of the requests per second that the same
parser does when the protocol answers (`docs/benchmarks.md`). So `escalade
serve` runs uvicorn with `IngestProtocol`, which answers an ingest request
that is in order (authorised, under its rate limit and size limit, nothing
else in flight on the connection) straight from the parser's callbacks, with
the same parsing, validation, group commit and answer as the route, and the
same security headers. Anything else, errors at the door included (401, 403,
429, a body without Content-Length), goes the ordinary way through the ASGI
stack, so each refusal has one implementation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.responses import Response
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from escalade.api.auth import authorize
from escalade.api.hardening import internal_error, token_key
from escalade.api.responses import JSONResponse
from escalade.api.signals import Intake, accepted_body, admit
from escalade.domain.ratelimit import RateLimiter
from escalade.engine.ingest import Accepted

PATH = b"/v1/signals"
_INGEST = ("ingest",)


@dataclass(frozen=True)
class Lane:
    """What the lane needs of the application: where signals go (the service
    and the group committers), the rate limiter the ASGI stack uses too, the
    body limit and the security headers."""

    intake: Intake
    limiter: RateLimiter | None
    max_body: int
    headers: Sequence[tuple[bytes, bytes]]
    # The 202's head by `queued`, with the default headers it was built with.
    _heads: dict[bool, tuple[list[tuple[bytes, bytes]], bytes]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def accepted_head(self, defaults: list[tuple[bytes, bytes]], queued: bool) -> bytes:
        """The 202's status line and headers, up to its content-length's value.

        uvicorn renews its default headers (`date`) once a second as a new list:
        the heads are built again when the list is another."""
        built = self._heads.get(queued)
        if built is not None and built[0] is defaults:
            return built[1]
        own = [(b"content-type", b"application/json")]
        if queued:
            own.insert(0, (b"preference-applied", b"respond-async"))
        head = b"".join([*self.head(202, defaults, own), b"content-length: "])
        self._heads[queued] = (defaults, head)
        return head

    def head(
        self,
        status: int,
        defaults: Sequence[tuple[bytes, bytes]],
        own: Sequence[tuple[bytes, bytes]],
    ) -> list[bytes]:
        """An answer's status line and header lines: uvicorn's default headers,
        the answer's own, then the security headers it does not set itself."""
        present = {name for name, _ in own}
        lines = [STATUS_LINE[status]]
        for name, value in (
            *defaults,
            *own,
            *(h for h in self.headers if h[0] not in present),
        ):
            lines += [name, b": ", value, b"\r\n"]
        return lines

    def admits(self, headers: dict[bytes, bytes]) -> bool:
        """Whether a request with these headers is the lane's to answer."""
        length = headers.get(b"content-length", b"")
        if not length.isdigit() or int(length) > self.max_body:
            return False
        if b"expect" in headers or b"transfer-encoding" in headers:
            return False
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        try:
            authorize(self.intake.escalade, authorization, _INGEST)
        except Exception:  # noqa: BLE001 - a refusal, or a failure the stack's barrier reports
            return False
        if self.limiter is None:
            return True
        return self.limiter.take(token_key(authorization), time.monotonic()) is None


class _Cycle:
    """A request in the lane, as uvicorn's protocol sees a request in flight."""

    __slots__ = ("body", "disconnected", "keep_alive", "prefer", "response_complete")

    def __init__(self, keep_alive: bool, prefer: bytes) -> None:
        self.keep_alive = keep_alive
        self.prefer = prefer
        self.response_complete = False
        self.disconnected = False
        self.body: list[bytes] = []

    @property
    def message_event(self) -> _Nobody:
        return _NOBODY  # the protocol wakes a request's reader through it; here none waits


class _Nobody:
    def set(self) -> None:
        pass


_NOBODY = _Nobody()


class IngestProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the ingest lane in front."""

    _lane: Lane | None = None
    _in_lane: _Cycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._lane = _find_lane(self.app)

    def on_message_begin(self) -> None:
        self._in_lane = None
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        lane = self._lane
        if (
            lane is not None
            and self.url == PATH
            and self.parser.get_method() == b"POST"
            and (self.cycle is None or self.cycle.response_complete)
            and not self.parser.should_upgrade()
        ):
            headers = dict(self.headers)
            if lane.admits(headers):
                cycle = _Cycle(self.parser.should_keep_alive(), headers.get(b"prefer", b""))
                self._in_lane = cycle
                self.cycle = cycle  # type: ignore[assignment]
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._in_lane is not None:
            self._in_lane.body.append(body)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        cycle = self._in_lane
        if cycle is None:
            super().on_message_complete()
            return
        self._in_lane = None
        assert self._lane is not None
        try:
            prefer = cycle.prefer.decode("latin-1")
            admitted = admit(self._lane.intake, b"".join(cycle.body), prefer)
            if isinstance(admitted, Response):
                self._write(cycle, admitted)
                return
            future, queued = admitted
        except Exception as exc:  # noqa: BLE001 - the lane's error barrier
            self._write(cycle, JSONResponse(internal_error(exc, "POST", "/v1/signals"), 500))
            return
        future.add_done_callback(lambda done: self._committed(cycle, done, queued))

    def _committed(
        self, cycle: _Cycle, done: asyncio.Future[tuple[Accepted, ...]], queued: bool
    ) -> None:
        error = done.exception()
        if error is not None:
            self._write(cycle, JSONResponse(internal_error(error, "POST", "/v1/signals"), 500))
            return
        # The 202 straight to bytes: the route's `answer` with its headers built
        # once a second, not a Response and its header list per request.
        assert self._lane is not None
        body = orjson.dumps(accepted_body(done.result(), queued))
        head = self._lane.accepted_head(self.server_state.default_headers, queued)
        close = b"" if cycle.keep_alive else b"connection: close\r\n"
        self._send(cycle, b"%s%d\r\n%s\r\n%s" % (head, len(body), close, body))

    def _write(self, cycle: _Cycle, response: Response) -> None:
        """Send a whole Response (a refusal, an error)."""
        assert self._lane is not None
        default = self.server_state.default_headers
        lines = self._lane.head(response.status_code, default, response.raw_headers)
        if not cycle.keep_alive:
            lines.append(b"connection: close\r\n")
        lines += [b"\r\n", bytes(response.body)]
        self._send(cycle, b"".join(lines))

    def _send(self, cycle: _Cycle, answer: bytes) -> None:
        """Send the whole answer, then let the connection go on as uvicorn would."""
        cycle.response_complete = True
        if self.transport.is_closing():
            return
        self.transport.write(answer)
        if not cycle.keep_alive:
            self.transport.close()
            return
        self.on_response_complete()


def _find_lane(app: Any) -> Lane | None:
    """The lane of the Escalade app that uvicorn serves (under its own wrappers)."""
    for _ in range(8):
        lane = getattr(getattr(app, "state", None), "ingest_lane", None)
        if isinstance(lane, Lane):
            return lane
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None
