"""The policy model: who exists, how incidents are tiered, escalated, timed and decided.

Field names are the YAML keys (Python keywords take a trailing underscore and keep
the key as alias: ``if_`` reads ``if``). Every model is frozen, and unknown keys are
errors. A :class:`Policy` checks that every name it mentions is defined; the loader
(:mod:`escalade.domain.policy_loader`) turns YAML text into one, with errors that
point at file, line and column.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime, time
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from escalade.domain.durations import Duration, DurationField, Percent
from escalade.domain.expressions import RequestExpressionField, SignalExpressionField
from escalade.domain.targets import Target, TargetField

BUILTIN_REGIMES = (
    "gdpr-art33",
    "gdpr-art34",
    "eu-ai-act-art73",
    "nis2-art23",
    "dora-art19",
    "sec-8k-105",
    "hipaa-breach",
)
"""Regulatory clocks the product ships; any other obligation key is a custom clock."""

DEFER_REFERENCES = "escalade.defer_references"
"""Validation-context flag: skip the cross-reference check (the loader runs it itself)."""

GROUP_BY_ROOTS = ("kind", "source", "subject", "labels")


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError(
            "write a local time without an offset, e.g. '2026-01-05T09:00'; "
            "it is read in the schedule's or policy's timezone"
        )
    return value


def _one_or_many(value: object) -> object:
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
OneOrMany = Annotated[tuple[str, ...], BeforeValidator(_one_or_many), Field(min_length=1)]


# --- People and where messages go ------------------------------------------------


class Person(_Model):
    name: str
    email: str | None = None
    phone: str | None = None
    contacts: tuple[str, ...] = ()  # channel ids


class Team(_Model):
    members: tuple[str, ...] = ()


class Rotation(_Model):
    members: tuple[str, ...] = Field(min_length=1)
    shift: CalendarDuration
    start: LocalDateTime  # first handoff, local time

    @field_validator("shift")
    @classmethod
    def _positive(cls, shift: Duration) -> Duration:
        if not shift.seconds:
            raise ValueError("a shift must be longer than 0s")
        return shift


class Override(_Model):
    who: str
    from_: LocalDateTime = Field(alias="from")
    to: LocalDateTime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_ >= self.to:
            raise ValueError("'from' must be before 'to'")
        return self


class Schedule(_Model):
    timezone: TimeZoneName | None = None  # None: the policy's timezone
    rotation: Rotation
    overrides: tuple[Override, ...] = ()


class ConsoleChannel(_Model):
    type: Literal["console"]


class WebhookChannel(_Model):
    type: Literal["webhook"]
    url: str
    secret: str | None = None
    timeout: CalendarDuration | None = None


class SmtpSettings(_Model):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: str | None = None


class EmailChannel(_Model):
    type: Literal["email"]
    smtp: SmtpSettings
    from_: str = Field(alias="from")


class SlackChannel(_Model):
    type: Literal["slack"]
    url: str


class TeamsChannel(_Model):
    type: Literal["teams"]
    url: str


class PagerDutyChannel(_Model):
    type: Literal["pagerduty"]
    url: str = "https://events.pagerduty.com/v2/enqueue"
    routing_key: str


Channel = Annotated[
    ConsoleChannel | WebhookChannel | EmailChannel | SlackChannel | TeamsChannel | PagerDutyChannel,
    Field(discriminator="type"),
]

# --- Tiers, roles and ladders ------------------------------------------------------


class Tier(_Model):
    name: str
    ack_within: DurationField
    update_every: DurationField | None = None
    roles: tuple[str, ...] = ()
    ladder: str
    postmortem: Literal["required", "optional", "none"] = "optional"


class Role(_Model):
    filled_by: tuple[TargetField, ...] = Field(min_length=1)  # first reachable person wins
    instructions: str | None = None


class Rung(_Model):
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


class BusinessHours(_Model):
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


class Ladder(_Model):
    rungs: tuple[Rung, ...] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0)
    exhausted: tuple[TargetField, ...] = ()
    ack_expires: DurationField | None = None
    hours: BusinessHours | None = None


# --- Rules: signals to incidents -----------------------------------------------------


class Match(_Model):
    """Exact matchers; all given ones must hold. ``kind`` may list alternatives."""

    kind: OneOrMany | None = None
    source: str | None = None
    subject: dict[str, str] = {}
    labels: dict[str, str] = {}


class Comparison(_Model):
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


class CountWindow(_Model):
    at_least: int = Field(ge=1)
    within: CalendarDuration


class When(_Model):
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


class Rule(_Model):
    id: str
    match: Match = Match()
    if_: SignalExpressionField | None = Field(default=None, alias="if")
    when: When | None = None
    tier: str
    type: str
    group_by: tuple[Annotated[str, AfterValidator(_group_path)], ...] = ()
    sensitivity: Annotated[tuple[str, ...], BeforeValidator(_one_or_many)] = ()
    obligations: tuple[str, ...] = ()
    evidence_hold: bool = False
    facts: dict[str, SignalExpressionField] = {}


class RuleDefault(_Model):
    tier: str
    type: str = "other"


class Grouping(_Model):
    window: CalendarDuration = Duration(seconds=1800)
    resolve_after_quiet: DurationField | None = None


class Silence(_Model):
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


# --- Clocks and decisions -------------------------------------------------------------


class Obligation(_Model):
    """A built-in regime bound to an owner, or (with ``within``) a custom clock."""

    owner: str  # a role
    template: str | None = None
    remind_at: tuple[Percent, ...] = ()
    within: DurationField | None = None
    from_: str | None = Field(default=None, alias="from")  # the fact that starts the clock


def _quorum(m: int, of: Collection[object]) -> None:
    if m > len(of):
        raise ValueError(f"m is {m} but 'of' lists only {len(of)}; m must be 1 to {len(of)}")


class MofN(_Model):
    m: int = Field(ge=1)
    of: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        _quorum(self.m, self.of)
        return self


class Approvers(_Model):
    any_of: tuple[str, ...] | None = Field(default=None, min_length=1)
    all_of: tuple[str, ...] | None = Field(default=None, min_length=1)
    m_of_n: MofN | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in ("any_of", "all_of", "m_of_n") if getattr(self, name) is not None]
        if len(given) != 1:
            found = f"found {' and '.join(given)}" if given else "found none"
            raise ValueError(f"give exactly one of any_of, all_of or m_of_n ({found})")
        return self

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role named, whatever the form."""
        return self.any_of or self.all_of or (self.m_of_n.of if self.m_of_n else ())


class DecisionRight(_Model):
    approvers: Approvers
    decide_within: DurationField
    fallback: str | None = None  # a role
    separation_of_duties: bool = False
    blocked_by_evidence_hold: bool = False


# --- Human review of AI actions -------------------------------------------------------


class ReviewMatch(_Model):
    action: str | None = None
    subject: dict[str, str] = {}


class TargetQuorum(_Model):
    m: int = Field(ge=1)
    of: tuple[TargetField, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        _quorum(self.m, self.of)
        return self


class MofNTargets(_Model):
    m_of_n: TargetQuorum


def _reviewers_form(value: object) -> str:
    return "m_of_n" if isinstance(value, dict | MofNTargets) else "list"


Reviewers = Annotated[
    Annotated[tuple[TargetField, ...], Field(min_length=1), Tag("list")]
    | Annotated[MofNTargets, Tag("m_of_n")],
    Discriminator(_reviewers_form),
]


class ReviewPolicy(_Model):
    match: ReviewMatch = ReviewMatch()
    if_: RequestExpressionField | None = Field(default=None, alias="if")
    reviewers: Reviewers
    respond_within: DurationField
    escalate_to: tuple[TargetField, ...] = ()
    on_timeout: Literal["deny", "approve", "halt"] = "deny"
    open_incident_on: tuple[str, ...] = ()


class ReviewDefault(_Model):
    """What happens to a request no review policy matches."""

    approve: Literal["automatically"] | None = None
    deny: Literal["automatically"] | None = None
    reviewers: Reviewers | None = None
    respond_within: DurationField | None = None
    escalate_to: tuple[TargetField, ...] = ()
    on_timeout: Literal["deny", "approve", "halt"] = "deny"

    @model_validator(mode="after")
    def _one_outcome(self) -> Self:
        given = [name for name in ("approve", "deny", "reviewers") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                "expected one of {approve: automatically}, {deny: automatically} "
                "or {reviewers: [...], respond_within: <duration>}"
            )
        if self.reviewers is not None and self.respond_within is None:
            raise ValueError("'reviewers' needs 'respond_within'")
        return self

    @property
    def outcome(self) -> Literal["approve", "deny", "review"]:
        return "approve" if self.approve else "deny" if self.deny else "review"


_REVIEW_KEYS = frozenset(field.alias or name for name, field in ReviewPolicy.model_fields.items())


class Reviews(_Model):
    """Review policies by id, plus ``default`` for requests that match none."""

    FLATTENED: ClassVar[str] = "policies"  # YAML keeps policies beside `default`
    policies: dict[str, ReviewPolicy] = {}
    default: ReviewDefault = ReviewDefault(deny="automatically")  # fail closed

    @model_validator(mode="before")
    @classmethod
    def _split_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        inner = data.get("policies")
        # Already in model shape, unless it is a review *named* "policies".
        shaped_already = set(data) <= {"policies", "default"} and isinstance(inner, dict | None)
        if shaped_already and not _REVIEW_KEYS & set(inner or {}):
            return data
        shaped: dict[str, Any] = {"policies": {k: v for k, v in data.items() if k != "default"}}
        if "default" in data:
            shaped["default"] = data["default"]
        return shaped


# --- Messages ----------------------------------------------------------------------------


class Template(_Model):
    audience: Literal["internal", "customer", "regulator", "public"]
    channel: str | None = None
    to: tuple[TargetField, ...] = ()
    subject: str | None = None
    body: str
    requires_approval: tuple[str, ...] = ()  # roles
    redact: tuple[Literal["personal_data", "secrets"], ...] = ()


# --- The policy ----------------------------------------------------------------------------


Path = tuple[str | int, ...]
_Use = tuple[Path, str, str]


class ReferenceProblem(NamedTuple):
    """A name used at `path` (YAML keys and list indexes) that is not defined."""

    path: Path
    message: str


_HOLIDAYS = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


class Policy(_Model):
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
        return tuple(_reference_problems(self))


def format_path(path: Path) -> str:
    """``("ladders", "critical", "rungs", 1)`` -> ``"ladders.critical.rungs[1]"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _each(path: Path, kind: str, names: Iterable[str | Target]) -> Iterator[_Use]:
    for j, name in enumerate(names):
        if isinstance(name, Target):
            yield (*path, j), name.kind.value, name.id
        else:
            yield (*path, j), kind, name


def _uses(policy: Policy) -> Iterator[_Use]:
    """Every name the policy mentions: (where, what kind of thing, the name)."""
    for pid, person in policy.people.items():
        yield from _each(("people", pid, "contacts"), "channel", person.contacts)
    for tid, team in policy.teams.items():
        yield from _each(("teams", tid, "members"), "person", team.members)
    for sid, schedule in policy.schedules.items():
        yield from _each(
            ("schedules", sid, "rotation", "members"), "person", schedule.rotation.members
        )
        for j, override in enumerate(schedule.overrides):
            yield ("schedules", sid, "overrides", j, "who"), "person", override.who
    for tid, tier in policy.tiers.items():
        yield ("tiers", tid, "ladder"), "ladder", tier.ladder
    for rid, role in policy.roles.items():
        yield from _each(("roles", rid, "filled_by"), "", role.filled_by)
    for lid, ladder in policy.ladders.items():
        for j, rung in enumerate(ladder.rungs):
            yield from _each(("ladders", lid, "rungs", j, "notify"), "", rung.notify)
        yield from _each(("ladders", lid, "exhausted"), "", ladder.exhausted)
    for i, rule in enumerate(policy.rules):
        yield ("rules", i, "tier"), "tier", rule.tier
        yield from _each(("rules", i, "obligations"), "obligation", rule.obligations)
    yield ("default", "tier"), "tier", policy.default.tier
    for oid, obligation in policy.obligations.items():
        yield ("obligations", oid, "owner"), "role", obligation.owner
        if obligation.template is not None:
            yield ("obligations", oid, "template"), "template", obligation.template
    for did, decision in policy.decisions.items():
        approvers, base = decision.approvers, ("decisions", did, "approvers")
        yield from _each((*base, "any_of"), "role", approvers.any_of or ())
        yield from _each((*base, "all_of"), "role", approvers.all_of or ())
        yield from _each(
            (*base, "m_of_n", "of"), "role", approvers.m_of_n.of if approvers.m_of_n else ()
        )
        if decision.fallback is not None:
            yield ("decisions", did, "fallback"), "role", decision.fallback
    reviews: list[tuple[Path, ReviewPolicy | ReviewDefault]] = [
        *((("reviews", rid), review) for rid, review in policy.reviews.policies.items()),
        (("reviews", "default"), policy.reviews.default),
    ]
    for path, review in reviews:
        if isinstance(review.reviewers, MofNTargets):
            yield from _each((*path, "reviewers", "m_of_n", "of"), "", review.reviewers.m_of_n.of)
        elif review.reviewers is not None:
            yield from _each((*path, "reviewers"), "", review.reviewers)
        yield from _each((*path, "escalate_to"), "", review.escalate_to)
    for tid, template in policy.templates.items():
        if template.channel is not None:
            yield ("templates", tid, "channel"), "channel", template.channel
        yield from _each(("templates", tid, "to"), "", template.to)
        yield from _each(
            ("templates", tid, "requires_approval"), "role", template.requires_approval
        )


def _reference_problems(policy: Policy) -> Iterator[ReferenceProblem]:
    defined: dict[str, Collection[str]] = {
        "person": policy.people,
        "team": policy.teams,
        "schedule": policy.schedules,
        "role": policy.role_names(),
        "channel": policy.channels,
        "ladder": policy.ladders,
        "tier": policy.tiers,
        "template": policy.templates,
        "obligation": {*policy.obligations, *BUILTIN_REGIMES},
    }
    for path, kind, name in _uses(policy):
        if name not in defined[kind]:
            yield ReferenceProblem(
                path, f"unknown {kind} '{name}'{_closest(name, defined[kind], kind)}"
            )
    first_use: dict[str, int] = {}
    for i, rule in enumerate(policy.rules):
        if rule.id in first_use:
            message = f"duplicate rule id '{rule.id}' (also used by rules[{first_use[rule.id]}])"
            yield ReferenceProblem(("rules", i, "id"), message)
        first_use.setdefault(rule.id, i)
    for oid, obligation in policy.obligations.items():
        if oid not in BUILTIN_REGIMES and obligation.within is None:
            close = difflib.get_close_matches(oid, BUILTIN_REGIMES, n=1)
            hint = f"did you mean '{close[0]}'? Otherwise a" if close else "a"
            message = f"'{oid}' is not a built-in regime; {hint} custom clock needs 'within'"
            yield ReferenceProblem(("obligations", oid), message)


def _closest(name: str, defined: Collection[str], kind: str) -> str:
    close = difflib.get_close_matches(name, sorted(defined), n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    if not defined:
        return f"; no {kind}s are defined"
    names = sorted(defined)
    return f"; defined: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}"
