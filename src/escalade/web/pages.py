"""The pages people read: incidents, reviews, on call, policy, metrics, audit log.

Each page calls the same engine functions as the API and hands the result to a
view function (web/views.py); templates only place what they are given.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from escalade.domain.paging import Cursor, next_cursor
from escalade.domain.reviews import Review
from escalade.web import views
from escalade.web.auth import PREFIX, page, router, service, user

PAGE_SIZE = 25
_STATUSES = ("open", "triggered", "acknowledged", "resolved")


@router.get("/")
async def home() -> Response:
    return RedirectResponse(f"{PREFIX}/incidents", status_code=303)


@router.get("/incidents")
async def incidents(request: Request) -> Response:
    who = await user(request)
    escalade = service(request)
    policy = escalade.policy.policy
    query = request.query_params
    filters = {name: query.get(name, "").strip() for name in _FILTERS}
    problems = []
    if filters["status"] and filters["status"] not in _STATUSES:
        problems.append(f"status: expected one of {', '.join(_STATUSES)}")
    since = _date(filters["since"], policy.tz, "since", problems)
    until = _date(filters["until"], policy.tz, "until", problems)
    before = _cursor(query.get("before", ""), problems)
    if problems:
        return page(request, "error.html", who, status=422, message="; ".join(problems))
    found = await anyio.to_thread.run_sync(
        lambda: escalade.list_incidents(
            status=filters["status"] or None,
            tier=filters["tier"] or None,
            type=filters["type"] or None,
            model=filters["model"] or None,
            team=filters["team"] or None,
            since=since,
            until=until + timedelta(days=1) if until else None,  # the whole last day
            before=before,
            limit=PAGE_SIZE,
        )
    )
    rows = [
        {**i, "opened": views.local(i["opened_at"], policy), "model": i["subject"].get("model")}
        for i in found
    ]
    kept = {k: v for k, v in filters.items() if v}
    return page(
        request,
        "incidents.html",
        who,
        incidents=rows,
        filters=filters,
        kept=kept,
        next_before=next_cursor(found, PAGE_SIZE),
        paged=before is not None,
        statuses=_STATUSES,
        tiers=list(policy.tiers),
        teams=list(policy.teams),
    )


_FILTERS = ("status", "tier", "type", "model", "team", "since", "until")


def _date(text: str, tz: Any, field: str, problems: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        problems.append(f"{field}: expected a date as YYYY-MM-DD, got {text!r}")
        return None
    return datetime.combine(day, time(0), tzinfo=tz)


def _cursor(text: str, problems: list[str]) -> Cursor | None:
    if not text:
        return None
    try:
        return Cursor.parse(text)
    except ValueError as exc:
        problems.append(f"before: {exc}")
        return None


async def _incident_page(request: Request, incident_id: str, template: str) -> Response:
    who = await user(request)
    escalade = service(request)
    record = await anyio.to_thread.run_sync(escalade.incident, incident_id)
    if record is None:
        return page(request, "error.html", who, status=404, message=f"no incident {incident_id!r}")
    context = views.incident_view(
        escalade.policy.policy,
        record,
        escalade.clock.now(),
        person=who.person,
        can_act=who.can_act,
    )
    return page(request, template, who, **context)


@router.get("/incidents/{incident_id}")
async def incident(request: Request, incident_id: str) -> Response:
    return await _incident_page(request, incident_id, "incident.html")


@router.get("/incidents/{incident_id}/live")
async def incident_live(request: Request, incident_id: str) -> Response:
    """The part of the incident page that changes on its own: polled by htmx."""
    return await _incident_page(request, incident_id, "_live.html")


@router.get("/reviews")
async def reviews(request: Request) -> Response:
    who = await user(request)
    escalade = service(request)
    pending, decided = await anyio.to_thread.run_sync(
        lambda: (
            escalade.list_reviews(status="pending", limit=100),
            escalade.list_reviews(status="decided", limit=25),
        )
    )
    policy, now = escalade.policy.policy, escalade.clock.now()

    def rows(found: list[Review]) -> list[dict[str, Any]]:
        return views.review_rows(found, policy, now, person=who.person, can_act=who.can_act)

    return page(request, "reviews.html", who, pending=rows(pending), decided=rows(decided))


@router.get("/oncall")
async def oncall(request: Request) -> Response:
    who = await user(request)
    escalade = service(request)
    now = escalade.clock.now()
    rows = views.on_call_rows(escalade.on_call(now), escalade.policy.policy, now)
    return page(
        request,
        "oncall.html",
        who,
        rows=rows,
        at=views.local(now.isoformat(), escalade.policy.policy),
    )


@router.get("/drills")
async def drills(request: Request) -> Response:
    who = await user(request)
    escalade = service(request)
    found = await anyio.to_thread.run_sync(escalade.list_exercises)
    rows = views.drill_rows(found, escalade.policy.policy)
    return page(request, "drills.html", who, rows=rows, can_act=who.can_act)


@router.get("/policy")
async def policy(request: Request) -> Response:
    who = await user(request)
    escalade = service(request)
    loaded = escalade.policy
    return page(
        request, "policy.html", who, source=str(loaded.source), **views.policy_view(loaded.policy)
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    who = await user(request)
    escalade = service(request)
    limit = request.app.state.tuning.presumed_dead_after
    by_tier, review_stats, found = await anyio.to_thread.run_sync(
        lambda: (
            escalade.recent_metrics(by="tier"),
            escalade.review_metrics(),
            escalade.backlog(limit),
        )
    )
    return page(
        request,
        "metrics.html",
        who,
        charts=views.metric_charts(by_tier, review_stats),
        engine=views.engine_rows(found),
    )


@router.get("/audit")
async def audit(request: Request) -> Response:
    who = await user(request)
    escalade = service(request)
    before_text = request.query_params.get("before", "")
    before = int(before_text) if before_text.isdigit() else None
    entries = await anyio.to_thread.run_sync(
        lambda: escalade.audit_log(limit=PAGE_SIZE * 4, before=before)
    )
    # The chains of the entries shown: the whole log grows without bound, and a
    # page view must not read all of it (`escalade audit verify` does that).
    shown = {e["incident_id"] for e in entries}
    report = await anyio.to_thread.run_sync(lambda: escalade.verify_audit(among=shown))
    rows = views.timeline_rows(entries, escalade.policy.policy)
    return page(
        request,
        "audit.html",
        who,
        rows=rows,
        verification=views.verification_view(report),
        next_before=rows[-1]["id"] if len(rows) == PAGE_SIZE * 4 else None,
    )
