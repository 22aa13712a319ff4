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
    rows = conn.execute(
        select(timeline).where(timeline.c.incident_id == incident_id).order_by(timeline.c.id)
    )
    return [
        {"id": r.id, "at": r.at.isoformat(), "kind": r.kind, "actor": r.actor, "data": r.data}
        for r in rows
    ]
