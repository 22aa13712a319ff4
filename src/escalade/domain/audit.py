"""The audit pass's rule: an escalation must always have a timer.

Timers are written in the same transaction as the state that needs them, so a
missing one means something outside the engine went wrong (a row deleted by
hand, a restore from an inconsistent back-up, a bug in an older release). An
open incident nobody has acknowledged, whose ladder still has rungs to climb,
and which has no ladder or business-hours timer for its current step would
never escalate again. The repair is the timer it should have had.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from escalade.domain.effects import Record, SetTimer, TimerKind
from escalade.domain.incidents import Incident, IncidentStatus

LADDER_KINDS = frozenset({TimerKind.LADDER, TimerKind.HOURS})


def missing_rung(
    incident: Incident,
    pending: Collection[tuple[TimerKind, int]],
    next_at: datetime | None,
    now: datetime,
) -> tuple[SetTimer, Record] | None:
    """The lost ladder timer to put back, or None when the incident is fine.

    `pending` holds the (kind, step) of the incident's timers; `next_at` is when
    the last rung said the next one was due (None when unknown: due at once).
    """
    pos = incident.ladder
    if incident.status is not IncidentStatus.TRIGGERED or pos.exhausted:
        return None
    if any((kind, pos.step) in pending for kind in LADDER_KINDS):
        return None
    due = next_at if next_at is not None and next_at > now else now
    timer = SetTimer(incident.id, TimerKind.LADDER, pos.step, due)
    record = Record(
        incident.id,
        now,
        "audit.timer_restored",
        data={"step": pos.step, "rung": pos.rung + 1, "due_at": due.isoformat()},
    )
    return timer, record
