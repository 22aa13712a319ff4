"""Which signals open incidents: rules with their matchers and conditions, grouping, silences."""

from __future__ import annotations

import difflib
from typing import Annotated, Self

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from escalade.domain.durations import Duration, DurationField
from escalade.domain.expressions import SignalExpressionField
from escalade.domain.policy_base import (
    CalendarDuration,
    LocalDateTime,
    OneOrMany,
    PolicyModel,
    one_or_many,
)
from escalade.domain.signals import SignalIn

GROUP_BY_ROOTS = ("kind", "source", "subject", "labels")


class Match(PolicyModel):
    """Exact matchers; all given ones must hold. ``kind`` may list alternatives."""

    kind: OneOrMany | None = None
    source: str | None = None
    subject: dict[str, str] = {}
    labels: dict[str, str] = {}


class Comparison(PolicyModel):
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    eq: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("give at least one of gt, gte, lt, lte, eq, e.g. {gt: 0.3}")
        return self

    def holds(self, value: float) -> bool:
        """True when `value` satisfies every given bound."""
        return (
            (self.gt is None or value > self.gt)
            and (self.gte is None or value >= self.gte)
            and (self.lt is None or value < self.lt)
            and (self.lte is None or value <= self.lte)
            and (self.eq is None or value == self.eq)
        )


class CountWindow(PolicyModel):
    at_least: int = Field(ge=1)
    within: CalendarDuration


class When(PolicyModel):
    """A condition over time: a value held ``for`` a while, or a ``count`` in a window."""

    value: Comparison | None = None
    for_: CalendarDuration | None = Field(default=None, alias="for")
    count: CountWindow | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        timed = self.value is not None or self.for_ is not None
        if timed and self.count is not None:
            raise ValueError("use either 'value' with 'for', or 'count', not both")
        if not timed and self.count is None:
            raise ValueError(
                "expected either {value: {gt: 0.3}, for: 10m} or {count: {at_least: 5, within: 1h}}"
            )
        if timed and (self.value is None or self.for_ is None):
            missing = "for" if self.for_ is None else "value"
            raise ValueError(f"'value' and 'for' go together; add '{missing}'")
        return self


def _group_path(path: str) -> str:
    root, _, rest = path.partition(".")
    if root not in GROUP_BY_ROOTS:
        close = difflib.get_close_matches(root, GROUP_BY_ROOTS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"cannot group by '{path}'{hint} (use kind, source, subject.<field> or labels.<name>)"
        )
    needs_field = root in ("subject", "labels")
    if needs_field != bool(rest) or "." in rest:
        form = f"{root}.<name>" if needs_field else root
        raise ValueError(f"cannot group by '{path}'; write it as '{form}'")
    return path


class Rule(PolicyModel):
    id: str
    match: Match = Match()
    if_: SignalExpressionField | None = Field(default=None, alias="if")
    when: When | None = None
    tier: str
    type: str
    group_by: tuple[Annotated[str, AfterValidator(_group_path)], ...] = ()
    sensitivity: Annotated[tuple[str, ...], BeforeValidator(one_or_many)] = ()
    obligations: tuple[str, ...] = ()
    evidence_hold: bool = False
    facts: dict[str, SignalExpressionField] = {}


class RuleDefault(PolicyModel):
    tier: str
    type: str = "other"


class Grouping(PolicyModel):
    window: CalendarDuration = Duration(seconds=1800)
    resolve_after_quiet: DurationField | None = None


class Silence(PolicyModel):
    match: Match = Match()
    if_: SignalExpressionField | None = Field(default=None, alias="if")
    from_: LocalDateTime = Field(alias="from")
    to: LocalDateTime
    reason: str

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_ >= self.to:
            raise ValueError("'from' must be before 'to'")
        return self


class Exercise(PolicyModel):
    """A live drill on a schedule: the signal opens an exercise incident every `every`
    from `first` (local time), through the real channels and people (docs/drills.md)."""

    every: DurationField
    first: LocalDateTime
    signal: SignalIn

    @field_validator("every")
    @classmethod
    def _calendar(cls, every: Duration) -> Duration:
        if every.business_days or every.seconds < 3600:
            raise ValueError("a drill repeats every hour or less often, in calendar time")
        return every
