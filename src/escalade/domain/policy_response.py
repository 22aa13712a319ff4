"""How incidents are handled: severity tiers, incident roles, escalation ladders and hours."""

from __future__ import annotations

import difflib
import re
from datetime import time
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from escalade.domain.durations import Duration, DurationField
from escalade.domain.policy_base import PolicyModel
from escalade.domain.targets import TargetField


class Tier(PolicyModel):
    name: str
    ack_within: DurationField
    update_every: DurationField | None = None
    roles: tuple[str, ...] = ()
    ladder: str
    postmortem: Literal["required", "optional", "none"] = "optional"


class Feedback(PolicyModel):
    """After resolution, ask the incident's participants how the response went."""

    tiers: tuple[str, ...] = ()  # whose incidents are asked about; empty: every tier
    expires: DurationField = Duration(seconds=7 * 86400)  # how long the rating link works


class Role(PolicyModel):
    filled_by: tuple[TargetField, ...] = Field(min_length=1)  # first reachable person wins
    instructions: str | None = None


class Rung(PolicyModel):
    notify: tuple[TargetField, ...] = Field(min_length=1)
    escalate_after: DurationField


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekdays(text: str) -> frozenset[int]:
    """``"mon-fri"`` or ``"mon,wed,fri"`` (ranges may wrap: ``"fri-mon"``) -> {0..6}."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        for name in (first, last) if last else (first,):
            if name not in WEEKDAYS:
                close = difflib.get_close_matches(name, WEEKDAYS, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ValueError(
                    f"unknown day '{name}' in {text!r}{hint} (write e.g. 'mon-fri' or 'mon,wed')"
                )
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return frozenset(days)


def _clock_time(value: object) -> object:
    # "9:30" reads naturally but ISO 8601 (and so pydantic) wants "09:30".
    if isinstance(value, str) and re.fullmatch(r"\d:\d\d", value.strip()):
        return "0" + value.strip()
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]


class BusinessHours(PolicyModel):
    days: str = "mon-fri"
    from_: ClockTime = Field(alias="from")
    to: ClockTime

    @field_validator("days")
    @classmethod
    def _days(cls, days: str) -> str:
        parse_weekdays(days)
        return days

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_ >= self.to:
            raise ValueError("'from' must be before 'to' (hours cannot span midnight)")
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        """The days as ``date.weekday()`` numbers (Monday is 0)."""
        return parse_weekdays(self.days)


class Ladder(PolicyModel):
    rungs: tuple[Rung, ...] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0)
    exhausted: tuple[TargetField, ...] = ()
    ack_expires: DurationField | None = None
    hours: BusinessHours | None = None
