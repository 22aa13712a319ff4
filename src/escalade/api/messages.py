"""Communications and the post-incident review: drafts, approvals, sending, export."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import Field

from escalade.api.auth import requires, service
from escalade.api.errors import problem
from escalade.api.governance import ActorBody, run_as
from escalade.api.responses import JSONResponse
from escalade.domain.learnings import ExportRefused
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


class ReviewBody(ActorBody):
    fields: dict[str, str] = Field(default_factory=dict)


@router.post("/v1/incidents/{incident_id}/review")
async def edit_review(
    incident_id: str, body: Annotated[ReviewBody, Body()], request: Request, principal: Responder
) -> Response:
    """Open the post-incident review (if needed) and write sections of it:
    summary, impact, root_causes, went_well, got_lucky."""
    return await run_as(
        request, principal, body.by, lambda e, who: e.edit_review(incident_id, who, body.fields)
    )


@router.post("/v1/incidents/{incident_id}/review/close")
async def close_review(
    incident_id: str, body: Annotated[ActorBody, Body()], request: Request, principal: Responder
) -> Response:
    """Close the review; refused while any action item is open."""
    return await run_as(
        request, principal, body.by, lambda e, who: e.close_review(incident_id, who)
    )


@router.get("/v1/incidents/{incident_id}/export")
async def export_learning(
    incident_id: str, request: Request, _: Annotated[Principal, Depends(requires("viewer"))]
) -> Response:
    """The incident anonymised for publishing: people become roles, text is redacted."""
    try:
        found = await anyio.to_thread.run_sync(service(request).learning_export, incident_id)
    except ExportRefused as exc:
        return problem(409, "export_refused", str(exc))
    if found is None:
        return problem(404, "not_found", f"no incident {incident_id!r}")
    return JSONResponse(found)


@router.get("/v1/incidents/{incident_id}/review.md")
async def export_review(
    incident_id: str, request: Request, _: Annotated[Principal, Depends(requires("viewer"))]
) -> Response:
    """The review as Markdown."""
    text = await anyio.to_thread.run_sync(service(request).review_markdown, incident_id)
    if text is None:
        return problem(404, "not_found", f"no incident {incident_id!r}")
    return PlainTextResponse(text, media_type="text/markdown")
