"""Durations and percentages as written in policies: ``"5m"``, ``"1h30m"``, ``"4bd"``, ``"50%"``.

A duration is either calendar time (seconds) or a number of business days. The two
never mix in one value: "one business day and two hours" has no agreed meaning
across time zones and holiday calendars, so the parser refuses it. Business-day
arithmetic needs the policy's calendar and happens elsewhere; this module only
carries the number.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

__all__ = [
    "Duration",
    "DurationField",
    "Percent",
    "parse_percent",
]

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_ORDER = "wdhms"
_PART = re.compile(r"(\d{1,12})(bd|[wdhms])", re.ASCII)
# Far beyond any escalation or regulatory clock, and well inside what timedelta and
# database intervals can hold, so arithmetic downstream never overflows.
_MAX_SECONDS = 100 * 366 * 86400
_MAX_BUSINESS_DAYS = 10_000
_EXAMPLES = "'30s', '5m', '4h', '2d', '1w', '1h30m' or '4bd' (business days)"


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of calendar time, or a number of business days (never both)."""

    seconds: int = 0
    business_days: int = 0

    def __post_init__(self) -> None:
        if self.seconds < 0 or self.business_days < 0:
            raise ValueError("a duration cannot be negative")
        if self.seconds and self.business_days:
            raise ValueError("a duration is either calendar time or business days, not both")
        if self.seconds > _MAX_SECONDS or self.business_days > _MAX_BUSINESS_DAYS:
            raise ValueError("a duration can be at most 100 years (or 10000bd)")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Read ``"30s"``, ``"5m"``, ``"4h"``, ``"2d"``, ``"1w"``, ``"1h30m"`` or ``"4bd"``."""
        if not isinstance(text, str):
            raise ValueError(f"expected a duration such as {_EXAMPLES}, found {text!r}")
        stripped = text.strip()
        if not stripped:
            raise ValueError(f"expected a duration such as {_EXAMPLES}, found an empty text")
        if re.fullmatch(r"\d+", stripped, re.ASCII):
            raise ValueError(
                f"the duration {text!r} needs a unit, e.g. '{stripped}m' or '{stripped}s'"
            )
        parts: list[tuple[int, str]] = []
        position = 0
        for match in _PART.finditer(stripped):
            if match.start() != position:
                break
            parts.append((int(match.group(1)), match.group(2)))
            position = match.end()
        if position != len(stripped) or not parts:
            raise ValueError(f"invalid duration {text!r}; expected something like {_EXAMPLES}")
        if any(unit == "bd" for _, unit in parts):
            if len(parts) > 1:
                raise ValueError(
                    f"invalid duration {text!r}: business days ('bd') cannot be combined "
                    "with other units"
                )
            return cls(business_days=parts[0][0])
        units = [unit for _, unit in parts]
        ranks = [_UNIT_ORDER.index(unit) for unit in units]
        if ranks != sorted(set(ranks)):
            raise ValueError(
                f"invalid duration {text!r}: write each unit once, largest first (e.g. '1h30m')"
            )
        total = sum(count * _UNIT_SECONDS[unit] for count, unit in parts)
        return cls(seconds=total)

    @property
    def is_business(self) -> bool:
        """True for business-day durations, which need a calendar to apply."""
        return self.business_days > 0

    def as_timedelta(self) -> datetime.timedelta:
        """The calendar span; business days have no fixed length, so they raise."""
        if self.business_days:
            raise ValueError(f"{self} is counted in business days and needs the policy's calendar")
        return datetime.timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        if self.business_days:
            return f"{self.business_days}bd"
        if not self.seconds:
            return "0s"
        out = []
        remaining = self.seconds
        for unit in _UNIT_ORDER:
            count, remaining = divmod(remaining, _UNIT_SECONDS[unit])
            if count:
                out.append(f"{count}{unit}")
        return "".join(out)


def _to_duration(value: object) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration such as {_EXAMPLES}")
    return Duration.parse(value)


DurationField = Annotated[
    Duration,
    PlainValidator(_to_duration),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["30s", "5m", "1h30m", "4bd"]}),
]
"""A policy field holding a :class:`Duration`; accepts the text form or a Duration."""


def parse_percent(value: object) -> float:
    """Read ``"50%"`` as 0.5. Accepts more than 0 and at most 100 percent."""
    if isinstance(value, float) and not isinstance(value, bool) and 0 < value <= 1:
        return value
    if not isinstance(value, str) or not value.strip().endswith("%"):
        raise ValueError(f"expected a percentage such as '50%', found {value!r}")
    number = value.strip()[:-1].strip()
    try:
        fraction = float(number) / 100
    except ValueError:
        raise ValueError(f"expected a percentage such as '50%', found {value!r}") from None
    if not 0 < fraction <= 1:
        raise ValueError(f"a percentage must be above 0% and at most 100%, found {value!r}")
    return fraction


Percent = Annotated[
    float,
    PlainValidator(parse_percent),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?%$"}),
]
"""A policy field holding a fraction written as a percentage (``"80%"`` -> 0.8)."""
