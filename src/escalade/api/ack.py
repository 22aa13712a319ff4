"""Acknowledge links: `GET /v1/ack/{token}` asks, `POST /v1/ack/{token}` acknowledges.

No bearer token: the signed, expiring link is the credential, and it can do this
one thing only. GET changes nothing, so mail scanners that open links ack nothing.
"""

from __future__ import annotations

from html import escape

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from escalade.api.auth import service
from escalade.api.errors import problem
from escalade.api.responses import JSONResponse
from escalade.domain.ack_links import BadAckToken, ExpiredAckToken
from escalade.domain.incidents import IllegalTransition
from escalade.engine.acklinks import AckLinksOff
from escalade.engine.commands import IncidentNotFound

router = APIRouter(tags=["incidents"])

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Escalade</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
<h1>{title}</h1>
{body}
</body></html>
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _refused(request: Request, exc: Exception) -> Response:
    status, error = _REFUSALS[type(exc)]
    if _wants_html(request):
        return _page("This link cannot be used", f"<p>{escape(str(exc))}.</p>", status)
    return problem(status, error, str(exc))


_REFUSALS: dict[type[Exception], tuple[int, str]] = {
    BadAckToken: (403, "invalid_link"),
    ExpiredAckToken: (410, "link_expired"),
    AckLinksOff: (404, "not_found"),
    IncidentNotFound: (404, "not_found"),
    IllegalTransition: (409, "illegal_transition"),
}


@router.get("/v1/ack/{token}", response_model=None)
async def confirm_page(token: str, request: Request) -> Response:
    """A page that asks the responder to confirm; nothing changes until they press it."""
    escalade = service(request)
    try:
        grant = escalade.ack_grant(token)
    except (BadAckToken, ExpiredAckToken, AckLinksOff) as exc:
        return _refused(request, exc)
    incident = await anyio.to_thread.run_sync(escalade.incident, grant.incident_id)
    if incident is None:
        return _refused(request, IncidentNotFound(grant.incident_id))
    title = escape(str(incident["title"]))
    status = escape(str(incident["status"]))
    body = (
        f"<p>Incident <code>{escape(grant.incident_id)}</code>: {title}</p>"
        f"<p>Status: <strong>{status}</strong> (tier {escape(str(incident['tier']))})</p>"
        f'<form method="post"><button type="submit">Acknowledge as '
        f"{escape(grant.person or 'link holder')}</button></form>"
        f"<p><small>This link works until {escape(grant.expires_at.isoformat())}.</small></p>"
    )
    return _page("Acknowledge incident", body)


@router.post("/v1/ack/{token}", response_model=None)
async def acknowledge_by_link(token: str, request: Request) -> Response:
    """Acknowledge the incident as the person the link was sent to."""
    escalade = service(request)
    try:
        acted = await anyio.to_thread.run_sync(escalade.acknowledge_by_link, token)
    except (BadAckToken, ExpiredAckToken, AckLinksOff, IncidentNotFound, IllegalTransition) as e:
        return _refused(request, e)
    incident = acted.incident
    if _wants_html(request):
        who = escape(incident.acknowledged_by or "")
        return _page(
            "Acknowledged", f"<p>Incident {escape(incident.id)} is acknowledged by {who}.</p>"
        )
    return JSONResponse(
        {
            "incident_id": incident.id,
            "status": incident.status.value,
            "acknowledged_by": incident.acknowledged_by,
            "changed": acted.changed,
        }
    )
