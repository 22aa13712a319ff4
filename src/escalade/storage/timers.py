"""Timers are rows: an escalation survives any restart of any process."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, select

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


# Built once: the worker runs them on every pass (building one costs ~100 µs).
_DUE = (
    select(timers)
    .where(timers.c.due_at <= bindparam("now"))
    .order_by(timers.c.due_at)
    .limit(bindparam("limit"))
)
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True)
_NEXT_DUE = select(func.min(timers.c.due_at))


def claim_due(conn: Connection, now: datetime, limit: int) -> list[DueTimer]:
    """Due timers, locked for this transaction; other workers skip them."""
    query = _DUE_LOCKED if conn.dialect.name == "postgresql" else _DUE
    return [
        DueTimer(r.key, r.incident_id, TimerKind(r.kind), r.step, r.due_at, r.tag)
        for r in conn.execute(query, {"now": now, "limit": limit})
    ]


def remove(conn: Connection, keys: Sequence[str]) -> None:
    if keys:
        conn.execute(delete(timers).where(timers.c.key.in_(list(keys))))


def next_due(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(_NEXT_DUE).scalar()
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


def kinds_of(
    conn: Connection, incident_ids: Sequence[str], kinds: Iterable[TimerKind]
) -> dict[str, set[tuple[TimerKind, int]]]:
    """For each incident, the (kind, step) of its pending timers of these kinds."""
    found: dict[str, set[tuple[TimerKind, int]]] = {i: set() for i in incident_ids}
    if not incident_ids:
        return found
    rows = conn.execute(
        select(timers.c.incident_id, timers.c.kind, timers.c.step)
        .where(timers.c.incident_id.in_(list(incident_ids)))
        .where(timers.c.kind.in_([k.value for k in kinds]))
    )
    for r in rows:
        found[r.incident_id].add((TimerKind(r.kind), r.step))
    return found


def late(conn: Connection, before: datetime) -> tuple[int, datetime | None]:
    """How many timers were due before `before` and are still waiting, and the oldest."""
    count, oldest = conn.execute(
        select(func.count(), func.min(timers.c.due_at)).where(timers.c.due_at < before)
    ).one()
    return int(count), oldest
