"""Regulatory and contractual clocks: which reports are due when, as pure functions.

A clock is a function of the incident's facts, the stages already submitted, the
policy's time zone and holiday calendar; time is always an argument and nothing here
reads a file or the clock. The built-in regimes come from ``regimes.yaml`` (the
engine opens ``importlib.resources.files("escalade.domain") / REGIMES_FILE`` and
passes the text to :func:`parse_catalogue`); a policy obligation that names no
built-in regime is a custom clock with ``within`` and ``from``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from escalade.domain.calendar import add_duration, add_months
from escalade.domain.durations import Duration
from escalade.domain.policy_governance import Obligation
from escalade.domain.regimes import DEFAULT_START, Limb, Regime, Stage, parse_catalogue

__all__ = [
    "REGIMES_FILE",
    "Deadline",
    "Fact",
    "Regime",
    "Stage",
    "deadlines",
    "holiday_dates",
    "parse_catalogue",
    "reminder_times",
]

REGIMES_FILE = "regimes.yaml"
"""The catalogue's file name inside the ``escalade.domain`` package."""

CUSTOM_STAGE = "report"


@dataclass(frozen=True, slots=True)
class Fact:
    """Something recorded on an incident: ``aware_at``, ``death``, ``classified_major``...

    A fact holds while its value is truthy. A fact with ``until`` spans a period
    (``law_enforcement_delay``); ``until`` None means the period has not ended.
    """

    name: str
    at: datetime
    value: object = True
    until: datetime | None = None

    @property
    def holds(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True, slots=True)
class Deadline:
    """When one stage of one obligation is due, and why."""

    obligation: str  # the policy key, e.g. "gdpr-art33" or "exec-briefing"
    stage: str  # "report", "early_warning", "notification", "final_report", ...
    citation: str
    started_at: datetime
    due_at: datetime
    limb: str  # for people: "death of a person: 10 days (Art. 73(4))"
    recipient: str | None
    indicative: bool = False  # a recommended window; the law sets no number


def deadlines(
    obligation_id: str,
    binding: Obligation,
    regime: Regime | None,
    facts: Mapping[str, Fact],
    submitted: Mapping[str, datetime],
    tz: ZoneInfo,
    policy_holidays: str | None,
) -> list[Deadline]:
    """The deadlines of one obligation given the facts known and the stages submitted.

    A stage whose start (fact or earlier submission) is not known yet has no deadline
    and is left out; so is a stage paused by a tolling period that has not ended.
    Stages already submitted are still listed, so a record can show whether they were
    on time; callers skip reminders for them. A custom clock (``regime`` None) has one
    stage, ``report``, due ``binding.within`` after ``binding.from_`` (``aware_at`` by
    default). Business days use the regime's own holiday calendar and time zone when it
    has them (the law's calendar, e.g. US federal for the SEC), else `policy_holidays`
    and `tz`.
    """
    if regime is None:
        return _custom(obligation_id, binding, facts, tz, policy_holidays)
    known = _Known(facts, submitted, regime.tz or tz, regime.holidays or policy_holidays)
    found = (_stage(obligation_id, regime, stage, known) for stage in regime.stages)
    return [deadline for deadline in found if deadline is not None]


def reminder_times(deadline: Deadline, fractions: Sequence[float]) -> list[datetime]:
    """The instants `fractions` of the way from start to due, strictly before due."""
    start, due = deadline.started_at.astimezone(UTC), deadline.due_at.astimezone(UTC)
    times = (start + (due - start) * fraction for fraction in fractions)
    return [moment.astimezone(deadline.started_at.tzinfo) for moment in times if moment < due]


def holiday_dates(country: str | None, years: Iterable[int]) -> frozenset[date]:
    """Public holidays of `country` ("DE", "US", or with a subdivision "US-NY")."""
    if country is None:
        return frozenset()
    return _holidays(country, tuple(sorted(set(years))))


@lru_cache(maxsize=256)
def _holidays(country: str, years: tuple[int, ...]) -> frozenset[date]:
    code, _, subdivision = country.partition("-")
    try:
        calendar = holiday_calendars.country_holidays(code, subdiv=subdivision or None, years=years)
    except NotImplementedError as exc:
        raise ValueError(f"no holiday calendar for {country!r}: {exc}") from None
    return frozenset(calendar.keys())


@dataclass(frozen=True, slots=True)
class _Known:
    """What a regime's stages are computed from."""

    facts: Mapping[str, Fact]
    submitted: Mapping[str, datetime]
    tz: ZoneInfo  # the regime's own zone, else the policy's
    calendar: str | None  # the regime's own holidays, else the policy's

    def holds(self, name: str) -> bool:
        fact = self.facts.get(name)
        return fact is not None and fact.holds


def _stage(obligation_id: str, regime: Regime, stage: Stage, known: _Known) -> Deadline | None:
    started_at = _start(stage, known)
    if started_at is None:
        return None
    # Compare and add in UTC: aware datetimes sharing a zone compare by wall time.
    start = started_at.astimezone(UTC)
    limbs = [
        (_add_limb(start, limb, known.tz, known.calendar), limb.label)
        for limb in stage.limbs
        if limb.applies(known.holds)
    ]
    due, label = min(limbs, key=lambda pair: pair[0])
    if stage.long_stop is not None:
        origin = known.facts.get(stage.long_stop.from_)
        if origin is not None and origin.holds:
            cap = _add(origin.at.astimezone(UTC), stage.long_stop.within, known.tz, known.calendar)
            # A cap that passed before the stage could start does not apply: DORA's
            # "classified more than 24h after awareness: 4h from classification".
            if start < cap < due:
                due, label = cap, stage.long_stop.label
    if stage.tolled_by is not None:
        tolled = _toll(start, due, known.facts.get(stage.tolled_by))
        if tolled is None:
            return None
        if tolled != due:
            moved = Duration(seconds=int((tolled - due).total_seconds()))
            label = f"{label}; moved {moved} later by {stage.tolled_by}"
            due = tolled
    return Deadline(
        obligation=obligation_id,
        stage=stage.id,
        citation=stage.citation or regime.citation,
        started_at=started_at,
        due_at=due.astimezone(started_at.tzinfo),
        limb=label,
        recipient=stage.recipient or regime.recipient,
        indicative=stage.indicative,
    )


def _start(stage: Stage, known: _Known) -> datetime | None:
    if stage.after is not None:
        return known.submitted.get(stage.after)
    fact = known.facts.get(stage.start_fact or DEFAULT_START)
    return fact.at if fact is not None and fact.holds else None


def _toll(start: datetime, due: datetime, delay: Fact | None) -> datetime | None:
    """`due` (UTC, like `start`) pushed back by the time `delay` paused the running
    clock; None while a delay that began before the deadline has no end yet.

    The clock stops at the later of the delay's start and the clock's start, and runs
    again at the delay's end with the time it had left: the deadline moves by the
    overlap of the delay with the (extended) window. A delay that begins after the
    deadline changes nothing.
    """
    if delay is None or not delay.holds or delay.at.astimezone(UTC) >= due:
        return due
    if delay.until is None:
        return None
    paused = delay.until.astimezone(UTC) - max(delay.at.astimezone(UTC), start)
    return due + paused if paused > timedelta(0) else due


def _add_limb(start: datetime, limb: Limb, tz: ZoneInfo, calendar: str | None) -> datetime:
    if limb.months is not None:
        return add_months(start, limb.months, tz)
    assert limb.within is not None  # the catalogue model guarantees one of the two
    return _add(start, limb.within, tz, calendar)


def _add(start: datetime, span: Duration, tz: ZoneInfo, calendar: str | None) -> datetime:
    if not span.is_business:
        return add_duration(start, span, tz)
    first = start.astimezone(tz).year
    # 10 business days never span more than a few weeks; 250 fit in a year.
    years = range(first, first + span.business_days // 250 + 2)
    return add_duration(start, span, tz, holiday_dates(calendar, years))


def _custom(
    obligation_id: str,
    binding: Obligation,
    facts: Mapping[str, Fact],
    tz: ZoneInfo,
    policy_holidays: str | None,
) -> list[Deadline]:
    if binding.within is None:
        raise ValueError(
            f"obligation '{obligation_id}' is not a built-in regime and has no 'within'"
        )
    start_fact = binding.from_ or DEFAULT_START
    fact = facts.get(start_fact)
    if fact is None or not fact.holds:
        return []
    due = _add(fact.at, binding.within, tz, policy_holidays)
    return [
        Deadline(
            obligation=obligation_id,
            stage=CUSTOM_STAGE,
            citation=f"policy obligation '{obligation_id}'",
            started_at=fact.at,
            due_at=due,
            limb=f"{binding.within} after {start_fact} (policy)",
            recipient=None,
        )
    ]
