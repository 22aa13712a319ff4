"""Incidents: list, show with timeline, acknowledge, resolve, escalate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from escalade.api.auth import requires, service
from escalade.api.errors import problem
from escalade.api.responses import JSONResponse
from escalade.domain.escalation import CannotEscalate
from escalade.domain.incidents import IllegalTransition
from escalade.domain.paging import Cursor, next_cursor
from escalade.engine.commands import Acted, IncidentNotFound
from escalade.engine.service import Principal

router = APIRouter(tags=["incidents"])

StatusFilter = Annotated[str | None, Query(pattern="^(open|triggered|acknowledged|resolved)$")]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


@router.get("/v1/incidents")
async def list_incidents(
    request: Request,
    _: Annotated[Principal, Depends(requires("viewer"))],
    status: StatusFilter = None,
    tier: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    type: str | None = None,
    model: str | None = None,
    team: str | None = None,
) -> Response:
    """Newest first. Page with `before=<next_before of the previous page>`; `team` keeps
    the incidents led by the team's members."""
    try:
        cursor = Cursor.parse(before) if before else None
    except ValueError as exc:
        errors = [{"field": "query.before", "message": str(exc)}]
        return problem(422, "invalid_request", f"query.before: {exc}", errors=errors)
    found = await anyio.to_thread.run_sync(
        lambda: service(request).list_incidents(
            status=status,
            tier=tier,
            limit=limit,
            before=cursor,
            since=since,
            until=until,
            type=type,
            model=model,
            team=team,
        )
    )
    return JSONResponse({"incidents": found, "next_before": next_cursor(found, limit)})


@router.get("/v1/incidents/{incident_id}")
async def show_incident(
    incident_id: str, request: Request, _: Annotated[Principal, Depends(requires("viewer"))]
) -> Response:
    found = await anyio.to_thread.run_sync(service(request).incident, incident_id)
    if found is None:
        return problem(404, "not_found", f"no incident {incident_id!r}")
    return JSONResponse(found)


async def _act(
    request: Request, principal: Principal, incident_id: str, verb: str, body: ActionBody | None
) -> Response:
    escalade = service(request)
    by = (body.by if body and body.by else None) or principal.name
    note = body.note if body else None
    method = {
        "acknowledge": escalade.acknowledge,
        "resolve": escalade.resolve,
        "escalate": escalade.escalate,
    }[verb]
    try:
        acted: Acted = await anyio.to_thread.run_sync(lambda: method(incident_id, by, note))
    except IncidentNotFound as exc:
        return problem(404, "not_found", str(exc))
    except (IllegalTransition, CannotEscalate) as exc:
        return problem(409, "conflict", str(exc))
    return JSONResponse({"incident": acted.incident.to_record(), "changed": acted.changed})


Principal_ = Annotated[Principal, Depends(requires("responder"))]
OptionalBody = Annotated[ActionBody | None, Body()]


@router.post("/v1/incidents/{incident_id}/acknowledge")
async def acknowledge(
    incident_id: str, request: Request, principal: Principal_, body: OptionalBody = None
) -> Response:
    """Stop the ladder. Acknowledging twice changes nothing."""
    return await _act(request, principal, incident_id, "acknowledge", body)


@router.post("/v1/incidents/{incident_id}/resolve")
async def resolve(
    incident_id: str, request: Request, principal: Principal_, body: OptionalBody = None
) -> Response:
    """Close the incident and cancel its timers. Resolving twice changes nothing."""
    return await _act(request, principal, incident_id, "resolve", body)


@router.post("/v1/incidents/{incident_id}/escalate")
async def escalate(
    incident_id: str, request: Request, principal: Principal_, body: OptionalBody = None
) -> Response:
    """Fire the next rung now."""
    return await _act(request, principal, incident_id, "escalate", body)
