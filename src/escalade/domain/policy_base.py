"""What the policy model modules share: the frozen base model, common field types, key paths.

Field names are the YAML keys (Python keywords take a trailing underscore and keep
the key as alias: ``if_`` reads ``if``). Every model is frozen, and unknown keys are
errors.
"""

from __future__ import annotations

import difflib
import zoneinfo
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from escalade.domain.durations import Duration, DurationField

Path = tuple[str | int, ...]
"""Where something is in the policy document: YAML keys and list indexes."""


class PolicyModel(BaseModel):
    """Base of every policy model: frozen, strict about keys, read and written by alias."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


def format_path(path: Path) -> str:
    """``("ladders", "critical", "rungs", 1)`` -> ``"ladders.critical.rungs[1]"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError(
            "write a local time without an offset, e.g. '2026-01-05T09:00'; "
            "it is read in the schedule's or policy's timezone"
        )
    return value


def one_or_many(value: object) -> object:
    """Let a single string stand for a one-item list."""
    return (value,) if isinstance(value, str) else value


def check_timezone(name: str) -> str:
    """`name` if it is an IANA time zone, else a ValueError naming the closest one."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else " (e.g. 'Europe/Berlin' or 'UTC')"
        raise ValueError(f"unknown time zone '{name}'{hint}") from None
    return name


def _calendar(duration: Duration | None) -> Duration | None:
    if duration is not None and duration.is_business:
        raise ValueError(f"'{duration}' is in business days; use calendar time here, e.g. '8h'")
    return duration


LocalDateTime = Annotated[datetime, AfterValidator(_naive)]
TimeZoneName = Annotated[str, AfterValidator(check_timezone)]
CalendarDuration = Annotated[DurationField, AfterValidator(_calendar)]
OneOrMany = Annotated[tuple[str, ...], BeforeValidator(one_or_many), Field(min_length=1)]
