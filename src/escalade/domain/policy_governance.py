"""What is owed and who may decide: regulatory clocks, decision rights, reviews, templates."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator

from escalade.domain.durations import DurationField, Percent
from escalade.domain.expressions import RequestExpressionField
from escalade.domain.policy_base import PolicyModel
from escalade.domain.targets import TargetField

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


# --- Clocks and decisions -------------------------------------------------------------


class Obligation(PolicyModel):
    """A built-in regime bound to an owner, or (with ``within``) a custom clock."""

    owner: str  # a role
    template: str | None = None
    remind_at: tuple[Percent, ...] = ()
    within: DurationField | None = None
    from_: str | None = Field(default=None, alias="from")  # the fact that starts the clock


def _quorum(m: int, of: Collection[object]) -> None:
    if m > len(of):
        raise ValueError(f"m is {m} but 'of' lists only {len(of)}; m must be 1 to {len(of)}")


class MofN(PolicyModel):
    m: int = Field(ge=1)
    of: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        _quorum(self.m, self.of)
        return self


class Approvers(PolicyModel):
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


class DecisionRight(PolicyModel):
    approvers: Approvers
    decide_within: DurationField
    fallback: str | None = None  # a role
    separation_of_duties: bool = False
    blocked_by_evidence_hold: bool = False


# --- Human review of AI actions -------------------------------------------------------


class ReviewMatch(PolicyModel):
    action: str | None = None
    subject: dict[str, str] = {}


class TargetQuorum(PolicyModel):
    m: int = Field(ge=1)
    of: tuple[TargetField, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_range(self) -> Self:
        _quorum(self.m, self.of)
        return self


class MofNTargets(PolicyModel):
    m_of_n: TargetQuorum


def _reviewers_form(value: object) -> str:
    return "m_of_n" if isinstance(value, dict | MofNTargets) else "list"


Reviewers = Annotated[
    Annotated[tuple[TargetField, ...], Field(min_length=1), Tag("list")]
    | Annotated[MofNTargets, Tag("m_of_n")],
    Discriminator(_reviewers_form),
]


class ReviewPolicy(PolicyModel):
    match: ReviewMatch = ReviewMatch()
    if_: RequestExpressionField | None = Field(default=None, alias="if")
    reviewers: Reviewers
    respond_within: DurationField
    escalate_to: tuple[TargetField, ...] = ()
    on_timeout: Literal["deny", "approve", "halt"] = "deny"
    open_incident_on: tuple[Literal["deny", "timeout"], ...] = ()


class ReviewDefault(PolicyModel):
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


class Reviews(PolicyModel):
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


class Template(PolicyModel):
    audience: Literal["internal", "customer", "regulator", "public"]
    channel: str | None = None
    to: tuple[TargetField, ...] = ()
    subject: str | None = None
    body: str
    requires_approval: tuple[str, ...] = ()  # roles
    redact: tuple[Literal["personal_data", "secrets"], ...] = ()
