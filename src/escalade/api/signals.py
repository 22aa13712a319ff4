"""POST /v1/signals: one signal or {"signals": [...]}, 202 once durable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from escalade.api.auth import authorize, requires, service
from escalade.api.errors import item_errors, problem, refusal
from escalade.api.responses import JSONResponse
from escalade.domain.signals import Signal, SignalIn
from escalade.engine.batcher import GroupCommitter
from escalade.engine.ingest import Accepted
from escalade.engine.service import Escalade, Principal

router = APIRouter()

MAX_BODY = 5 * 1024 * 1024
MAX_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Intake:
    """Where accepted signals go: the service, the group commit that routes them
    at once, and the one that queues them (`Prefer: respond-async`).

    One object the app keeps (`app.state.intake`) and the ingest lane holds
    itself: starlette's `State` answers every attribute through `__getattr__`
    after a failed look-up, about 0.4 µs apiece, three a request."""

    escalade: Escalade
    committer: GroupCommitter[Signal]
    queue: GroupCommitter[dict[str, Any]]


def parse_signals(body: bytes) -> list[SignalIn] | JSONResponse:
    """The signals of a request body, or the 4xx that rejects the whole body."""
    if len(body) > MAX_BODY:
        return problem(413, "too_large", f"request body over {MAX_BODY} bytes")
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return problem(400, "invalid_json", f"body is not valid JSON: {exc}")
    if isinstance(data, dict) and "signals" in data and "kind" not in data:
        extra = sorted(set(data) - {"signals"})
        if extra:
            return problem(422, "invalid_signal", f"unknown field '{extra[0]}' beside 'signals'")
        items, prefix = data["signals"], "signals"
        if not isinstance(items, list) or not items:
            return problem(422, "invalid_signal", "signals: expected a non-empty list")
        if len(items) > MAX_BATCH:
            return problem(422, "invalid_signal", f"signals: at most {MAX_BATCH} per request")
    elif isinstance(data, dict):
        items, prefix = [data], ""
    else:
        return problem(422, "invalid_signal", 'expected a signal object or {"signals": [...]}')
    try:
        # The whole list in one call: per-item calls cost more than validating.
        return _SIGNALS.validate_python(items)
    except ValidationError as exc:
        errors = item_errors(exc, prefix)
        first = errors[0]
        return problem(
            422,
            "invalid_signal",
            f"{first['field']}: {first['message']} (nothing was stored)",
            errors=errors,
        )


_SIGNALS = TypeAdapter(list[SignalIn])


@router.post("/v1/signals", status_code=202, tags=["signals"])
async def post_signals(
    request: Request, _: Annotated[Principal, Depends(requires("ingest"))]
) -> Response:
    """Accept signals. Answers 202 only after every signal is committed: routed into
    its incident, or with `Prefer: respond-async` queued durably for the router.

    `FastIngest` answers this path before the framework does; this route is the
    same core behind FastAPI, and what `/openapi.json` documents.
    """
    prefer = request.headers.get("prefer", "")
    return await accept_signals(request.app.state.intake, await request.body(), prefer)


def wants_async(prefer: str) -> bool:
    """Whether a `Prefer` header (RFC 7240) asks for `respond-async`."""
    if prefer == "respond-async":
        return True  # the usual header, spared the parse
    return any(
        part.split(";", 1)[0].strip().lower() == "respond-async" for part in prefer.split(",")
    )


async def accept_signals(intake: Intake, body: bytes, prefer: str) -> Response:
    """Parse, validate and commit the signals of a request body; the 202 or the 4xx."""
    admitted = admit(intake, body, prefer)
    if isinstance(admitted, Response):
        return admitted
    committed, queued = admitted
    return answer(await committed, queued)


def admit(
    intake: Intake, body: bytes, prefer: str
) -> tuple[asyncio.Future[tuple[Accepted, ...]], bool] | Response:
    """The signals of a body handed to their group commit (which one, by
    `Prefer`): the future of their answers and whether they were queued; or
    the 4xx that refuses them all."""
    parsed = parse_signals(body)
    if isinstance(parsed, JSONResponse):
        return parsed
    if wants_async(prefer):
        return intake.queue.enqueue(intake.escalade.accept_queued(parsed)), True
    return intake.committer.enqueue(intake.escalade.accept(parsed)), False


def answer(accepted: Sequence[Accepted], queued: bool) -> Response:
    """The 202 for committed signals."""
    return JSONResponse(
        accepted_body(accepted, queued),
        status_code=202,
        headers={"Preference-Applied": "respond-async"} if queued else None,
    )


def accepted_body(accepted: Sequence[Accepted], queued: bool) -> dict[str, Any]:
    """The body of the 202: how many were new, and each signal's fate."""
    return {
        "accepted": sum(1 for a in accepted if not a.duplicate),
        "signals": [
            {
                "id": a.id,
                "incident_id": a.incident_id,
                "duplicate": a.duplicate,
                "silenced_by": a.silenced_by,
                "routed": not queued,
            }
            for a in accepted
        ],
    }


class FastIngest:
    """`POST /v1/signals` straight from ASGI: the same authorisation and core as the
    route, without the framework's per-request dependency resolution and request
    objects. Ingest is the one hot path; every other request passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/signals" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        intake: Intake = scope["app"].state.intake
        try:
            authorize(
                intake.escalade, headers.get(b"authorization", b"").decode("latin-1"), _INGEST
            )
            body = await _body(receive)
        except HTTPException as exc:
            await refusal(exc)(scope, receive, send)
            return
        prefer = headers.get(b"prefer", b"").decode("latin-1")
        response = await accept_signals(intake, body, prefer)
        await response(scope, receive, send)


_INGEST = ("ingest",)


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise HTTPException(400, "the client went away before sending the body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


@router.get("/v1/signals/{signal_id}", tags=["signals"])
async def get_signal(
    signal_id: str, request: Request, _: Annotated[Principal, Depends(requires("viewer"))]
) -> Response:
    found = service(request).signal(signal_id)
    if found is None:
        return problem(404, "not_found", f"no signal {signal_id!r}")
    return JSONResponse(found)
