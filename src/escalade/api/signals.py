"""POST /v1/signals: one signal or {"signals": [...]}, 202 once durable."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from escalade.api.auth import requires, service
from escalade.api.errors import problem, validation_errors
from escalade.api.responses import JSONResponse
from escalade.domain.signals import SignalIn
from escalade.engine.batcher import GroupCommitter
from escalade.engine.service import Principal

router = APIRouter()

MAX_BODY = 5 * 1024 * 1024
MAX_BATCH = 10_000


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
    parsed: list[SignalIn] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            parsed.append(SignalIn.model_validate(item))
        except ValidationError as exc:
            errors += validation_errors(exc, f"{prefix}[{index}]" if prefix else "")
    if errors:
        first = errors[0]
        return problem(
            422,
            "invalid_signal",
            f"{first['field']}: {first['message']} (nothing was stored)",
            errors=errors,
        )
    return parsed


@router.post("/v1/signals", status_code=202, tags=["signals"])
async def post_signals(
    request: Request, _: Annotated[Principal, Depends(requires("ingest"))]
) -> Response:
    """Accept signals. Answers 202 only after every signal is committed."""
    parsed = parse_signals(await request.body())
    if isinstance(parsed, JSONResponse):
        return parsed
    escalade = service(request)
    committer: GroupCommitter = request.app.state.committer
    accepted = await committer.submit(escalade.accept(parsed))
    return JSONResponse(
        {
            "accepted": sum(1 for a in accepted if not a.duplicate),
            "signals": [
                {
                    "id": a.id,
                    "incident_id": a.incident_id,
                    "duplicate": a.duplicate,
                    "silenced_by": a.silenced_by,
                }
                for a in accepted
            ],
        },
        status_code=202,
    )


@router.get("/v1/signals/{signal_id}", tags=["signals"])
async def get_signal(
    signal_id: str, request: Request, _: Annotated[Principal, Depends(requires("viewer"))]
) -> Response:
    found = service(request).signal(signal_id)
    if found is None:
        return problem(404, "not_found", f"no signal {signal_id!r}")
    return JSONResponse(found)
