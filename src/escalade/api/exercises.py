"""Live drills: exercise incidents through the real channels and people, and their reports."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from escalade.api.auth import requires, service
from escalade.api.errors import problem
from escalade.api.responses import JSONResponse
from escalade.domain.signals import SignalIn
from escalade.engine.service import Principal

router = APIRouter(tags=["drills"])
Responder = Annotated[Principal, Depends(requires("responder"))]
Viewer = Annotated[Principal, Depends(requires("viewer"))]


class ExerciseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[\w .:-]+$")
    signal: SignalIn


@router.post("/v1/exercises", status_code=201)
async def start_exercise(
    body: Annotated[ExerciseBody, Body()], request: Request, principal: Responder
) -> Response:
    """Open an exercise incident that pages the real people on the real channels,
    every message marked [EXERCISE]; no regulatory clock starts and no external
    message leaves."""
    escalade = service(request)
    try:
        incident_id = await anyio.to_thread.run_sync(
            lambda: escalade.start_exercise(body.signal, body.name, principal.name)
        )
    except ValueError as exc:
        return problem(422, "invalid_exercise", str(exc))
    return JSONResponse(
        {"incident_id": incident_id, "report": f"/v1/exercises/{incident_id}/report"},
        status_code=201,
    )


@router.get("/v1/exercises")
async def list_exercises(
    request: Request, _: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> Response:
    """Every live drill, newest first, as the figures that should improve over time."""
    found = await anyio.to_thread.run_sync(service(request).list_exercises, limit)
    return JSONResponse({"exercises": found})


@router.get("/v1/exercises/{incident_id}/report")
async def exercise_report(incident_id: str, request: Request, _: Viewer) -> Response:
    """Who was reached on which channel, who answered and how fast, which rungs fired,
    which deliveries failed, which decisions stalled, what was held back."""
    found = await anyio.to_thread.run_sync(service(request).exercise_report, incident_id)
    if found is None:
        return problem(404, "not_found", f"no exercise incident {incident_id!r}")
    return JSONResponse(found)
