"""Adding policy durations to instants, in a time zone, across weekends and DST.

Calendar durations ("5m", "2d") are exact elapsed time. Business-day durations
("4bd") count working days in the policy's time zone: the result keeps the
local time of day of the start and skips weekends and the given holidays.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from escalade.domain.durations import Duration

_SATURDAY = 5


def is_business_day(day: date, holidays: Collection[date] = ()) -> bool:
    return day.weekday() < _SATURDAY and day not in holidays


def add_duration(
    start: datetime,
    duration: Duration,
    tz: ZoneInfo,
    holidays: Collection[date] = (),
) -> datetime:
    """`start` plus `duration`; `start` must be timezone-aware."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    # In UTC: aware arithmetic in a zone with DST would add wall-clock time instead.
    elapsed = start.astimezone(UTC) + timedelta(seconds=duration.seconds)
    result = elapsed.astimezone(start.tzinfo)
    if duration.business_days:
        local = result.astimezone(tz)
        day = local.date()
        remaining = duration.business_days
        while remaining:
            day += timedelta(days=1)
            if is_business_day(day, holidays):
                remaining -= 1
        wall = datetime.combine(day, local.time().replace(tzinfo=None))
        result = wall.replace(tzinfo=tz).astimezone(start.tzinfo)
    return result


def add_months(start: datetime, months: int, tz: ZoneInfo) -> datetime:
    """`start` plus whole calendar months in `tz`: the same local day and time, clamped
    to the month's last day (31 January + 1 month = 28 or 29 February)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    local = start.astimezone(tz)
    carry, month_index = divmod(local.month - 1 + months, 12)
    year, month = local.year + carry, month_index + 1
    day = min(local.day, monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day, fold=0).astimezone(start.tzinfo)
