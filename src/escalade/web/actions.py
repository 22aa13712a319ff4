"""The forms people submit: each checks CSRF and role, calls one engine function,
then goes back to the page (303) or shows the refusal with the API's status."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import Response

from escalade.engine.refusals import REFUSALS, refusal
from escalade.engine.service import Escalade
from escalade.web.auth import User, acting_user, back, page, router, service


async def _run(
    request: Request, who: User, call: Callable[[Escalade, str], object], then: str
) -> Response:
    escalade = service(request)
    try:
        person = escalade.acting_as(who.principal, who.person)
        await anyio.to_thread.run_sync(lambda: call(escalade, person))
    except REFUSALS as exc:
        refused = refusal(exc)
        return page(request, "error.html", who, status=refused.status, message=refused.message)
    return back(then)


async def _incident_action(
    request: Request, incident_id: str, call: Callable[[Escalade, str, dict[str, str]], object]
) -> Response:
    checked = await acting_user(request)
    if isinstance(checked, Response):
        return checked
    who, fields = checked
    return await _run(
        request, who, lambda e, person: call(e, person, fields), f"/incidents/{incident_id}"
    )


@router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge(request: Request, incident_id: str) -> Response:
    return await _incident_action(
        request, incident_id, lambda e, who, _: e.acknowledge(incident_id, who)
    )


@router.post("/incidents/{incident_id}/resolve")
async def resolve(request: Request, incident_id: str) -> Response:
    return await _incident_action(
        request, incident_id, lambda e, who, f: e.resolve(incident_id, who, f.get("note") or None)
    )


@router.post("/incidents/{incident_id}/decisions/{decision_id}/vote")
async def vote(request: Request, incident_id: str, decision_id: str) -> Response:
    def cast(e: Escalade, who: str, f: dict[str, str]) -> object:
        approve = f.get("approve") == "yes"
        comment = f.get("comment") or None
        return e.vote(incident_id, who, approve, decision_id=decision_id, comment=comment)

    return await _incident_action(request, incident_id, cast)


@router.post("/incidents/{incident_id}/messages")
async def draft(request: Request, incident_id: str) -> Response:
    return await _incident_action(
        request,
        incident_id,
        lambda e, who, f: e.draft_message(incident_id, f.get("template", ""), who),
    )


@router.post("/incidents/{incident_id}/messages/{message_id}/approve")
async def approve_message(request: Request, incident_id: str, message_id: str) -> Response:
    return await _incident_action(
        request, incident_id, lambda e, who, _: e.approve_message(incident_id, message_id, who)
    )


@router.post("/incidents/{incident_id}/messages/{message_id}/send")
async def send_message(request: Request, incident_id: str, message_id: str) -> Response:
    return await _incident_action(
        request, incident_id, lambda e, who, _: e.send_message(incident_id, message_id, who)
    )


@router.post("/incidents/{incident_id}/items/{item_id}/done")
async def item_done(request: Request, incident_id: str, item_id: str) -> Response:
    return await _incident_action(
        request,
        incident_id,
        lambda e, who, _: e.close_action_item(incident_id, item_id, "done", who),
    )


@router.post("/reviews/{review_id}/decision")
async def decide(request: Request, review_id: str) -> Response:
    """Approve, reject, or approve with edited arguments (a JSON object)."""
    checked = await acting_user(request)
    if isinstance(checked, Response):
        return checked
    who, fields = checked
    decision = fields.get("decision")
    if decision not in ("approve", "approve_edited", "reject"):
        message = "decision: expected approve, approve_edited or reject"
        return page(request, "error.html", who, status=422, message=message)
    args: dict[str, Any] | None = None
    if decision == "approve_edited":
        try:
            parsed = json.loads(fields.get("args", ""))
        except ValueError as exc:
            message = f"args: not valid JSON ({exc}); nothing was decided"
            return page(request, "error.html", who, status=422, message=message)
        if not isinstance(parsed, dict):
            message = "args: expected a JSON object; nothing was decided"
            return page(request, "error.html", who, status=422, message=message)
        args = parsed
    comment = fields.get("comment") or None
    return await _run(
        request,
        who,
        lambda e, person: e.answer_review(
            review_id, person, decision != "reject", args=args, comment=comment
        ),
        "/reviews",
    )
