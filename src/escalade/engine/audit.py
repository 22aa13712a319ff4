"""The audit pass: a periodic sweep that makes sure nothing is stuck.

It runs in every worker, on its own cadence, and is safe to run concurrently:
- delivery leases held by workers that stopped or died are handed back;
- an unacknowledged incident whose escalation lost its timer gets it back, due
  when the last rung said (or at once), so the next pass fires it;
- timers that are due but still waiting are counted and logged (a sign that
  no worker is keeping up).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from escalade.domain.audit import LADDER_KINDS, missing_rung
from escalade.domain.effects import Record, SetTimer
from escalade.storage import deliveries, incidents, timeline, timers, wakeups, workers

log = logging.getLogger("escalade.audit")

PAGE = 500


@dataclass(frozen=True, slots=True)
class AuditReport:
    released: int  # delivery leases taken back from dead workers
    restored: int  # escalation timers put back
    late: int  # timers due longer ago than the grace and not yet fired
    oldest_late: datetime | None


def run(
    db: Engine,
    now: datetime,
    *,
    stale_after: timedelta,
    grace: timedelta,
    reader: Engine | None = None,
) -> AuditReport:
    """One pass. The scans run on `reader` (on SQLite a read-only engine takes no
    write lock, so ingest is not held up); only repairs take the writer."""
    reader = reader or db
    with db.begin() as conn:
        released = deliveries.release_from(conn, workers.dead(conn, now - stale_after))
        workers.forget(conn, now - timedelta(days=1))
    restored = 0
    after = ""
    kinds = [k.value for k in LADDER_KINDS]
    while True:
        with reader.connect() as scan:
            # Incidents with no ladder timer at all: the lost ones, and those whose
            # ladder is exhausted (fine; told apart below from the incident itself).
            page = incidents.triggered_without(scan, kinds, after, PAGE)
            suspects = [i for i in page if _looks_lost(scan, i, now)]
        if not page:
            break
        after = page[-1]
        if not suspects:
            continue
        with db.begin() as conn:
            repairs: list[tuple[SetTimer, Record]] = []
            for incident_id in suspects:
                # Read under the row lock: a worker may be climbing the ladder
                # (new step, new timer) right now; we see its commit.
                incident = incidents.get(conn, incident_id, lock=True)
                if incident is None:
                    continue
                have = timers.kinds_of(conn, [incident_id], LADDER_KINDS)[incident_id]
                if missing_rung(incident, have, None, now) is None:
                    continue
                last = timeline.last_of(conn, incident_id, ["rung.fired", "rung.deferred"])
                repair = missing_rung(incident, have, _next_at(last), now)
                if repair is not None:
                    repairs.append(repair)
            if repairs:
                timers.set_many(conn, [t for t, _ in repairs])
                timeline.append(conn, [r for _, r in repairs])
                wakeups.notify(conn)
                restored += len(repairs)
                for timer, _ in repairs:
                    log.warning(
                        "audit.timer_restored",
                        extra={"incident_id": timer.incident_id, "step": timer.step},
                    )
    with reader.connect() as conn:
        late, oldest = timers.late(conn, now - grace)
    if late:
        log.warning("audit.timers_late", extra={"count": late, "oldest": str(oldest)})
    if released:
        log.warning("audit.leases_released", extra={"count": released})
    return AuditReport(released, restored, late, oldest)


def _looks_lost(conn: Connection, incident_id: str, now: datetime) -> bool:
    """Without a lock: could this incident (which has no ladder timer) be stuck?"""
    incident = incidents.get(conn, incident_id)
    return incident is not None and missing_rung(incident, (), None, now) is not None


def _next_at(last: dict[str, object] | None) -> datetime | None:
    if last is None or not isinstance(last["data"], dict):
        return None
    value = last["data"].get("next_at") or last["data"].get("until")
    return datetime.fromisoformat(value) if isinstance(value, str) else None
