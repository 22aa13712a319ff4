"""Incident rows <-> domain incidents, and the queries the engine and API need."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, tuple_

from escalade.domain.incidents import Incident, IncidentStatus, LadderPosition
from escalade.domain.paging import Cursor
from escalade.storage._upsert import insert_rows, update_rows
from escalade.storage.schema import incidents, timers


class StaleIncident(RuntimeError):
    """Another writer changed the incident between our read and our write."""


def to_row(incident: Incident) -> dict[str, Any]:
    pos = incident.ladder
    return {
        "id": incident.id,
        "status": incident.status.value,
        "tier": incident.tier,
        "type": incident.type,
        "rule_id": incident.rule_id,
        "group_key": incident.group_key,
        "title": incident.title,
        "opened_at": incident.opened_at,
        "last_signal_at": incident.last_signal_at,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
        "version": incident.version,
        "state": {
            "summary": incident.summary,
            "subject": incident.subject,
            "roles": incident.roles,
            "signal_count": incident.signal_count,
            "acknowledged_by": incident.acknowledged_by,
            "resolved_by": incident.resolved_by,
            "ack_step": incident.ack_step,
            "facts": incident.facts,
            "obligations": list(incident.obligations),
            "submitted": incident.submitted,
            "deadlines": list(incident.deadlines),
            "clock_version": incident.clock_version,
            "evidence_hold": incident.evidence_hold,
            "decisions": list(incident.decisions),
            "stage": incident.stage,
            "update_base": incident.update_base,
            "decision_log": list(incident.decision_log),
            "action_items": list(incident.action_items),
            "messages": list(incident.messages),
            "review": incident.review,
            "policy_version": incident.policy_version,
            "exercise": incident.exercise,
            "ladder": [pos.ladder, pos.rung, pos.cycle, pos.step, pos.exhausted],
        },
    }


def from_row(row: Any) -> Incident:
    state = row.state
    ladder, rung, cycle, step, exhausted = state["ladder"]
    return Incident(
        id=row.id,
        title=row.title,
        summary=state.get("summary"),
        tier=row.tier,
        type=row.type,
        rule_id=row.rule_id,
        group_key=row.group_key,
        status=IncidentStatus(row.status),
        opened_at=row.opened_at,
        last_signal_at=row.last_signal_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=state.get("acknowledged_by"),
        resolved_at=row.resolved_at,
        resolved_by=state.get("resolved_by"),
        subject=state.get("subject", {}),
        roles=state.get("roles", {}),
        signal_count=state.get("signal_count", 1),
        ack_step=state.get("ack_step", 0),
        facts=state.get("facts", {}),
        obligations=tuple(state.get("obligations", ())),
        submitted=state.get("submitted", {}),
        deadlines=tuple(state.get("deadlines", ())),
        clock_version=state.get("clock_version", 0),
        evidence_hold=state.get("evidence_hold", False),
        decisions=tuple(state.get("decisions", ())),
        stage=state.get("stage", "investigating"),
        update_base=state.get("update_base", 0),
        decision_log=tuple(state.get("decision_log", ())),
        action_items=tuple(state.get("action_items", ())),
        messages=tuple(state.get("messages", ())),
        review=state.get("review", {}),
        policy_version=state.get("policy_version"),
        exercise=state.get("exercise"),
        ladder=LadderPosition(ladder, rung, cycle, step, exhausted),
        version=row.version,
    )


def get(conn: Connection, incident_id: str, *, lock: bool = False) -> Incident | None:
    query = select(incidents).where(incidents.c.id == incident_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return from_row(row) if row else None


# Statements on every ingest path are built once: building one costs 75-100
# µs a call, and a statement object keeps its cache key once computed.
_OPEN_BY_GROUP = (
    select(incidents)
    .where(incidents.c.group_key.in_(bindparam("keys", expanding=True)))
    .where(incidents.c.status != IncidentStatus.RESOLVED.value)
    .order_by(incidents.c.opened_at)
)
_OPEN_BY_GROUP_LOCKED = _OPEN_BY_GROUP.with_for_update()


def open_by_group(conn: Connection, keys: Iterable[str], *, lock: bool) -> dict[str, Incident]:
    """The most recently opened open incident for each group key."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    query = _OPEN_BY_GROUP_LOCKED if lock else _OPEN_BY_GROUP
    return {row.group_key: from_row(row) for row in conn.execute(query, {"keys": keys})}


def insert(conn: Connection, new: Sequence[Incident]) -> None:
    insert_rows(conn, incidents, [to_row(i) for i in new])


def save(conn: Connection, changed: Sequence[tuple[Incident, int]]) -> None:
    """Write back changed incidents, each with the version it was read at.

    The row must still hold that version: a concurrent writer that got there
    first makes this raise instead of silently losing its update.
    """
    if not changed:
        return
    params = []
    for incident, read_version in changed:
        row = to_row(incident)
        params.append(
            {**{k: row[k] for k in _UPDATABLE}, "b_id": incident.id, "b_version": read_version}
        )
    # One statement over arrays on PostgreSQL: the count of rows matched still
    # proves each held the version it was read at.
    if update_rows(conn, incidents, params, match=_MATCH) != len(params):
        raise StaleIncident(", ".join(i.id for i, _ in changed))


_MATCH = {"id": "b_id", "version": "b_version"}
_UPDATABLE = (
    "status",
    "tier",
    "type",
    "title",
    "last_signal_at",
    "acknowledged_at",
    "resolved_at",
    "version",
    "state",
)


def listing(
    conn: Connection,
    *,
    status: str | None = None,
    tier: str | None = None,
    limit: int | None = 50,
    before: Cursor | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    type: str | None = None,
    model: str | None = None,
    leads: Sequence[str] | None = None,
) -> list[Incident]:
    """Newest first (ties on `opened_at` by id); `limit=None` returns every match.

    `before` continues a page: the incidents after it in this order.

    `leads` keeps incidents whose incident lead is one of these people (a team's
    incidents); an empty sequence matches nothing.
    """
    query = select(incidents).order_by(incidents.c.opened_at.desc(), incidents.c.id.desc())
    if status == "open":
        query = query.where(incidents.c.status != IncidentStatus.RESOLVED.value)
    elif status:
        query = query.where(incidents.c.status == status)
    if tier:
        query = query.where(incidents.c.tier == tier)
    if type:
        query = query.where(incidents.c.type == type)
    if model:
        query = query.where(incidents.c.state["subject"]["model"].as_string() == model)
    if leads is not None:
        lead = incidents.c.state["roles"]["incident_lead"].as_string()
        query = query.where(lead.in_(list(leads)))
    if before is not None:
        # The first condition lets an index on opened_at alone narrow the scan.
        key = tuple_(incidents.c.opened_at, incidents.c.id)
        query = query.where(incidents.c.opened_at <= before.opened_at)
        query = query.where(key < (before.opened_at, before.id))
    if since:
        query = query.where(incidents.c.opened_at >= since)
    if until:
        query = query.where(incidents.c.opened_at < until)
    return [from_row(r) for r in conn.execute(query.limit(limit))]


def count_open(conn: Connection) -> int:
    query = select(func.count()).where(incidents.c.status != IncidentStatus.RESOLVED.value)
    return int(conn.execute(query.select_from(incidents)).scalar_one())


def triggered_without(
    conn: Connection, timer_kinds: Iterable[str], after_id: str, limit: int
) -> list[str]:
    """Ids of unacknowledged open incidents with no timer of these kinds, in id order.

    One anti-join on the timers' incident index: the audit pass reads only the
    few incidents this returns, however many are open.
    """
    has_timer = (
        select(timers.c.key)
        .where(timers.c.incident_id == incidents.c.id)
        .where(timers.c.kind.in_(list(timer_kinds)))
        .exists()
    )
    rows = conn.execute(
        select(incidents.c.id)
        .where(incidents.c.status == IncidentStatus.TRIGGERED.value)
        .where(incidents.c.id > after_id)
        .where(~has_timer)
        .order_by(incidents.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


def resolved_since(conn: Connection, since: datetime | None) -> list[Incident]:
    """Resolved incidents (since `since`, on resolved_at), oldest first."""
    query = select(incidents).where(incidents.c.status == IncidentStatus.RESOLVED.value)
    if since is not None:
        query = query.where(incidents.c.resolved_at >= since)
    return [from_row(r) for r in conn.execute(query.order_by(incidents.c.resolved_at))]


def exercises(conn: Connection, limit: int = 50) -> list[Incident]:
    """Live drills' incidents (ids exr_...), newest first."""
    query = (
        select(incidents)
        .where(incidents.c.id.startswith("exr_", autoescape=True))
        .order_by(incidents.c.opened_at.desc())
        .limit(limit)
    )
    return [from_row(r) for r in conn.execute(query)]
