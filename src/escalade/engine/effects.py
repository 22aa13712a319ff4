"""Carrying out the core's effects inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import Connection

from escalade.domain.effects import CancelTimers, Effect, Notify, Record, SetTimer
from escalade.storage import deliveries, timeline, timers, wakeups
from escalade.storage.deliveries import Delivery, Lease


def persist(
    conn: Connection, effects: Iterable[Effect], now: datetime, *, started: Collection[str] = ()
) -> bool:
    """Write effects in order-preserving groups; True when something is now due.

    Cancellations run before new timers so that "cancel the ladder, set the
    ack-expiry" in one outcome leaves exactly the new timer. `started`: the
    incidents this transaction creates, whose timelines begin here.
    """
    return persist_leased(conn, effects, now, started=started)[0]


def persist_leased(
    conn: Connection,
    effects: Iterable[Effect],
    now: datetime,
    *,
    started: Collection[str] = (),
    lease: Lease | None = None,
) -> tuple[bool, list[Delivery]]:
    """`persist`, with the messages written already claimed by `lease` (when
    given): whether anything is due for other workers, and the deliveries the
    lease holder is to send itself (engine/handoff.py). Messages handed over
    wake nobody else."""
    records: list[Record] = []
    cancels: list[CancelTimers] = []
    new_timers: list[SetTimer] = []
    notes: list[Notify] = []
    for effect in effects:
        if isinstance(effect, Record):
            records.append(effect)
        elif isinstance(effect, CancelTimers):
            cancels.append(effect)
            # A timer set earlier in this same batch is cancelled too.
            new_timers = [
                t
                for t in new_timers
                if not (t.incident_id == effect.incident_id and t.kind in effect.kinds)
            ]
        elif isinstance(effect, SetTimer):
            new_timers.append(effect)
        else:
            notes.append(effect)
    timeline.append(conn, records, started=started)
    timers.cancel(conn, cancels)
    timers.set_many(conn, new_timers)
    handed = deliveries.enqueue(conn, notes, now, lease)
    timer_due = any(t.due_at <= now for t in new_timers)
    due = len(handed) < len(notes) or timer_due
    if due:
        # Other processes' workers, on commit: only their senders when only
        # messages are due.
        wakeups.notify(conn, "" if timer_due else wakeups.SEND)
    return due, handed
