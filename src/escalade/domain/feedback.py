"""Responder feedback: after an incident, the people who ran it rate how it went.

Part of the pure core. When an incident of a tier the policy's `feedback` section
names is resolved, every participant (who acknowledged or resolved it, held a role,
asked for or voted on a decision, logged a decision, owns or created an action
item) is asked through their contacts to rate the process from 1 to 5 and leave a
comment. Only participants may answer, once each (a second answer replaces the
first). The results, per team and per tier, are the seeds' "stakeholder
satisfaction with the decision-making process".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalade.domain.effects import Effect, Notify, Record
from escalade.domain.incidents import Incident, IncidentStatus
from escalade.domain.policy import Policy

RATINGS = (1, 2, 3, 4, 5)
MAX_COMMENT = 5000
FEEDBACK_STEP = 1_000_000  # outside any ladder's steps: one request per person and channel


class FeedbackRefused(ValueError):
    """An answer that cannot be taken; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def participants(policy: Policy, incident: Incident) -> tuple[str, ...]:
    """The policy's people who took part, in order of first appearance."""
    seen: dict[str, None] = {}

    def add(*people: Any) -> None:
        for person in people:
            if isinstance(person, str) and person in policy.people:
                seen.setdefault(person, None)

    add(incident.acknowledged_by, *incident.roles.values())
    for decision in incident.decisions:
        add(decision.get("requested_by"), *(v.get("by") for v in decision.get("votes", ())))
    for entry in incident.decision_log:
        add(entry.get("by"))
    for item in incident.action_items:
        add(item.get("owner"), item.get("created_by"))
    add(incident.resolved_by)
    return tuple(seen)


def wanted(policy: Policy, incident: Incident) -> bool:
    """Whether the policy asks about incidents of this one's tier."""
    section = policy.feedback
    return section is not None and (not section.tiers or incident.tier in section.tiers)


def ask(policy: Policy, incident: Incident, now: datetime) -> list[Effect]:
    """On resolution: one request per participant and contact, and a timeline entry."""
    if not wanted(policy, incident):
        return []
    people = participants(policy, incident)
    if not people:
        return []
    subject = f"[feedback] How did the response to {incident.title} go?"
    text = (
        f"Incident {incident.id} ({incident.tier}) is resolved. You took part: how well did "
        f"the escalation and the decisions work? Rate it from 1 (badly) to 5 (very well), "
        f"with a comment if you like.\n"
        f"Or: escalade incidents feedback {incident.id} --rating N"
    )
    effects: list[Effect] = [
        Record(incident.id, now, "feedback.requested", data={"participants": list(people)})
    ]
    effects += [
        Notify(
            incident_id=incident.id,
            step=FEEDBACK_STEP,
            channel=channel,
            person=person,
            target=f"person:{person}",
            reason="feedback requested",
            subject=subject,
            text=text,
            data={"feedback": True, "incident_id": incident.id},
            tag="feedback",
        )
        for person in people
        for channel in policy.people[person].contacts
    ]
    return effects


def check_answer(
    policy: Policy, incident: Incident, person: str, rating: int, comment: str | None
) -> None:
    """Raise FeedbackRefused unless `person` may rate this incident so."""
    if incident.status is not IncidentStatus.RESOLVED:
        raise FeedbackRefused("not_resolved", "feedback is taken once the incident is resolved")
    if person not in participants(policy, incident):
        raise FeedbackRefused(
            "not_a_participant", f"{person!r} did not take part in incident {incident.id}"
        )
    if rating not in RATINGS:
        raise FeedbackRefused("invalid_rating", "rating: expected a whole number from 1 to 5")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise FeedbackRefused("invalid_comment", f"comment: at most {MAX_COMMENT} characters")


@dataclass(frozen=True, slots=True)
class Answer:
    incident_id: str
    person: str
    rating: int
    comment: str | None
    tier: str
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class Satisfaction:
    responses: int
    mean: float
    distribution: Mapping[int, int]  # rating -> how many gave it

    def to_record(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "mean_rating": round(self.mean, 2),
            "distribution": {str(r): self.distribution.get(r, 0) for r in RATINGS},
        }


def satisfaction(policy: Policy, answers: Sequence[Answer], by: str) -> dict[str, Satisfaction]:
    """Ratings grouped `by` tier or team (a person counts in each of their teams)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for answer in answers:
        for key in _keys(policy, answer, by):
            groups[key].append(answer.rating)
    return {key: _summary(ratings) for key, ratings in sorted(groups.items())}


def _keys(policy: Policy, answer: Answer, by: str) -> Iterable[str]:
    if by == "tier":
        return (answer.tier,)
    if by == "team":
        teams = [tid for tid, team in policy.teams.items() if answer.person in team.members]
        return teams or ("(no team)",)
    raise ValueError(f"by: expected 'tier' or 'team', found {by!r}")


def _summary(ratings: Sequence[int]) -> Satisfaction:
    counts: dict[int, int] = defaultdict(int)
    for rating in ratings:
        counts[rating] += 1
    return Satisfaction(len(ratings), sum(ratings) / len(ratings), dict(counts))
