"""Business hours: when a ladder may page people, in the policy's time zone."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from escalade.domain.policy import BusinessHours


def is_open(
    hours: BusinessHours, tz: ZoneInfo, at: datetime, holidays: Collection[date] = ()
) -> bool:
    local = at.astimezone(tz)
    return (
        local.weekday() in hours.weekdays
        and local.date() not in holidays
        and hours.from_ <= local.time().replace(tzinfo=None) < hours.to
    )


def next_opening(
    hours: BusinessHours, tz: ZoneInfo, at: datetime, holidays: Collection[date] = ()
) -> datetime:
    """`at` itself when open, else the next moment the hours begin."""
    if is_open(hours, tz, at, holidays):
        return at
    local = at.astimezone(tz)
    day = local.date()
    for _ in range(370):  # a year of closed days means a policy nobody could meet
        start = datetime.combine(day, hours.from_).replace(tzinfo=tz)
        if day.weekday() in hours.weekdays and day not in holidays and start >= at:
            return start.astimezone(at.tzinfo)
        day += timedelta(days=1)
    raise ValueError("these business hours never open")
