"""Signals as received, each linked to the incident it opened or joined."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from escalade.domain.signals import Signal
from escalade.storage.schema import signals


@dataclass(frozen=True, slots=True)
class StoredSignal:
    signal: Signal
    incident_id: str | None
    rule_id: str | None
    group_key: str
    silenced_by: str | None


def existing(conn: Connection, ids: Iterable[str]) -> dict[str, str | None]:
    """Already-stored signal ids mapped to their incident (for idempotent re-posts)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(select(signals.c.id, signals.c.incident_id).where(signals.c.id.in_(wanted)))
    return {r.id: r.incident_id for r in rows}


def insert(conn: Connection, stored: Sequence[StoredSignal]) -> None:
    if stored:
        conn.execute(
            signals.insert(),
            [
                {
                    "id": s.signal.id,
                    "kind": s.signal.kind,
                    "received_at": s.signal.received_at,
                    "incident_id": s.incident_id,
                    "rule_id": s.rule_id,
                    "group_key": s.group_key,
                    "silenced_by": s.silenced_by,
                    "body": s.signal.to_record(),
                }
                for s in stored
            ],
        )


def for_incident(conn: Connection, incident_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(signals.c.body)
        .where(signals.c.incident_id == incident_id)
        .order_by(signals.c.received_at)
        .limit(limit)
    )
    return [r.body for r in rows]


def first_for_incidents(conn: Connection, incident_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The first signal of each incident, in one query (however many signals each has)."""
    if not incident_ids:
        return {}
    ranked = (
        select(
            signals.c.incident_id,
            signals.c.body,
            func.row_number()
            .over(partition_by=signals.c.incident_id, order_by=signals.c.received_at)
            .label("n"),
        )
        .where(signals.c.incident_id.in_(list(incident_ids)))
        .subquery()
    )
    rows = conn.execute(select(ranked.c.incident_id, ranked.c.body).where(ranked.c.n == 1))
    return {r.incident_id: r.body for r in rows}


def get(conn: Connection, signal_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(signals).where(signals.c.id == signal_id)).first()
    if row is None:
        return None
    return {
        **row.body,
        "incident_id": row.incident_id,
        "rule_id": row.rule_id,
        "silenced_by": row.silenced_by,
    }
