"""Timers are rows: an escalation survives any restart of any process."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from escalade.domain.effects import CancelTimers, SetTimer, TimerKind
from escalade.storage._upsert import insert_ignoring_duplicates
from escalade.storage.schema import timers


@dataclass(frozen=True, slots=True)
class DueTimer:
    key: str
    incident_id: str
    kind: TimerKind
    step: int
    due_at: datetime
    tag: str = ""


def set_many(conn: Connection, new: Sequence[SetTimer]) -> None:
    insert_ignoring_duplicates(
        conn,
        timers,
        [
            {
                "key": t.key,
                "incident_id": t.incident_id,
                "kind": t.kind.value,
                "step": t.step,
                "tag": t.tag,
                "due_at": t.due_at,
            }
            for t in new
        ],
    )


def cancel(conn: Connection, cancels: Iterable[CancelTimers]) -> None:
    for c in cancels:
        conn.execute(
            delete(timers)
            .where(timers.c.incident_id == c.incident_id)
            .where(timers.c.kind.in_([k.value for k in c.kinds]))
        )


def claim_due(conn: Connection, now: datetime, limit: int) -> list[DueTimer]:
    """Due timers, locked for this transaction; other workers skip them."""
    query = select(timers).where(timers.c.due_at <= now).order_by(timers.c.due_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [
        DueTimer(r.key, r.incident_id, TimerKind(r.kind), r.step, r.due_at, r.tag)
        for r in conn.execute(query)
    ]


def remove(conn: Connection, keys: Sequence[str]) -> None:
    if keys:
        conn.execute(delete(timers).where(timers.c.key.in_(list(keys))))


def next_due(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(select(func.min(timers.c.due_at))).scalar()
    return value


def next_for_incident(
    conn: Connection, incident_id: str, kinds: Iterable[TimerKind]
) -> datetime | None:
    """When the incident's earliest timer of these kinds is due (None when none is set)."""
    query = select(func.min(timers.c.due_at)).where(
        timers.c.incident_id == incident_id, timers.c.kind.in_([k.value for k in kinds])
    )
    value: datetime | None = conn.execute(query).scalar()
    return value


def pending(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(timers)).scalar_one())
