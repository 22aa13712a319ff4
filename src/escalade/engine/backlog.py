"""What is waiting, and how late: the gauges `/metrics` exports.

Counts say how much is queued; they do not say whether anyone is waiting
too long. An escalation system's first question at 3 a.m. is "are pages
going out on time?", so each queue also reports how long its oldest due
item has waited: a timer past its `due_at`, a message past the moment it
became sendable, a queued signal since it was accepted. Every figure comes
from the database, so any API process answers for the whole deployment,
workers included (which serve no HTTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from escalade.storage import deliveries, inbox, incidents, timers, workers
from escalade.storage.deliveries import DeliveryStatus

WORKER_STATUSES = ("alive", "stale", "stopped")  # WorkerRow.status


@dataclass(frozen=True, slots=True)
class Backlog:
    """The deployment's queues at one moment. Lags are seconds (0: nothing due)."""

    incidents_open: int
    timers_pending: int
    timers_overdue: float
    inbox_depth: int
    inbox_oldest: float
    deliveries: dict[str, int]
    deliveries_overdue: float
    workers: dict[str, int]


def overdue(now: datetime, due: datetime | None) -> float:
    """Seconds past `due` at `now`; 0 when nothing is due or it is still ahead."""
    if due is None or due >= now:
        return 0.0
    return (now - due).total_seconds()


def backlog(db: Engine, now: datetime, stale_after: timedelta) -> Backlog:
    """Read every queue's size and its oldest due item, in one connection."""
    with db.connect() as conn:
        open_incidents = incidents.count_open(conn)
        pending = timers.pending(conn)
        next_timer = timers.next_due(conn)
        queued = inbox.depth(conn)
        oldest_signal = inbox.oldest_received(conn)
        by_status = deliveries.counts(conn)
        next_send = deliveries.next_due(conn)
        known = workers.all_(conn)
    limit = stale_after.total_seconds()
    by_worker = {status: 0 for status in WORKER_STATUSES}
    for row in known:
        by_worker[row.status(now, limit)] += 1
    return Backlog(
        incidents_open=open_incidents,
        timers_pending=pending,
        timers_overdue=overdue(now, next_timer),
        inbox_depth=queued,
        inbox_oldest=overdue(now, oldest_signal),
        deliveries={status.value: by_status.get(status, 0) for status in DeliveryStatus},
        deliveries_overdue=overdue(now, next_send),
        workers=by_worker,
    )
