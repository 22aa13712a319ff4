"""Health, Prometheus metrics, and the running policy."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import AwareDatetime
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from escalade.api.auth import requires, service
from escalade.api.errors import problem
from escalade.api.responses import JSONResponse
from escalade.domain.metrics import prometheus, to_csv_rows
from escalade.domain.policy_history import changed_lines
from escalade.domain.policy_loader import PolicyError
from escalade.engine.backlog import Backlog
from escalade.engine.service import Principal

router = APIRouter()
# Metrics look 30 days before `since`; dates near the calendar's ends would overflow.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@router.get("/healthz", tags=["operations"])
async def healthz(request: Request) -> Response:
    """200 when the database answers and the engine (if this process runs one) is alive."""
    escalade = service(request)

    def probe() -> None:
        with escalade.reader.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await anyio.to_thread.run_sync(probe)
    except SQLAlchemyError as exc:
        return problem(503, "unhealthy", f"database: {type(exc).__name__}")
    engine = request.app.state.engine_alive
    if engine is not None and not engine():
        return problem(503, "unhealthy", "engine thread stopped")
    return JSONResponse({"status": "ok", "policy": escalade.policy.digest[:12]})


@router.get("/metrics", tags=["operations"])
async def metrics(request: Request) -> Response:
    """Prometheus text format: the deployment's queues, how late their oldest
    due items are, the engine processes by heartbeat, and recent incident metrics."""
    escalade = service(request)
    limit = request.app.state.tuning.presumed_dead_after

    def gather() -> str:
        found = escalade.backlog(limit)
        return render(found) + prometheus(escalade.recent_metrics("tier"), "tier")

    body = await anyio.to_thread.run_sync(gather)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


def render(found: Backlog) -> str:
    """The backlog's gauges in Prometheus' text format."""
    lines: list[str] = []

    def gauge(name: str, help_text: str, values: dict[str, int] | float, label: str = "") -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
        if isinstance(values, dict):
            lines.extend(f'{name}{{{label}="{key}"}} {value}' for key, value in values.items())
        else:
            lines.append(f"{name} {round(values, 3)}")

    gauge("escalade_incidents_open", "Incidents not yet resolved.", found.incidents_open)
    gauge("escalade_timers_pending", "Escalation timers waiting to fire.", found.timers_pending)
    gauge(
        "escalade_timers_overdue_seconds",
        "How long the oldest due timer has waited past its due time (0: none).",
        found.timers_overdue,
    )
    gauge(
        "escalade_inbox_depth",
        "Signals accepted with respond-async, not yet routed.",
        found.inbox_depth,
    )
    gauge(
        "escalade_inbox_oldest_seconds",
        "How long ago the oldest signal waiting in the inbox was accepted (0: none).",
        found.inbox_oldest,
    )
    gauge("escalade_deliveries", "Outbox rows by status.", found.deliveries, "status")
    gauge(
        "escalade_deliveries_overdue_seconds",
        "How long the oldest sendable pending message has waited for a worker (0: none).",
        found.deliveries_overdue,
    )
    gauge(
        "escalade_workers",
        "Engine processes by heartbeat: alive, stale (presumed dead) or stopped (kept a day).",
        found.workers,
        "status",
    )
    return "\n".join(lines) + "\n"


@router.get("/v1/metrics/incidents", tags=["metrics"])
async def incident_metrics(
    request: Request,
    _: Annotated[Principal, Depends(requires("viewer"))],
    by: Annotated[str | None, Query(pattern="^(tier|type|model|team)$")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Response:
    """MTTD, MTTA, MTTR, time to escalation, breach and on-time rates, recurrence."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and not _EARLIEST <= value <= _LATEST:
            return problem(422, "invalid_request", f"{name}: must be between 1970 and 9000")
    escalade = service(request)
    summaries = await anyio.to_thread.run_sync(
        lambda: escalade.incident_metrics(by=by, since=since, until=until)
    )
    if format == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(to_csv_rows(summaries))
        return PlainTextResponse(out.getvalue(), media_type="text/csv")
    rows = to_csv_rows(summaries)
    header = rows[0]
    return JSONResponse(
        {
            "by": by,
            "groups": {
                row[0]: {
                    k: (float(v) if v else None) for k, v in zip(header[1:], row[1:], strict=True)
                }
                for row in rows[1:]
            },
        }
    )


@router.get("/v1/metrics/learning", tags=["metrics"])
async def learning_metrics(
    request: Request,
    _: Annotated[Principal, Depends(requires("viewer"))],
    since: datetime | None = None,
) -> Response:
    """Policy updates following incidents (see docs/learning.md)."""
    found = await anyio.to_thread.run_sync(service(request).learning_metrics, since)
    return JSONResponse(found)


@router.get("/v1/policy", tags=["policy"])
async def show_policy(
    request: Request, _: Annotated[Principal, Depends(requires("viewer"))]
) -> Response:
    loaded = service(request).policy
    return JSONResponse({"source": loaded.source, "digest": loaded.digest})


@router.get("/v1/policy/versions", tags=["policy"])
async def policy_versions(
    request: Request,
    _: Annotated[Principal, Depends(requires("viewer"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """Every policy that went live, newest first (without their files)."""
    found = await anyio.to_thread.run_sync(service(request).policy_history, limit)
    return JSONResponse({"versions": [_summary(v) for v in found]})


@router.get("/v1/policy/versions/{ref}", tags=["policy"])
async def policy_version(
    ref: str, request: Request, _: Annotated[Principal, Depends(requires("viewer"))]
) -> Response:
    """One version (number, digest prefix or `current`) with its files and its diff."""
    found = await anyio.to_thread.run_sync(service(request).policy_version, ref)
    if found is None:
        return problem(404, "not_found", f"no policy version {ref!r}")
    return JSONResponse({**_summary(found), "sources": found["sources"], "diff": found["diff"]})


def _summary(version: dict[str, Any]) -> dict[str, Any]:
    added, removed = changed_lines(version["diff"])
    keep = ("version", "digest", "previous", "activated_at", "author")
    return {**{k: version[k] for k in keep}, "added": added, "removed": removed}


@router.post("/v1/policy/reload", tags=["policy"])
async def reload_policy(
    request: Request, principal: Annotated[Principal, Depends(requires("admin"))]
) -> Response:
    """Load the policy file again. A broken file is reported and the old policy stays;
    a policy that goes live is stored as a version, with its author."""
    escalade = service(request)
    try:
        loaded = await anyio.to_thread.run_sync(escalade.policies.reload)
        await anyio.to_thread.run_sync(escalade.record_policy, principal.name)
    except PolicyError as exc:
        return problem(
            422,
            "invalid_policy",
            f"policy not reloaded; still running {escalade.policy.digest[:12]}",
            errors=[str(i) for i in exc.issues],
        )
    return JSONResponse({"source": loaded.source, "digest": loaded.digest})
