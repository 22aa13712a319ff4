"""Who is on call: rotations and overrides, evaluated at an instant.

Rotations whose shift is a whole number of days hand over at the same local
wall-clock time every time, so a weekly 09:00 handoff stays at 09:00 across a
DST change. Shorter shifts are exact elapsed time from the first handoff.
Overrides are local wall-clock ranges `[from, to)`; the last listed wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from escalade.domain.policy import Policy, Schedule

_DAY = 86_400


def schedule_zone(schedule: Schedule, policy: Policy) -> ZoneInfo:
    return ZoneInfo(schedule.timezone or policy.timezone)


def on_call(schedule: Schedule, tz: ZoneInfo, at: datetime) -> str | None:
    """The person holding `schedule` at the aware instant `at`."""
    wall = at.astimezone(tz).replace(tzinfo=None)
    for override in reversed(schedule.overrides):
        if override.from_ <= wall < override.to:
            return override.who
    rotation = schedule.rotation
    members = rotation.members
    if not members:
        return None
    shift = rotation.shift.seconds
    if shift <= 0:
        return members[0]
    if shift % _DAY == 0:
        elapsed = (wall - rotation.start) // timedelta(seconds=1)
    else:
        start = rotation.start.replace(tzinfo=tz)
        elapsed = int((at - start).total_seconds())
    return members[(elapsed // shift) % len(members)]


def on_call_now(policy: Policy, schedule_id: str, at: datetime) -> str | None:
    schedule = policy.schedules[schedule_id]
    return on_call(schedule, schedule_zone(schedule, policy), at)
