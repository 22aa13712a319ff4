"""Drill scenarios: a policy's unit tests, run in simulated time.

The format (see docs/drills.md): a start time, steps at offsets from it, each an
action (`signal`, `ack`, `resolve`, `escalate`, `fact`, `request_decision`,
`vote`, `submit`, `review`, `decide`) and/or an `expect`, and a final `expect` checked at the end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from escalade.domain.durations import DurationField
from escalade.domain.policy_errors import report_validation_error
from escalade.domain.policy_loader import PolicyError, PolicyIssue
from escalade.domain.reviews import ReviewRequestIn
from escalade.domain.signals import SignalIn
from escalade.domain.targets import TargetField
from escalade.domain.yaml_source import Loc, Problems, compose

ACTIONS = (
    "signal",
    "ack",
    "resolve",
    "escalate",
    "fact",
    "request_decision",
    "vote",
    "submit",
    "review",
    "decide",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(_Model):
    by: str
    note: str | None = None
    incident: int | None = None  # 1 = the first incident the drill opened; default: the latest


class FactStep(Actor):
    name: str
    value: Any = True
    until: AwareDatetime | None = None


class DecisionStep(Actor):
    action: str
    args: dict[str, Any] = {}


class VoteStep(Actor):
    action: str
    approve: bool
    comment: str | None = None


class SubmitStep(Actor):
    obligation: str
    stage: str | None = None


class ReviewStep(ReviewRequestIn):
    """A review request as ``POST /v1/reviews`` takes it, from the system ``by``."""

    by: str = "drill"


class DecideStep(_Model):
    """A reviewer's answer to the Nth review of the drill (default: the latest)."""

    by: str
    approve: bool
    args: dict[str, Any] | None = None
    comment: str | None = None
    review: int | None = None


class ObligationExpectation(_Model):
    regime: str
    due: AwareDatetime | None = None
    stage: str | None = None
    status: str | None = None


class Expect(_Model):
    notified: tuple[TargetField, ...] = ()
    never_notified: tuple[str, ...] = ()
    rung: int | None = None
    status: str | None = None
    tier: str | None = None
    incidents: int | None = None  # how many incidents the drill has opened so far
    decision: str | None = None
    reason: str | None = None
    obligations: tuple[ObligationExpectation, ...] = ()
    incident: dict[str, Any] = {}
    review: dict[str, Any] = {}  # fields of the latest review, dotted paths allowed
    timeline: tuple[str, ...] = ()  # entry kinds that must have happened


class Step(_Model):
    at: DurationField
    signal: SignalIn | None = None
    ack: Actor | None = None
    resolve: Actor | None = None
    escalate: Actor | None = None
    fact: FactStep | None = None
    request_decision: DecisionStep | None = None
    vote: VoteStep | None = None
    submit: SubmitStep | None = None
    review: ReviewStep | None = None
    decide: DecideStep | None = None
    expect: Expect | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        given = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"a step takes one action, found {' and '.join(given)}")
        if not given and self.expect is None:
            raise ValueError(f"a step needs an action ({', '.join(ACTIONS)}) or an expect")
        if self.at.is_business:
            raise ValueError("'at' is simulated elapsed time; business days do not apply")
        return self

    @property
    def action(self) -> tuple[str, Any] | None:
        for name in ACTIONS:
            value = getattr(self, name)
            if value is not None:
                return name, value
        return None


class Scenario(_Model):
    name: str
    start: AwareDatetime
    steps: tuple[Step, ...] = Field(min_length=1)
    expect: Expect | None = None

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        offsets = [s.at.seconds for s in self.steps]
        if offsets != sorted(offsets):
            raise ValueError("steps must be in time order")
        return self

    def time_of(self, step: Step) -> datetime:
        return self.start + step.at.as_timedelta()


def parse_scenario(name: str, text: str) -> Scenario:
    """A scenario from YAML, or PolicyError with `file:line:col` issues."""
    problems = Problems()
    doc = compose(name, text, {}, problems)
    if doc.broken or problems.found:
        raise PolicyError(_issues(problems))
    try:
        return Scenario.model_validate(doc.data)
    except ValidationError as exc:
        for error in exc.errors():
            report_validation_error(error, doc, Loc(name, 1, 1), problems, Scenario)
        raise PolicyError(_issues(problems)) from exc


def _issues(problems: Problems) -> list[PolicyIssue]:
    return sorted(
        {
            PolicyIssue(loc.file, loc.line, loc.column, path, msg)
            for loc, path, msg in problems.found
        },
        key=lambda i: (i.line, i.column, i.path),
    )
