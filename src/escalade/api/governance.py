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
from escalade.domain.command import CommandRefused
from escalade.domain.decisions import DecisionRefused
from escalade.domain.incidents import IllegalTransition
from escalade.engine.commands import Acted, IncidentNotFound
from escalade.engine.service import Escalade, Principal

router = APIRouter(tags=["incident command"])
Responder = Annotated[Principal, Depends(requires("responder"))]

# Refusals a person could fix by being someone else are 403; the rest are conflicts.
_COMMAND_STATUS = {
    "item_closed": 409,
    "item_open": 409,
    "message_sent": 409,
    "not_approved": 409,
    "already_approved": 409,
    "not_an_approver": 403,
    "no_such_message": 404,
    "no_such_item": 404,
    "open_action_items": 409,
    "review_closed": 409,
    "review_incomplete": 409,
}
_FORBIDDEN = {"not_an_approver", "requester_cannot_approve"}


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
    """Who acts. A token named after a person of the policy acts only as that person
    (admins excepted), so one responder cannot cast another's vote."""
    if principal.name in escalade.policy.policy.people and principal.scope != "admin":
        if by not in (None, principal.name):
            raise PermissionError(f"token of {principal.name!r} cannot act as {by!r}")
        return principal.name
    return by or principal.name


async def run_as(
    request: Request, principal: Principal, by: str | None, call: Callable[[Escalade, str], Acted]
) -> Response:
    escalade = service(request)
    try:
        who = actor(escalade, principal, by)
        acted = await anyio.to_thread.run_sync(lambda: call(escalade, who))
    except PermissionError as exc:
        return problem(403, "forbidden", str(exc))
    except IncidentNotFound as exc:
        return problem(404, "not_found", str(exc))
    except DecisionRefused as exc:
        status = 403 if exc.reason in _FORBIDDEN else 409
        return problem(status, exc.reason, str(exc))
    except CommandRefused as exc:
        return problem(_COMMAND_STATUS.get(exc.reason, 422), exc.reason, str(exc))
    except (IllegalTransition, LookupError) as exc:
        return problem(409, "conflict", str(exc))
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
