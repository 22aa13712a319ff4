"""Communications: drafts from templates, redaction preview, approvals, sending."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response
from pydantic import Field

from escalade.api.auth import requires
from escalade.api.governance import ActorBody, run_as
from escalade.engine.service import Principal

router = APIRouter(tags=["communications"])
Responder = Annotated[Principal, Depends(requires("responder"))]


class DraftBody(ActorBody):
    template: str = Field(min_length=1, max_length=200)


class EditBody(ActorBody):
    subject: str = Field(default="", max_length=1000)
    body: str = Field(min_length=1, max_length=100_000)


@router.post("/v1/incidents/{incident_id}/messages")
async def draft(
    incident_id: str, body: Annotated[DraftBody, Body()], request: Request, principal: Responder
) -> Response:
    """Render a template into a redacted draft; `removed` shows the approver what went."""
    return await run_as(
        request, principal, body.by, lambda e, who: e.draft_message(incident_id, body.template, who)
    )


@router.post("/v1/incidents/{incident_id}/messages/{message_id}")
async def edit(
    incident_id: str,
    message_id: str,
    body: Annotated[EditBody, Body()],
    request: Request,
    principal: Responder,
) -> Response:
    """Change a draft's text: it is redacted again and every approval is dropped."""
    return await run_as(
        request,
        principal,
        body.by,
        lambda e, who: e.edit_message(incident_id, message_id, body.subject, body.body, who),
    )


@router.post("/v1/incidents/{incident_id}/messages/{message_id}/approve")
async def approve(
    incident_id: str,
    message_id: str,
    body: Annotated[ActorBody, Body()],
    request: Request,
    principal: Responder,
) -> Response:
    """Approve this exact text for each required role the caller holds."""
    return await run_as(
        request, principal, body.by, lambda e, who: e.approve_message(incident_id, message_id, who)
    )


@router.post("/v1/incidents/{incident_id}/messages/{message_id}/send")
async def send(
    incident_id: str,
    message_id: str,
    body: Annotated[ActorBody, Body()],
    request: Request,
    principal: Responder,
) -> Response:
    """Send through the outbox; refused until every required role approved this text."""
    return await run_as(
        request, principal, body.by, lambda e, who: e.send_message(incident_id, message_id, who)
    )
