"""Facts, decisions, votes and regulatory submissions on an incident."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from escalade.api.auth import requires, service
from escalade.api.errors import problem
from escalade.api.responses import JSONResponse
from escalade.engine.commands import Acted
from escalade.engine.refusals import REFUSALS, refusal
from escalade.engine.service import Escalade, Principal

router = APIRouter(tags=["incident command"])
Responder = Annotated[Principal, Depends(requires("responder"))]


class ActorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str | None = Field(default=None, min_length=1, max_length=200)


class FactBody(ActorBody):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
    value: Any = True
    until: AwareDatetime | None = None


class DecisionBody(ActorBody):
    action: str = Field(min_length=1, max_length=100)
    args: dict[str, Any] = {}


class VoteBody(ActorBody):
    approve: bool
    comment: str | None = Field(default=None, max_length=2000)


class SubmitBody(ActorBody):
    stage: str | None = None


def actor(escalade: Escalade, principal: Principal, by: str | None) -> str:
    """Who acts (see `Escalade.acting_as`)."""
    return escalade.acting_as(principal, by)


async def run_as(
    request: Request, principal: Principal, by: str | None, call: Callable[[Escalade, str], Acted]
) -> Response:
    escalade = service(request)
    try:
        who = actor(escalade, principal, by)
        acted = await anyio.to_thread.run_sync(lambda: call(escalade, who))
    except REFUSALS as exc:
        refused = refusal(exc)
        return problem(refused.status, refused.error, refused.message)
    return JSONResponse({"incident": acted.incident.to_record(), "changed": acted.changed})


@router.post("/v1/incidents/{incident_id}/facts")
async def record_fact(
    incident_id: str, body: Annotated[FactBody, Body()], request: Request, principal: Responder
) -> Response:
    """Record a fact (e.g. `death`, `materiality_determined`); clocks are recomputed."""
    until: datetime | None = body.until
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.record_fact(incident_id, body.name, who, body.value, until),
    )


@router.post("/v1/incidents/{incident_id}/decisions")
async def request_decision(
    incident_id: str, body: Annotated[DecisionBody, Body()], request: Request, principal: Responder
) -> Response:
    """Ask for an action the policy's decision rights govern."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.request_decision(incident_id, body.action, who, body.args),
    )


@router.post("/v1/incidents/{incident_id}/decisions/{decision_id}/votes")
async def vote(
    incident_id: str,
    decision_id: str,
    body: Annotated[VoteBody, Body()],
    request: Request,
    principal: Responder,
) -> Response:
    """Approve or reject; only holders of the approver roles count."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.vote(
            incident_id, who, body.approve, decision_id=decision_id, comment=body.comment
        ),
    )


@router.post("/v1/incidents/{incident_id}/obligations/{obligation}/submit")
async def submit(
    incident_id: str,
    obligation: str,
    body: Annotated[SubmitBody, Body()],
    request: Request,
    principal: Responder,
) -> Response:
    """Record that an obligation's stage was submitted; it satisfies that clock."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.submit(incident_id, obligation, who, body.stage),
    )
