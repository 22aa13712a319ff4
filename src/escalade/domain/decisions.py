"""Decision rights: who may approve a consequential action, and when the answer holds.

Lifecycle (every transition named; see docs/decisions.md):

    request --(evidence hold active)--------> blocked
       '-----------------------------------> pending
    pending --vote (approve, no quorum yet)--> pending
    pending --stall (due_at passed)----------> pending, fallback_active
    pending --approve (quorum, or fallback)--> approved (authorises until valid_until)
    pending --reject (any eligible voter)----> rejected

Approved, rejected and blocked are final: a vote on them is refused with
``not_pending`` and a stall leaves them unchanged. Expiry is not a state: an
approval authorises its exact action and arguments until ``valid_until``
(:func:`is_authorised`), and a fresh request is needed afterwards.

Counting is the safer reading of the policy: a person counts once however many
roles they hold, and a role counts once however many people held it, so two
``m_of_n`` approvals need two people for two roles and ``all_of`` needs a distinct
person for every role.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from escalade.domain.policy_governance import DecisionRight

DEFAULT_VALIDITY = timedelta(hours=24)


class DecisionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    BLOCKED = "blocked"


class Transition(StrEnum):
    VOTE = "vote"  # recorded; quorum not yet met
    APPROVE = "approve"
    REJECT = "reject"
    STALL = "stall"


ALLOWED: dict[DecisionStatus, frozenset[Transition]] = {
    DecisionStatus.PENDING: frozenset(Transition),
    DecisionStatus.APPROVED: frozenset(),
    DecisionStatus.REJECTED: frozenset(),
    DecisionStatus.BLOCKED: frozenset(),
}

TARGET_STATUS: dict[Transition, DecisionStatus] = {
    Transition.VOTE: DecisionStatus.PENDING,
    Transition.APPROVE: DecisionStatus.APPROVED,
    Transition.REJECT: DecisionStatus.REJECTED,
    Transition.STALL: DecisionStatus.PENDING,
}

REFUSALS = {
    "no_such_right": "the policy grants no decision right for {action!r}",
    "not_an_approver": "{by} holds none of the roles that may decide {action!r}",
    "requester_cannot_approve": "{by} requested {action!r} and, under separation of duties, "
    "cannot vote on it",
    "already_voted": "{by} has already voted on {action!r}",
    "not_pending": "the decision on {action!r} is already {status}",
}


class DecisionRefused(ValueError):
    """A request or vote the decision rules forbid; ``reason`` is machine-readable."""

    def __init__(self, reason: str, **details: object) -> None:
        super().__init__(REFUSALS[reason].format(**details))
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Vote:
    """One person's answer. ``roles`` are the roles they held that bear on this right.

    ``as_fallback`` marks a vote cast with the fallback role's authority after the
    decision stalled; such an approval is enough on its own.
    """

    by: str
    roles: tuple[str, ...]
    approve: bool
    at: datetime
    comment: str | None = None
    as_fallback: bool = False

    def to_record(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "roles": list(self.roles),
            "approve": self.approve,
            "at": self.at.isoformat(),
            "comment": self.comment,
            "as_fallback": self.as_fallback,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Vote:
        return cls(
            by=record["by"],
            roles=tuple(record["roles"]),
            approve=record["approve"],
            at=datetime.fromisoformat(record["at"]),
            comment=record["comment"],
            as_fallback=record["as_fallback"],
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """A request to take ``action`` with ``args``, and where its approval stands.

    ``reason`` says why it is where it is: ``evidence_hold`` (blocked), ``rejected``,
    ``quorum`` or ``fallback`` (approved); ``None`` while pending.
    """

    id: str
    action: str
    args: Mapping[str, Any]
    args_hash: str
    requested_by: str
    requested_at: datetime
    status: DecisionStatus
    reason: str | None
    votes: tuple[Vote, ...]
    due_at: datetime
    fallback_active: bool
    decided_at: datetime | None
    valid_until: datetime | None
    validity: timedelta = DEFAULT_VALIDITY  # how long an approval will hold

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe dict; :meth:`from_record` is its exact inverse."""
        return {
            "id": self.id,
            "action": self.action,
            "args": dict(self.args),
            "args_hash": self.args_hash,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "status": self.status.value,
            "reason": self.reason,
            "votes": [vote.to_record() for vote in self.votes],
            "due_at": self.due_at.isoformat(),
            "fallback_active": self.fallback_active,
            "decided_at": _iso(self.decided_at),
            "valid_until": _iso(self.valid_until),
            "validity_seconds": self.validity.total_seconds(),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Decision:
        return cls(
            id=record["id"],
            action=record["action"],
            args=dict(record["args"]),
            args_hash=record["args_hash"],
            requested_by=record["requested_by"],
            requested_at=datetime.fromisoformat(record["requested_at"]),
            status=DecisionStatus(record["status"]),
            reason=record["reason"],
            votes=tuple(Vote.from_record(vote) for vote in record["votes"]),
            due_at=datetime.fromisoformat(record["due_at"]),
            fallback_active=record["fallback_active"],
            decided_at=_from_iso(record["decided_at"]),
            valid_until=_from_iso(record["valid_until"]),
            validity=timedelta(seconds=record["validity_seconds"]),
        )


def canonical_hash(action: str, args: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``{"action", "args"}`` as canonical JSON: sorted keys, no spaces."""
    text = json.dumps(
        {"action": action, "args": args}, sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


def request(
    action: str,
    right: DecisionRight | None,
    *,
    decision_id: str,
    args: Mapping[str, Any],
    by: str,
    evidence_hold_active: bool,
    now: datetime,
    validity: timedelta = DEFAULT_VALIDITY,
    due_at: datetime | None = None,
) -> Decision:
    """Open a decision on ``action``, or record it as blocked by an evidence hold.

    A blocked attempt is returned, not raised, so the timeline can show it. ``due_at``
    defaults to ``now + decide_within``; a ``decide_within`` in business days needs
    the policy's calendar, so the caller passes ``due_at`` for those.
    """
    if right is None:
        raise DecisionRefused("no_such_right", action=action)
    if validity <= timedelta(0):
        raise ValueError(f"an approval must stay valid for some time, not {validity}")
    # A round trip through JSON keeps the stored arguments exactly what was hashed.
    args_hash = canonical_hash(action, args)
    blocked = right.blocked_by_evidence_hold and evidence_hold_active
    return Decision(
        id=decision_id,
        action=action,
        args=json.loads(json.dumps(dict(args))),
        args_hash=args_hash,
        requested_by=by,
        requested_at=now,
        status=DecisionStatus.BLOCKED if blocked else DecisionStatus.PENDING,
        reason="evidence_hold" if blocked else None,
        votes=(),
        due_at=due_at if due_at is not None else now + right.decide_within.as_timedelta(),
        fallback_active=False,
        decided_at=now if blocked else None,
        valid_until=None,
        validity=validity,
    )


def vote(
    decision: Decision,
    right: DecisionRight,
    *,
    by: str,
    approve: bool,
    roles: Mapping[str, str],
    now: datetime,
    comment: str | None = None,
) -> Decision:
    """Record ``by``'s answer and settle the decision if it is now decided.

    Refused (:class:`DecisionRefused`) when the decision is not pending, when the
    requester votes under separation of duties, when ``by`` holds no approver role
    (nor, once the decision stalled, the fallback role), or when ``by`` has voted
    already. One exception to "once": a fallback holder who approved as an ordinary
    approver may vote again as the fallback once the decision has stalled.
    """
    details = {"action": decision.action, "by": by, "status": decision.status.value}
    if decision.status is not DecisionStatus.PENDING:
        raise DecisionRefused("not_pending", **details)
    if right.separation_of_duties and by == decision.requested_by:
        raise DecisionRefused("requester_cannot_approve", **details)
    acting = (
        right.fallback if decision.fallback_active and _holds(roles, by, right.fallback) else None
    )
    as_fallback = acting is not None
    earlier = [v for v in decision.votes if v.by == by]
    if any(v.as_fallback or not as_fallback for v in earlier):
        raise DecisionRefused("already_voted", **details)
    held = _held_roles(right, roles, by)
    if not held and not as_fallback:
        raise DecisionRefused("not_an_approver", **details)
    if acting is not None and acting not in held:
        held = (*held, acting)
    cast = Vote(by, held, approve, now, comment, as_fallback)
    votes = (*decision.votes, cast)
    if not approve:
        transition, reason = Transition.REJECT, "rejected"
    elif as_fallback:
        transition, reason = Transition.APPROVE, "fallback"
    elif _approvals(right, votes) >= _needed(right):
        transition, reason = Transition.APPROVE, "quorum"
    else:
        transition, reason = Transition.VOTE, None
    status = TARGET_STATUS[transition]
    decided = status is not DecisionStatus.PENDING
    approved = status is DecisionStatus.APPROVED
    return replace(
        decision,
        votes=votes,
        status=status,
        reason=reason,
        decided_at=now if decided else None,
        valid_until=now + decision.validity if approved else None,
    )


def stall(decision: Decision, right: DecisionRight, *, now: datetime) -> Decision:
    """Once ``due_at`` has passed on a pending decision, let the fallback decide alone.

    Anything else (not yet due, already decided, no fallback role, already stalled)
    returns the decision unchanged, so a late or repeated timer is harmless.
    """
    if (
        decision.status is not DecisionStatus.PENDING
        or decision.fallback_active
        or right.fallback is None
        or now < decision.due_at
    ):
        return decision
    return replace(decision, fallback_active=True)


def quorum_state(decision: Decision, right: DecisionRight, roles: Mapping[str, str]) -> str:
    """Where the count stands, for people: ``"1 of 2 approvals (legal_liaison, exec_sponsor)"``.

    Approver roles nobody holds in ``roles`` are named, since they can never vote.
    """
    names = right.approvers.roles
    count = (
        f"{_approvals(right, decision.votes)} of {_needed(right)} approvals ({', '.join(names)})"
    )
    if decision.status is DecisionStatus.BLOCKED:
        return f"blocked ({decision.reason})"
    if decision.status is DecisionStatus.REJECTED:
        return f"rejected ({count})"
    if decision.status is DecisionStatus.APPROVED:
        if decision.reason == "fallback":
            return f"approved by the fallback {right.fallback} ({count})"
        return f"approved ({count})"
    notes = [count]
    vacant = [name for name in names if name not in roles]
    if vacant:
        notes.append(f"nobody holds {', '.join(vacant)}")
    if decision.fallback_active and right.fallback:
        holder = roles.get(right.fallback, "nobody")
        notes.append(f"overdue: the fallback {right.fallback} ({holder}) may approve alone")
    return "; ".join(notes)


def is_authorised(
    decision: Decision, *, action: str, args: Mapping[str, Any], now: datetime
) -> bool:
    """True when ``decision`` approves exactly this action with exactly these arguments now."""
    return (
        decision.status is DecisionStatus.APPROVED
        and decision.action == action
        and decision.args_hash == canonical_hash(action, args)
        and decision.valid_until is not None
        and now < decision.valid_until
    )


# --- Counting -------------------------------------------------------------------------


def _holds(roles: Mapping[str, str], person: str, role: str | None) -> bool:
    return role is not None and roles.get(role) == person


def _held_roles(right: DecisionRight, roles: Mapping[str, str], person: str) -> tuple[str, ...]:
    return tuple(name for name in right.approvers.roles if roles.get(name) == person)


def _needed(right: DecisionRight) -> int:
    approvers = right.approvers
    if approvers.all_of is not None:
        return len(approvers.all_of)
    if approvers.m_of_n is not None:
        return approvers.m_of_n.m
    return 1


def _approvals(right: DecisionRight, votes: Iterable[Vote]) -> int:
    """Approvals that count: each by a distinct person standing for a distinct role.

    Roles are those recorded on the vote, so a role handed over mid-decision cannot
    be counted twice (once for the old holder, once for the new).
    """
    approving: dict[str, frozenset[str]] = {}
    names = set(right.approvers.roles)
    for cast in votes:
        eligible = names.intersection(cast.roles)
        if cast.approve and not cast.as_fallback and eligible:
            approving[cast.by] = frozenset(eligible)
    return max_matching(right.approvers.roles, approving)


def max_matching(required: tuple[str, ...], people: Mapping[str, frozenset[str]]) -> int:
    """How many roles distinct people can fill at once (maximum bipartite matching)."""
    filled_by: dict[str, str] = {}

    def place(person: str, seen: set[str]) -> bool:
        for role in sorted(people[person]):
            if role in seen:
                continue
            seen.add(role)
            if role not in filled_by or place(filled_by[role], seen):
                filled_by[role] = person
                return True
        return False

    for person in people:
        place(person, set())
    return sum(1 for role in required if role in filled_by)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
