"""Signals as received, each linked to the incident it opened or joined."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Column, Connection, Dialect, func, select

from escalade.domain.signals import Signal
from escalade.storage.schema import require_aware, signals


@dataclass(frozen=True, slots=True)
class StoredSignal:
    signal: Signal
    incident_id: str | None
    rule_id: str | None
    group_key: str
    silenced_by: str | None
    # The signal's stored form (`Signal.to_record()`), when the caller has it
    # already: a queued signal's inbox record. Spares making it again.
    record: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        return self.signal.to_record() if self.record is None else self.record


def existing(conn: Connection, ids: Iterable[str]) -> dict[str, str | None]:
    """Already-stored signal ids mapped to their incident (for idempotent re-posts)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(select(signals.c.id, signals.c.incident_id).where(signals.c.id.in_(wanted)))
    return {r.id: r.incident_id for r in rows}


def insert(conn: Connection, stored: Sequence[StoredSignal]) -> None:
    """Store routed signals. On PostgreSQL one statement over arrays sent in
    binary, its text the same whatever the number of rows (see `inbox.append`
    for why); on SQLite an executemany of plain tuples, which runs in C."""
    if not stored:
        return
    if conn.dialect.name == "postgresql":
        received = [s.signal.received_at for s in stored]
        require_aware(received)
        conn.exec_driver_sql(
            _PG_INSERT,
            {
                "ids": [s.signal.id for s in stored],
                "kinds": [s.signal.kind for s in stored],
                "received": received,
                "incidents": [s.incident_id for s in stored],
                "rules": [s.rule_id for s in stored],
                "groups": [s.group_key for s in stored],
                "silenced": [s.silenced_by for s in stored],
                "bodies": [orjson.dumps(s.body()).decode() for s in stored],
            },
        )
        return
    # The columns' own bind processors (UTC, SQLite's date format, the engine's
    # JSON serializer), applied here once per value rather than through
    # SQLAlchemy's per-row parameter machinery.
    when = _processor(signals.c.received_at, conn.dialect)
    body = _processor(signals.c.body, conn.dialect)
    conn.exec_driver_sql(
        _SQLITE_INSERT,
        [
            (
                s.signal.id,
                s.signal.kind,
                when(s.signal.received_at),
                s.incident_id,
                s.rule_id,
                s.group_key,
                s.silenced_by,
                body(s.body()),
            )
            for s in stored
        ],
    )


def _processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _as_is


def _as_is(value: Any) -> Any:
    return value


_SQLITE_INSERT = (
    "INSERT INTO signals "
    "(id, kind, received_at, incident_id, rule_id, group_key, silenced_by, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# psycopg's own placeholders: `%(name)b` sends the parameter in binary format.
_PG_INSERT = (
    "INSERT INTO signals "
    "(id, kind, received_at, incident_id, rule_id, group_key, silenced_by, body) "
    "SELECT i, k, r, inc, ru, g, si, CAST(b AS jsonb) FROM unnest("
    "%(ids)b::text[], %(kinds)b::text[], %(received)b::timestamptz[], %(incidents)b::text[], "
    "%(rules)b::text[], %(groups)b::text[], %(silenced)b::text[], %(bodies)b::text[]"
    ") AS t(i, k, r, inc, ru, g, si, b)"
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
