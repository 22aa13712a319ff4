"""Incident command: roles, status updates, severity, the decision log, action items."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, Field

from escalade.api.auth import requires
from escalade.api.governance import ActorBody, run_as
from escalade.engine.service import Principal

router = APIRouter(tags=["incident command"])
Responder = Annotated[Principal, Depends(requires("responder"))]
Text = Annotated[str, Field(min_length=1, max_length=5000)]


class RoleBody(ActorBody):
    role: str = Field(min_length=1, max_length=100)
    person: str = Field(min_length=1, max_length=200)
    reason: Text


class UpdateBody(ActorBody):
    stage: Literal["investigating", "identified", "monitoring", "resolved"]
    message: Text


class SeverityBody(ActorBody):
    tier: str = Field(min_length=1, max_length=100)
    reason: Text


class LogBody(ActorBody):
    what: Text
    why: Text
    evidence: list[str] = Field(default_factory=list, max_length=50)
    role: str | None = None
    decision_id: str | None = None


class ItemBody(ActorBody):
    title: Text
    owner: str = Field(min_length=1, max_length=200)
    due_at: AwareDatetime


class CloseItemBody(ActorBody):
    state: Literal["done", "cancelled"]
    note: str | None = Field(default=None, max_length=5000)
    policy_version: str | None = Field(default=None, max_length=64)  # resolved by this change


@router.post("/v1/incidents/{incident_id}/roles")
async def assign_role(
    incident_id: str, body: Annotated[RoleBody, Body()], request: Request, principal: Responder
) -> Response:
    """Hand a role to someone, with a reason; they are notified with its instructions."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.assign_role(incident_id, body.role, body.person, who, body.reason),
    )


@router.post("/v1/incidents/{incident_id}/updates")
async def post_update(
    incident_id: str, body: Annotated[UpdateBody, Body()], request: Request, principal: Responder
) -> Response:
    """A status update (Statuspage stages); restarts the update cadence."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.post_update(incident_id, body.stage, body.message, who),
    )


@router.post("/v1/incidents/{incident_id}/severity")
async def change_severity(
    incident_id: str, body: Annotated[SeverityBody, Body()], request: Request, principal: Responder
) -> Response:
    """Move the incident to another tier, with a reason."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.change_severity(incident_id, body.tier, who, body.reason),
    )


@router.post("/v1/incidents/{incident_id}/log")
async def log_decision(
    incident_id: str, body: Annotated[LogBody, Body()], request: Request, principal: Responder
) -> Response:
    """Record a decision: what, why, the evidence, and under which role or right."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.log_decision(
            incident_id,
            body.what,
            body.why,
            who,
            evidence=tuple(body.evidence),
            role=body.role,
            decision_id=body.decision_id,
        ),
    )


@router.post("/v1/incidents/{incident_id}/action-items")
async def add_action_item(
    incident_id: str, body: Annotated[ItemBody, Body()], request: Request, principal: Responder
) -> Response:
    """An action item with an owner and a deadline (reminded before, escalated after)."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.add_action_item(incident_id, body.title, body.owner, body.due_at, who),
    )


@router.post("/v1/incidents/{incident_id}/action-items/{item_id}")
async def close_action_item(
    incident_id: str,
    item_id: str,
    body: Annotated[CloseItemBody, Body()],
    request: Request,
    principal: Responder,
) -> Response:
    """Close an action item as done or cancelled; `policy_version` (a version number
    or digest prefix) marks it as resolved by that policy change."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.close_action_item(
            incident_id, item_id, body.state, who, body.note, policy_version=body.policy_version
        ),
    )
