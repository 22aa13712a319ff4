"""Who is on call: rotations and overrides, evaluated at an instant.

Rotations whose shift is a whole number of days hand over at the same local
wall-clock time every time, so a weekly 09:00 handoff stays at 09:00 across a
DST change. Shorter shifts are exact elapsed time from the first handoff.
Overrides are local wall-clock ranges `[from, to)`; the last listed wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


def handoffs(schedule: Schedule, tz: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """Instants in ``(after, until]`` at which the holder of `schedule` may change.

    These are the rotation's handoffs and the overrides' edges, in UTC and sorted;
    between two of them the holder stays the same.
    """
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    rotation = schedule.rotation
    step = timedelta(seconds=rotation.shift.seconds)
    found: set[datetime] = set()
    if rotation.shift.seconds % _DAY == 0:
        # Whole days hand over at the same local wall-clock time, as in on_call.
        def handoff(k: int) -> datetime:
            return (rotation.start + k * step).replace(tzinfo=tz).astimezone(UTC)

        k = (after.astimezone(tz).replace(tzinfo=None) - rotation.start) // step
    else:
        first = rotation.start.replace(tzinfo=tz).astimezone(UTC)

        def handoff(k: int) -> datetime:
            return first + k * step

        k = (after - first) // step
    k -= 1  # a DST change can move a wall-clock handoff an hour either way
    while (instant := handoff(k)) <= until:
        if instant > after:
            found.add(instant)
        k += 1
    for override in schedule.overrides:
        for edge in (override.from_, override.to):
            instant = edge.replace(tzinfo=tz).astimezone(UTC)
            if after < instant <= until:
                found.add(instant)
    return sorted(found)


def next_handoff(
    schedule: Schedule, tz: ZoneInfo, at: datetime
) -> tuple[datetime, str | None] | None:
    """When, after `at`, someone else takes `schedule` over, and who (in `tz`).

    None when the holder never changes again (a one-person rotation with no
    override ahead).
    """
    current = on_call(schedule, tz, at)
    cycle = timedelta(
        seconds=schedule.rotation.shift.seconds * (len(schedule.rotation.members) + 1)
    )
    last_edge = max(
        (o.to.replace(tzinfo=tz).astimezone(UTC) for o in schedule.overrides),
        default=at.astimezone(UTC),
    )
    start = at.astimezone(UTC)
    while True:
        end = start + cycle
        for instant in handoffs(schedule, tz, start, end):
            who = on_call(schedule, tz, instant)
            if who != current:
                return instant.astimezone(tz), who
        if start >= last_edge:
            return None
        start = end


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who holds one schedule at an instant, until when, and who comes next."""

    schedule: str
    now: str | None
    until: datetime | None  # the next handoff, in the schedule's zone
    next: str | None


def roster(policy: Policy, at: datetime) -> list[OnCall]:
    """Every schedule of the policy at `at`, in policy order."""
    found = []
    for sid, schedule in policy.schedules.items():
        tz = schedule_zone(schedule, policy)
        handoff = next_handoff(schedule, tz, at)
        found.append(
            OnCall(
                sid,
                on_call(schedule, tz, at),
                handoff[0] if handoff else None,
                handoff[1] if handoff else None,
            )
        )
    return found
