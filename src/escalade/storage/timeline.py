"""The incident timeline: an append-only log of everything that happened."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from escalade.domain.effects import Record
from escalade.storage.schema import timeline


def append(conn: Connection, records: Sequence[Record]) -> None:
    if records:
        conn.execute(
            timeline.insert(),
            [
                {
                    "incident_id": r.incident_id,
                    "at": r.at,
                    "kind": r.kind,
                    "actor": r.actor,
                    "data": r.data,
                }
                for r in records
            ],
        )


def for_incident(conn: Connection, incident_id: str) -> list[dict[str, Any]]:
    return for_incidents(conn, [incident_id]).get(incident_id, [])


def recent(conn: Connection, *, limit: int, before: int | None = None) -> list[dict[str, Any]]:
    """The whole log, newest first, across incidents and reviews; page with `before` (an id)."""
    query = select(timeline).order_by(timeline.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(timeline.c.id < before)
    return [_entry(r) | {"incident_id": r.incident_id} for r in conn.execute(query)]


def _entry(r: Any) -> dict[str, Any]:
    return {"id": r.id, "at": r.at.isoformat(), "kind": r.kind, "actor": r.actor, "data": r.data}


def for_incidents(conn: Connection, incident_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The timelines of several incidents in one query, each oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not incident_ids:
        return found
    rows = conn.execute(
        select(timeline)
        .where(timeline.c.incident_id.in_(list(incident_ids)))
        .order_by(timeline.c.id)
    )
    for r in rows:
        found.setdefault(r.incident_id, []).append(_entry(r))
    return found


def last_of(conn: Connection, incident_id: str, kinds: Sequence[str]) -> dict[str, Any] | None:
    """The newest entry of these kinds on an incident's timeline, or None."""
    row = conn.execute(
        select(timeline.c.kind, timeline.c.data)
        .where(timeline.c.incident_id == incident_id)
        .where(timeline.c.kind.in_(list(kinds)))
        .order_by(timeline.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else {"kind": row.kind, "data": row.data}
