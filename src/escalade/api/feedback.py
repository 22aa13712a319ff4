"""Responder feedback: participants rate how the response to an incident went.

`POST /v1/incidents/{id}/feedback` takes a rating with a responder token; the
signed link a participant receives (`GET`/`POST /v1/feedback/{token}`) needs no
token: it can rate that incident as that person, and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import anyio
import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field, ValidationError

from escalade.api.auth import requires, service
from escalade.api.errors import problem
from escalade.api.governance import ActorBody
from escalade.api.responses import JSONResponse
from escalade.domain.ack_links import BadAckToken, ExpiredAckToken
from escalade.domain.feedback import MAX_COMMENT, Answer, FeedbackRefused
from escalade.engine.acklinks import AckLinksOff
from escalade.engine.commands import IncidentNotFound
from escalade.engine.service import Principal

router = APIRouter(tags=["feedback"])
Responder = Annotated[Principal, Depends(requires("responder"))]
Viewer = Annotated[Principal, Depends(requires("viewer"))]

_STATUS = {
    "not_resolved": 409,
    "not_a_participant": 403,
    "invalid_rating": 422,
    "invalid_comment": 422,
}
_LINK_ERRORS: dict[type[Exception], tuple[int, str]] = {
    BadAckToken: (403, "invalid_link"),
    ExpiredAckToken: (410, "link_expired"),
    AckLinksOff: (404, "not_found"),
    IncidentNotFound: (404, "not_found"),
}


class FeedbackBody(ActorBody):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


def _answer(answer: Answer) -> dict[str, Any]:
    return {
        "incident_id": answer.incident_id,
        "person": answer.person,
        "rating": answer.rating,
        "comment": answer.comment,
        "submitted_at": answer.submitted_at.isoformat(),
    }


def _refused(exc: Exception, html: bool) -> Response:
    if isinstance(exc, FeedbackRefused):
        status, error = _STATUS.get(exc.reason, 409), exc.reason
    else:
        status, error = _LINK_ERRORS[type(exc)]
    if html:
        return _page("This link cannot be used", f"<p>{escape(str(exc))}.</p>", status)
    return problem(status, error, str(exc))


@router.post("/v1/incidents/{incident_id}/feedback", status_code=201)
async def give_feedback(
    incident_id: str, body: Annotated[FeedbackBody, Body()], request: Request, principal: Responder
) -> Response:
    """A participant rates the response (1-5) once the incident is resolved."""
    escalade = service(request)
    try:
        who = escalade.acting_as(principal, body.by)
        answer = await anyio.to_thread.run_sync(
            lambda: escalade.submit_feedback(incident_id, who, body.rating, body.comment)
        )
    except PermissionError as exc:
        return problem(403, "forbidden", str(exc))
    except (FeedbackRefused, IncidentNotFound) as exc:
        return _refused(exc, html=False)
    return JSONResponse(_answer(answer), status_code=201)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Escalade</title></head>
<body><main>
<h1>{title}</h1>
{body}
</main></body></html>
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


@router.get("/v1/feedback/{token}", response_model=None)
async def feedback_form(token: str, request: Request) -> Response:
    """The form a participant opens from the message; nothing changes until they send it."""
    escalade = service(request)
    try:
        grant = escalade.feedback_grant(token)
    except (BadAckToken, ExpiredAckToken, AckLinksOff) as exc:
        return _refused(exc, html=True)
    incident = await anyio.to_thread.run_sync(escalade.incident, grant.incident_id)
    if incident is None:
        return _refused(IncidentNotFound(grant.incident_id), html=True)
    choices = "".join(
        f'<label><input type="radio" name="rating" value="{n}" required> {n}</label> '
        for n in range(1, 6)
    )
    body = (
        f"<p>Incident <code>{escape(grant.incident_id)}</code>: "
        f"{escape(str(incident['title']))}</p>"
        '<form method="post"><fieldset><legend>How well did the escalation and the '
        "decisions work? 1 = badly, 5 = very well</legend>"
        f"{choices}</fieldset>"
        '<p><label for="comment">Comment (optional)</label><br>'
        f'<textarea id="comment" name="comment" rows="5" cols="60" maxlength="{MAX_COMMENT}">'
        "</textarea></p>"
        f'<button type="submit">Send as {escape(grant.person or "participant")}</button></form>'
        f"<p><small>This link works until {escape(grant.expires_at.isoformat())}.</small></p>"
    )
    return _page("How did the response go?", body)


@router.post("/v1/feedback/{token}", response_model=None)
async def feedback_by_link(token: str, request: Request) -> Response:
    """Rate the response as the person the link was sent to (form or JSON body)."""
    html = "application/x-www-form-urlencoded" in request.headers.get("content-type", "")
    raw = await request.body()
    try:
        if html:
            fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        else:
            fields = orjson.loads(raw) if raw else {}
        form = FeedbackBody.model_validate(
            {"rating": fields.get("rating"), "comment": fields.get("comment") or None}
        )
    except (orjson.JSONDecodeError, ValidationError, AttributeError) as exc:
        message = "rating: expected a whole number from 1 to 5"
        if isinstance(exc, ValidationError) and exc.errors()[0]["loc"][0] == "comment":
            message = f"comment: at most {MAX_COMMENT} characters"
        if html:
            return _page("Feedback not sent", f"<p>{escape(message)}.</p>", 422)
        return problem(422, "invalid_feedback", message)
    escalade = service(request)
    try:
        answer = await anyio.to_thread.run_sync(
            lambda: escalade.feedback_by_link(token, form.rating, form.comment)
        )
    except (BadAckToken, ExpiredAckToken, AckLinksOff, IncidentNotFound, FeedbackRefused) as exc:
        return _refused(exc, html)
    if html:
        return _page("Thank you", "<p>Your rating is recorded. It helps the next incident.</p>")
    return JSONResponse(_answer(answer), status_code=201)


@router.get("/v1/metrics/feedback", tags=["metrics"])
async def feedback_metrics(
    request: Request,
    _: Viewer,
    by: Annotated[Literal["team", "tier"], Query()] = "team",
    since: datetime | None = None,
) -> Response:
    """Satisfaction with the response per team or tier: responses, mean, distribution."""
    found = await anyio.to_thread.run_sync(service(request).feedback_metrics, by, since)
    return JSONResponse(found)
