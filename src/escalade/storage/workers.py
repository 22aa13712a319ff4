"""Engine processes and their heartbeats.

Each worker upserts its row every heartbeat interval and stamps `stopped_at`
when it stops gracefully. A row whose beat is older than the stale limit
belongs to a process that died (SIGKILL, OOM, a lost host): its delivery
leases are handed back at once instead of waiting for the lease to run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from escalade.storage._upsert import upsert
from escalade.storage.schema import workers


@dataclass(frozen=True, slots=True)
class WorkerRow:
    id: str
    kind: str
    host: str
    pid: int
    version: str
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None

    def status(self, now: datetime, stale_after: float) -> str:
        if self.stopped_at is not None:
            return "stopped"
        return "stale" if (now - self.beat_at).total_seconds() > stale_after else "alive"


def beat(conn: Connection, row: WorkerRow) -> None:
    upsert(
        conn,
        workers,
        ["id"],
        {
            "id": row.id,
            "kind": row.kind,
            "host": row.host,
            "pid": row.pid,
            "version": row.version,
            "started_at": row.started_at,
            "beat_at": row.beat_at,
            "stopped_at": row.stopped_at,
        },
    )


def stopped(conn: Connection, worker_id: str, now: datetime) -> None:
    conn.execute(
        update(workers).where(workers.c.id == worker_id).values(stopped_at=now, beat_at=now)
    )


def all_(conn: Connection) -> list[WorkerRow]:
    rows = conn.execute(select(workers).order_by(workers.c.started_at, workers.c.id))
    return [
        WorkerRow(r.id, r.kind, r.host, r.pid, r.version, r.started_at, r.beat_at, r.stopped_at)
        for r in rows
    ]


def dead(conn: Connection, before: datetime) -> list[str]:
    """Workers that stopped, or whose last beat is older than `before`."""
    rows = conn.execute(
        select(workers.c.id).where((workers.c.beat_at < before) | workers.c.stopped_at.isnot(None))
    )
    return [r.id for r in rows]


def forget(conn: Connection, before: datetime) -> int:
    """Drop rows of workers gone since before `before` (keeps the list short)."""
    result = conn.execute(delete(workers).where(workers.c.beat_at < before))
    return int(result.rowcount or 0)
