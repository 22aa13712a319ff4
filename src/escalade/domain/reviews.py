"""Human review of AI actions: an AI system asks before it acts.

A review request names an ``action`` with ``args``; the policy's ``reviews`` section
routes it to reviewers, who approve, reject or approve with edited arguments. When
nobody answers within ``respond_within`` the request climbs to ``escalate_to``, and
when they too stay silent ``on_timeout`` decides. Every outcome is a
:class:`ReviewDecision` bound to the SHA-256 of the action and the arguments it
allows, with an expiry, so the asking system can check it acts on what was approved.

Lifecycle (docs/state-machines.md):
    pending --approve/reject by an authorised reviewer--> decided
    pending --respond_within passes, escalate_to set--> pending (escalated)
    pending --last window passes--> decided (reason "timeout", outcome on_timeout)
A request nothing matches is decided at once by ``reviews.default`` unless the
default names reviewers.

Pure: time is an argument; the engine stores reviews and carries out the effects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from escalade.domain.decisions import canonical_hash, max_matching
from escalade.domain.effects import CancelTimers, Effect, Notify, Record, SetTimer, TimerKind
from escalade.domain.expressions import ExpressionError
from escalade.domain.policy import Policy, ReviewDefault, ReviewPolicy
from escalade.domain.policy_governance import MofNTargets
from escalade.domain.recipients import people_of
from escalade.domain.redaction import redact
from escalade.domain.signals import Signal
from escalade.domain.targets import Target

APPROVAL_VALIDITY = timedelta(hours=1)
"""How long an approval may be acted on after it was given."""

CALLBACK_CHANNEL = "@callback"
"""The outbox channel of decision callbacks to the requesting system's ``callback_url``."""

STEP_ESCALATED = 1
STEP_TIMED_OUT = 2


class Outcome(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    HALT = "halt"  # deny, and the system should stop what it is doing altogether


class Reason(StrEnum):
    REVIEWED = "reviewed"  # a reviewer (or the quorum) answered
    TIMEOUT = "timeout"  # nobody answered in time: on_timeout decided
    AUTOMATIC = "automatic"  # reviews.default decided without asking anyone
    NO_REVIEWERS = "no_reviewers"  # the policy names nobody reachable: on_timeout decided


class ReviewRefused(ValueError):
    """A reviewer's answer that cannot be taken; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- What the system sends ---------------------------------------------------------


class ReviewRequestIn(BaseModel):
    """The body of ``POST /v1/reviews``."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/-]+$")
    args: dict[str, Any] = {}
    risk: float | None = Field(default=None, ge=0.0, le=1.0)
    subject: dict[str, str] = {}
    context: dict[str, Any] = {}
    summary: str | None = Field(default=None, max_length=1000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    callback_url: str | None = Field(default=None, min_length=1, max_length=2000)

    @field_validator("callback_url")
    @classmethod
    def _http_only(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url

    @field_validator("args", "context")
    @classmethod
    def _json_safe(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(value, allow_nan=False)
        except ValueError as exc:
            raise ValueError(f"must be plain JSON ({exc})") from exc
        return value

    def as_expression_input(self) -> dict[str, Any]:
        """What a review policy's ``if`` sees as ``request``; numbers as floats (CEL)."""
        return {
            "action": self.action,
            "args": _floats(self.args),
            "risk": float(self.risk) if self.risk is not None else 0.0,
            "subject": dict(self.subject),
            "context": _floats(self.context),
        }


def _floats(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return value


# --- Routing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Routed:
    policy_id: str  # a review policy's id, or "default"
    spec: ReviewPolicy | ReviewDefault
    note: str | None = None  # e.g. a condition that failed to evaluate


def route(policy: Policy, request: ReviewRequestIn) -> Routed:
    """The first review policy whose ``match`` and ``if`` hold, else ``default``.

    A condition that cannot be evaluated (a missing argument, a wrong type) counts
    as holding: when in doubt a human is asked, and the note says why.
    """
    variables = {"request": request.as_expression_input()}
    for policy_id, spec in policy.reviews.policies.items():
        if spec.match.action is not None and spec.match.action != request.action:
            continue
        if any(request.subject.get(k) != v for k, v in spec.match.subject.items()):
            continue
        if spec.if_ is None:
            return Routed(policy_id, spec)
        try:
            holds = spec.if_.evaluate_bool(variables)
        except ExpressionError as exc:
            return Routed(policy_id, spec, f"condition could not be evaluated: {exc}")
        if holds:
            return Routed(policy_id, spec)
    return Routed("default", policy.reviews.default)


# --- The review ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """One reviewer's answer."""

    person: str
    approve: bool
    args: Mapping[str, Any]  # the arguments this answer is about (edited or as asked)
    args_hash: str
    edited: bool
    comment: str | None
    at: datetime

    def to_record(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "approve": self.approve,
            "args": dict(self.args),
            "args_hash": self.args_hash,
            "edited": self.edited,
            "comment": self.comment,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Verdict:
        return cls(
            person=record["person"],
            approve=record["approve"],
            args=dict(record["args"]),
            args_hash=record["args_hash"],
            edited=record["edited"],
            comment=record["comment"],
            at=datetime.fromisoformat(record["at"]),
        )


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    """What the asking system may do: ``outcome`` with exactly ``args``, until ``expires_at``."""

    outcome: Outcome
    reason: Reason
    by: tuple[str, ...]  # the reviewers whose answers decided; empty for policy outcomes
    action: str
    args: Mapping[str, Any]
    args_hash: str
    edited: bool
    comment: str | None
    decided_at: datetime
    expires_at: datetime | None  # approvals only

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVE

    def to_record(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "approved": self.approved,
            "reason": self.reason.value,
            "by": list(self.by),
            "action": self.action,
            "args": dict(self.args),
            "args_hash": self.args_hash,
            "edited": self.edited,
            "comment": self.comment,
            "decided_at": self.decided_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ReviewDecision:
        expires = record["expires_at"]
        return cls(
            outcome=Outcome(record["outcome"]),
            reason=Reason(record["reason"]),
            by=tuple(record["by"]),
            action=record["action"],
            args=dict(record["args"]),
            args_hash=record["args_hash"],
            edited=record["edited"],
            comment=record["comment"],
            decided_at=datetime.fromisoformat(record["decided_at"]),
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )


@dataclass(frozen=True, slots=True)
class Review:
    id: str
    policy_id: str
    action: str
    args: Mapping[str, Any]
    args_hash: str
    risk: float | None
    subject: Mapping[str, str]
    context: Mapping[str, Any]
    summary: str | None
    requested_by: str
    requested_at: datetime
    idempotency_key: str | None
    callback_url: str | None
    incident_id: str | None  # the subject's open incident when the request came
    groups: tuple[tuple[str, ...], ...]  # who may answer: one group, or one per m_of_n target
    required: int  # how many groups must approve (1 unless m_of_n)
    escalated_to: tuple[str, ...]  # people added by escalation; each may decide alone
    stage: int  # 0 first window, 1 escalated
    due_at: datetime | None
    verdicts: tuple[Verdict, ...]
    decision: ReviewDecision | None
    note: str | None = None
    version: int = 1

    @property
    def pending(self) -> bool:
        return self.decision is None

    @property
    def status(self) -> str:
        return "pending" if self.decision is None else "decided"

    @property
    def reviewers(self) -> tuple[str, ...]:
        """Everyone who may answer now, in order, each once."""
        seen: dict[str, None] = {}
        for group in self.groups:
            seen.update(dict.fromkeys(group))
        seen.update(dict.fromkeys(self.escalated_to))
        return tuple(seen)

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "policy": self.policy_id,
            "action": self.action,
            "args": dict(self.args),
            "args_hash": self.args_hash,
            "risk": self.risk,
            "subject": dict(self.subject),
            "context": dict(self.context),
            "summary": self.summary,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "idempotency_key": self.idempotency_key,
            "callback_url": self.callback_url,
            "incident_id": self.incident_id,
            "groups": [list(g) for g in self.groups],
            "required": self.required,
            "escalated_to": list(self.escalated_to),
            "stage": self.stage,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "verdicts": [v.to_record() for v in self.verdicts],
            "decision": self.decision.to_record() if self.decision else None,
            "note": self.note,
            "version": self.version,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Review:
        due = record["due_at"]
        decision = record["decision"]
        return cls(
            id=record["id"],
            policy_id=record["policy"],
            action=record["action"],
            args=dict(record["args"]),
            args_hash=record["args_hash"],
            risk=record["risk"],
            subject=dict(record["subject"]),
            context=dict(record["context"]),
            summary=record["summary"],
            requested_by=record["requested_by"],
            requested_at=datetime.fromisoformat(record["requested_at"]),
            idempotency_key=record["idempotency_key"],
            callback_url=record["callback_url"],
            incident_id=record["incident_id"],
            groups=tuple(tuple(g) for g in record["groups"]),
            required=record["required"],
            escalated_to=tuple(record["escalated_to"]),
            stage=record["stage"],
            due_at=datetime.fromisoformat(due) if due else None,
            verdicts=tuple(Verdict.from_record(v) for v in record["verdicts"]),
            decision=ReviewDecision.from_record(decision) if decision else None,
            note=record.get("note"),
            version=record["version"],
        )


@dataclass(frozen=True, slots=True)
class Step:
    review: Review
    effects: tuple[Effect, ...]


# --- Transitions ---------------------------------------------------------------------


def open_review(
    policy: Policy,
    request: ReviewRequestIn,
    *,
    review_id: str,
    requested_by: str,
    incident_id: str | None,
    roles: Mapping[str, str],
    now: datetime,
) -> Step:
    """Route a request and start its first window (or decide it at once)."""
    routed = route(policy, request)
    spec = routed.spec
    args_hash = canonical_hash(request.action, request.args)
    review = Review(
        id=review_id,
        policy_id=routed.policy_id,
        action=request.action,
        args=dict(request.args),
        args_hash=args_hash,
        risk=request.risk,
        subject=dict(request.subject),
        context=dict(request.context),
        summary=request.summary,
        requested_by=requested_by,
        requested_at=now,
        idempotency_key=request.idempotency_key,
        callback_url=request.callback_url,
        incident_id=incident_id,
        groups=(),
        required=1,
        escalated_to=(),
        stage=0,
        due_at=None,
        verdicts=(),
        decision=None,
        note=routed.note,
    )
    opened = _record(review, now, "review.requested", requested_by, _request_data(review))
    if isinstance(spec, ReviewDefault) and spec.outcome != "review":
        outcome = Outcome.APPROVE if spec.outcome == "approve" else Outcome.DENY
        return _decide(review, outcome, Reason.AUTOMATIC, (), review.args, None, now, opened)
    assert spec.reviewers is not None and spec.respond_within is not None
    groups, required = _groups(policy, spec, roles, now)
    review = replace(
        review,
        groups=groups,
        required=required,
        due_at=now + spec.respond_within.as_timedelta(),
    )
    if not review.reviewers:
        return _escalate(policy, review, spec, roles, now, opened, Reason.NO_REVIEWERS)
    effects = [
        *opened,
        *_notify(policy, review, review.reviewers, step=0, now=now),
        SetTimer(review.id, TimerKind.REVIEW, 0, review.due_at or now),
    ]
    return Step(review, tuple(effects))


def answer(
    policy: Policy,
    review: Review,
    *,
    person: str,
    approve: bool,
    edited_args: Mapping[str, Any] | None,
    comment: str | None,
    now: datetime,
) -> Step:
    """A reviewer's answer. Raises :class:`ReviewRefused` when it cannot count."""
    if review.decision is not None:
        raise ReviewRefused("already_decided", f"review {review.id} is already decided")
    if person not in review.reviewers:
        raise ReviewRefused(
            "not_a_reviewer",
            f"{person!r} is not a reviewer of {review.id} (policy {review.policy_id!r})",
        )
    if any(v.person == person for v in review.verdicts):
        raise ReviewRefused("already_answered", f"{person!r} has already answered {review.id}")
    if edited_args is not None and not approve:
        raise ReviewRefused("edit_needs_approval", "edited arguments come with an approval")
    args = dict(edited_args) if edited_args is not None else dict(review.args)
    verdict = Verdict(
        person=person,
        approve=approve,
        args=args,
        args_hash=canonical_hash(review.action, args),
        edited=edited_args is not None and args != dict(review.args),
        comment=comment,
        at=now,
    )
    review = replace(review, verdicts=(*review.verdicts, verdict))
    recorded = _record(
        review,
        now,
        "review.answered",
        person,
        {"review_id": review.id, "approve": approve, "edited": verdict.edited, "comment": comment},
    )
    alone = person in review.escalated_to
    if not approve:
        return _decide(
            review, Outcome.DENY, Reason.REVIEWED, (person,), review.args, comment, now, recorded
        )
    agreeing = [v for v in review.verdicts if v.approve and v.args_hash == verdict.args_hash]
    if alone or _quorum(review, [v.person for v in agreeing]):
        by = (person,) if alone else tuple(v.person for v in agreeing)
        return _decide(review, Outcome.APPROVE, Reason.REVIEWED, by, args, comment, now, recorded)
    return Step(review, tuple(recorded))


def timer_fired(
    policy: Policy, review: Review, step: int, roles: Mapping[str, str], now: datetime
) -> Step:
    """A window closed: climb to ``escalate_to`` once, then let ``on_timeout`` decide."""
    if review.decision is not None or step != review.stage:
        return Step(review, ())
    spec = _spec(policy, review)
    if spec is None:  # the review policy was removed since: fail closed
        return _decide(review, Outcome.DENY, Reason.TIMEOUT, (), review.args, None, now, [])
    return _escalate(policy, review, spec, roles, now, [], Reason.TIMEOUT)


def _escalate(
    policy: Policy,
    review: Review,
    spec: ReviewPolicy | ReviewDefault,
    roles: Mapping[str, str],
    now: datetime,
    effects: list[Effect],
    reason: Reason,
) -> Step:
    people = _people(policy, spec.escalate_to, roles, now)
    if review.stage == 0 and people:
        assert spec.respond_within is not None
        due = now + spec.respond_within.as_timedelta()
        review = replace(review, stage=STEP_ESCALATED, escalated_to=tuple(people), due_at=due)
        return Step(
            review,
            (
                *effects,
                *_record(
                    review,
                    now,
                    "review.escalated",
                    None,
                    {"review_id": review.id, "to": list(people), "due_at": due.isoformat()},
                ),
                *_notify(policy, review, people, step=STEP_ESCALATED, now=now),
                SetTimer(review.id, TimerKind.REVIEW, STEP_ESCALATED, due),
            ),
        )
    outcome = Outcome(spec.on_timeout)
    return _decide(review, outcome, reason, (), review.args, None, now, effects)


def _decide(
    review: Review,
    outcome: Outcome,
    reason: Reason,
    by: tuple[str, ...],
    args: Mapping[str, Any],
    comment: str | None,
    now: datetime,
    effects: Sequence[Effect],
) -> Step:
    decision = ReviewDecision(
        outcome=outcome,
        reason=reason,
        by=by,
        action=review.action,
        args=dict(args),
        args_hash=canonical_hash(review.action, args),
        edited=dict(args) != dict(review.args),
        comment=comment,
        decided_at=now,
        expires_at=now + APPROVAL_VALIDITY if outcome is Outcome.APPROVE else None,
    )
    review = replace(review, decision=decision, due_at=None)
    out: list[Effect] = [
        *effects,
        CancelTimers(review.id, frozenset({TimerKind.REVIEW})),
        *_record(
            review,
            now,
            "review.decided",
            by[0] if len(by) == 1 else None,
            {
                "review_id": review.id,
                "action": review.action,
                "outcome": outcome.value,
                "reason": reason.value,
                "by": list(by),
                "edited": decision.edited,
            },
        ),
    ]
    if review.callback_url:
        body = {"type": "escalade.review.decided", "review": review.to_record()}
        out.append(
            Notify(
                incident_id=review.id,
                step=0,
                channel=CALLBACK_CHANNEL,
                person=None,
                target=review.callback_url,
                reason="review decided",
                subject=f"review {review.id}: {outcome.value}",
                text=f"{review.action}: {outcome.value} ({reason.value})",
                data=body,
                tag="decided",
            )
        )
    return Step(review, tuple(out))


def opens_incident(policy: Policy, review: Review) -> str | None:
    """``deny`` or ``timeout`` when the review's policy asks for an incident on that outcome."""
    spec = _spec(policy, review)
    decision = review.decision
    if decision is None or not isinstance(spec, ReviewPolicy):
        return None
    if decision.reason in {Reason.TIMEOUT, Reason.NO_REVIEWERS}:
        return "timeout" if "timeout" in spec.open_incident_on else None
    if decision.outcome is not Outcome.APPROVE and "deny" in spec.open_incident_on:
        return "deny"
    return None


def incident_signal(review: Review, trigger: str, now: datetime) -> Signal:
    """The signal a denied or timed-out review raises, for the policy's rules to route.

    Its id derives from the review, so raising it twice records it once.
    """
    decision = review.decision
    assert decision is not None
    return Signal(
        id=f"review-{review.id}",
        kind=f"review_{trigger}",
        received_at=now,
        source=f"escalade/reviews/{review.policy_id}",
        subject=dict(review.subject),
        summary=f"review of {review.action} ended in {decision.outcome.value} "
        f"({decision.reason.value})",
        value=review.risk,
        labels={
            "review_policy": review.policy_id,
            "action": review.action,
            "outcome": decision.outcome.value,
        },
        details={"review_id": review.id, "requested_by": review.requested_by},
    )


# --- Helpers ---------------------------------------------------------------------------


def _spec(policy: Policy, review: Review) -> ReviewPolicy | ReviewDefault | None:
    if review.policy_id == "default":
        return policy.reviews.default
    return policy.reviews.policies.get(review.policy_id)


def _people(
    policy: Policy, targets: Iterable[Target], roles: Mapping[str, str], now: datetime
) -> list[str]:
    seen: dict[str, None] = {}
    for target in targets:
        seen.update(dict.fromkeys(people_of(policy, target, roles, now)))
    return list(seen)


def _groups(
    policy: Policy, spec: ReviewPolicy | ReviewDefault, roles: Mapping[str, str], now: datetime
) -> tuple[tuple[tuple[str, ...], ...], int]:
    reviewers = spec.reviewers
    if isinstance(reviewers, MofNTargets):
        quorum = reviewers.m_of_n
        groups = tuple(tuple(_people(policy, [t], roles, now)) for t in quorum.of)
        return groups, quorum.m
    assert reviewers is not None
    return (tuple(_people(policy, reviewers, roles, now)),), 1


def _quorum(review: Review, approving: Sequence[str]) -> bool:
    """Enough distinct people approve, each standing for a different group."""
    labels = {
        person: frozenset(str(i) for i, group in enumerate(review.groups) if person in group)
        for person in dict.fromkeys(approving)
    }
    required = tuple(str(i) for i in range(len(review.groups)))
    return max_matching(required, labels) >= review.required


def _record(
    review: Review, now: datetime, kind: str, actor: str | None, data: dict[str, Any]
) -> list[Effect]:
    """The entry on the review's own timeline, and on its incident's when there is one."""
    entries: list[Effect] = [Record(review.id, now, kind, actor=actor, data=data)]
    if review.incident_id:
        entries.append(Record(review.incident_id, now, kind, actor=actor, data=data))
    return entries


def _request_data(review: Review) -> dict[str, Any]:
    return {
        "review_id": review.id,
        "action": review.action,
        "policy": review.policy_id,
        "risk": review.risk,
        "subject": dict(review.subject),
        "requested_by": review.requested_by,
        **({"note": review.note} if review.note else {}),
    }


def _notify(
    policy: Policy, review: Review, people: Iterable[str], *, step: int, now: datetime
) -> list[Effect]:
    subject = f"[review] {review.action} needs your decision"
    args = json.dumps(dict(review.args), sort_keys=True, default=str)
    lines = [
        f"{review.requested_by} asks to {review.action}"
        + (f" for {_subject_text(review.subject)}" if review.subject else "")
        + ".",
        *([review.summary] if review.summary else []),
        f"Arguments: {args[:1500]}",
        f"Risk: {review.risk if review.risk is not None else 'not given'}",
        f"Answer by {review.due_at.isoformat() if review.due_at else 'now'}: "
        f"POST /v1/reviews/{review.id}/decision",
    ]
    text = redact("\n".join(lines), ["secrets"]).text
    return [
        Notify(
            incident_id=review.id,
            step=step,
            channel=channel,
            person=person,
            target=f"person:{person}",
            reason="review requested" if step == 0 else "review escalated",
            subject=subject,
            text=text,
            data={"review_id": review.id, "action": review.action, "due_at": _iso(review.due_at)},
            tag="review",
        )
        for person in people
        for channel in policy.people[person].contacts
    ]


def _subject_text(subject: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in subject.items())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- Metrics ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewStats:
    """Per review policy: how many were decided, how fast, how many timed out."""

    decided: int
    timed_out: int
    automatic: int
    median_seconds: float | None  # request to decision, automatic decisions excluded
    p90_seconds: float | None

    @property
    def timeout_rate(self) -> float | None:
        asked = self.decided - self.automatic
        return self.timed_out / asked if asked else None

    def to_record(self) -> dict[str, Any]:
        return {
            "decided": self.decided,
            "timed_out": self.timed_out,
            "automatic": self.automatic,
            "timeout_rate": self.timeout_rate,
            "time_to_decision_p50_seconds": self.median_seconds,
            "time_to_decision_p90_seconds": self.p90_seconds,
        }


def review_stats(rows: Iterable[Mapping[str, Any]]) -> dict[str, ReviewStats]:
    """Summarise decided reviews (``policy_id``, ``requested_at``, ``decided_at``, ``reason``)."""
    by_policy: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_policy.setdefault(row["policy_id"], []).append(row)
    out: dict[str, ReviewStats] = {}
    for policy_id, found in sorted(by_policy.items()):
        waited = sorted(
            (r["decided_at"] - r["requested_at"]).total_seconds()
            for r in found
            if r["reason"] != Reason.AUTOMATIC.value
        )
        out[policy_id] = ReviewStats(
            decided=len(found),
            timed_out=sum(
                r["reason"] in {Reason.TIMEOUT.value, Reason.NO_REVIEWERS.value} for r in found
            ),
            automatic=sum(r["reason"] == Reason.AUTOMATIC.value for r in found),
            median_seconds=_quantile(waited, 0.5),
            p90_seconds=_quantile(waited, 0.9),
        )
    return out


def _quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values."""
    if not values:
        return None
    rank = max(1, -(-len(values) * q // 1))  # ceil(n * q)
    return values[int(rank) - 1]
