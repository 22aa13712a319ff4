"""The policy model: who exists, how incidents are tiered, escalated, timed and decided.

:class:`Policy` is the whole file; its sections are modelled by area and all
importable from here:

- :mod:`~escalade.domain.policy_base`: the frozen base model and shared field types
- :mod:`~escalade.domain.policy_people`: people, teams, schedules, channels
- :mod:`~escalade.domain.policy_response`: tiers, roles, ladders, business hours
- :mod:`~escalade.domain.policy_rules`: rules, grouping, silences
- :mod:`~escalade.domain.policy_governance`: obligations, decisions, reviews, templates

Field names are the YAML keys (Python keywords take a trailing underscore and keep
the key as alias: ``if_`` reads ``if``). Every model is frozen, and unknown keys are
errors. A :class:`Policy` checks that every name it mentions is defined
(:mod:`~escalade.domain.policy_references`); the loader
(:mod:`escalade.domain.policy_loader`) turns YAML text into one, with errors that
point at file, line and column.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from escalade.domain.policy_base import (
    CalendarDuration,
    LocalDateTime,
    OneOrMany,
    Path,
    PolicyModel,
    TimeZoneName,
    check_timezone,
    format_path,
)
from escalade.domain.policy_governance import (
    BUILTIN_REGIMES,
    Approvers,
    DecisionRight,
    MofN,
    MofNTargets,
    Obligation,
    ReviewDefault,
    Reviewers,
    ReviewMatch,
    ReviewPolicy,
    Reviews,
    TargetQuorum,
    Template,
)
from escalade.domain.policy_people import (
    Channel,
    ConsoleChannel,
    EmailChannel,
    Override,
    PagerDutyChannel,
    Person,
    Rotation,
    Schedule,
    SlackChannel,
    SmtpSettings,
    Team,
    TeamsChannel,
    Throttle,
    WebhookChannel,
)
from escalade.domain.policy_references import ReferenceProblem, reference_problems
from escalade.domain.policy_response import (
    WEEKDAYS,
    BusinessHours,
    ClockTime,
    Feedback,
    Ladder,
    Role,
    Rung,
    Tier,
    parse_weekdays,
)
from escalade.domain.policy_rules import (
    GROUP_BY_ROOTS,
    Comparison,
    CountWindow,
    Grouping,
    Match,
    Rule,
    RuleDefault,
    Silence,
    When,
)

__all__ = [
    "BUILTIN_REGIMES",
    "DEFER_REFERENCES",
    "GROUP_BY_ROOTS",
    "WEEKDAYS",
    "Approvers",
    "BusinessHours",
    "CalendarDuration",
    "Channel",
    "ClockTime",
    "Comparison",
    "ConsoleChannel",
    "CountWindow",
    "DecisionRight",
    "EmailChannel",
    "Feedback",
    "Grouping",
    "Ladder",
    "LocalDateTime",
    "Match",
    "MofN",
    "MofNTargets",
    "Obligation",
    "OneOrMany",
    "Override",
    "PagerDutyChannel",
    "Path",
    "Person",
    "Policy",
    "ReferenceProblem",
    "ReviewDefault",
    "ReviewMatch",
    "ReviewPolicy",
    "Reviewers",
    "Reviews",
    "Role",
    "Rotation",
    "Rule",
    "RuleDefault",
    "Rung",
    "Schedule",
    "Silence",
    "SlackChannel",
    "SmtpSettings",
    "TargetQuorum",
    "Team",
    "TeamsChannel",
    "Template",
    "Throttle",
    "Tier",
    "TimeZoneName",
    "WebhookChannel",
    "When",
    "check_timezone",
    "format_path",
    "parse_weekdays",
]

DEFER_REFERENCES = "escalade.defer_references"
"""Validation-context flag: skip the cross-reference check (the loader runs it itself)."""

_HOLIDAYS = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


class Policy(PolicyModel):
    version: Literal[1]
    organization: str | None = None
    timezone: TimeZoneName = "UTC"
    holidays: str | None = None  # an ISO 3166 country (or subdivision) code
    people: dict[str, Person] = {}
    teams: dict[str, Team] = {}
    schedules: dict[str, Schedule] = {}
    channels: dict[str, Channel] = {}
    tiers: dict[str, Tier] = Field(min_length=1)  # most severe first
    roles: dict[str, Role] = {}
    ladders: dict[str, Ladder] = Field(min_length=1)
    rules: tuple[Rule, ...] = ()
    default: RuleDefault
    grouping: Grouping = Grouping()
    silences: tuple[Silence, ...] = ()
    obligations: dict[str, Obligation] = {}
    decisions: dict[str, DecisionRight] = {}
    reviews: Reviews = Reviews()
    templates: dict[str, Template] = {}
    feedback: Feedback | None = None  # ask participants to rate the response when resolved

    @field_validator("holidays")
    @classmethod
    def _country(cls, code: str | None) -> str | None:
        if code is not None and not _HOLIDAYS.fullmatch(code):
            raise ValueError(f"expected a country code such as 'DE' or 'US-NY', found {code!r}")
        return code

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Self:
        if info.context and info.context.get(DEFER_REFERENCES):
            return self
        problems = self.reference_problems()
        if problems:
            raise ValueError("; ".join(f"{format_path(p.path)}: {p.message}" for p in problems))
        return self

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def tier_order(self, tier_id: str) -> int:
        """0 for the most severe tier, counting down the list."""
        for index, name in enumerate(self.tiers):
            if name == tier_id:
                return index
        raise KeyError(f"unknown tier '{tier_id}'")

    def team_members(self, team_id: str) -> tuple[str, ...]:
        return self.teams[team_id].members

    def role_names(self) -> frozenset[str]:
        """Roles defined under ``roles`` or named by a tier."""
        return frozenset(self.roles).union(*(tier.roles for tier in self.tiers.values()))

    def reference_problems(self) -> tuple[ReferenceProblem, ...]:
        """Every name used but not defined, with the closest defined one."""
        return tuple(reference_problems(self))
