"""The incident: its state, its lifecycle, and the events that move it.

Lifecycle (every transition named; see docs/state-machines.md):

    triggered --acknowledge--> acknowledged --resolve--> resolved
        |  ^                        |
        |  '------ack_expired-------'   (an acknowledgement that went stale)
        '--------------resolve-------------> resolved

`escalate` fires the next rung now and leaves an acknowledged incident
triggered again. Acknowledging or resolving twice changes nothing (idempotent);
moving a resolved incident is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Transition(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    ACK_EXPIRED = "ack_expired"


ALLOWED: dict[IncidentStatus, frozenset[Transition]] = {
    IncidentStatus.TRIGGERED: frozenset(
        {Transition.ACKNOWLEDGE, Transition.RESOLVE, Transition.ESCALATE}
    ),
    IncidentStatus.ACKNOWLEDGED: frozenset(
        {Transition.RESOLVE, Transition.ESCALATE, Transition.ACK_EXPIRED}
    ),
    IncidentStatus.RESOLVED: frozenset(),
}

TARGET_STATUS: dict[Transition, IncidentStatus] = {
    Transition.ACKNOWLEDGE: IncidentStatus.ACKNOWLEDGED,
    Transition.RESOLVE: IncidentStatus.RESOLVED,
    Transition.ESCALATE: IncidentStatus.TRIGGERED,
    Transition.ACK_EXPIRED: IncidentStatus.TRIGGERED,
}


class IllegalTransition(ValueError):
    """A move the lifecycle forbids, e.g. acknowledging a resolved incident."""

    def __init__(self, status: IncidentStatus, transition: Transition) -> None:
        super().__init__(f"cannot {transition.value} an incident that is {status.value}")
        self.status = status
        self.transition = transition


def check_transition(status: IncidentStatus, transition: Transition) -> IncidentStatus:
    if transition not in ALLOWED[status]:
        raise IllegalTransition(status, transition)
    return TARGET_STATUS[transition]


@dataclass(frozen=True, slots=True)
class LadderPosition:
    """Where the incident stands on its escalation ladder.

    `step` counts every rung fired (including repeats) and never goes back; a
    timer carries the step it was set for, so a timer left over from an earlier
    step is recognised as stale and does nothing.
    """

    ladder: str
    rung: int = 0
    cycle: int = 0
    step: int = 1
    exhausted: bool = False


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    title: str
    tier: str
    type: str
    rule_id: str | None
    group_key: str
    status: IncidentStatus
    opened_at: datetime
    last_signal_at: datetime
    ladder: LadderPosition
    subject: dict[str, str] = field(default_factory=dict)
    summary: str | None = None
    signal_count: int = 1
    roles: dict[str, str] = field(default_factory=dict)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    ack_step: int = 0
    # Governance: facts, regulatory clocks and decision rights (domain/governance.py).
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    obligations: tuple[str, ...] = ()
    submitted: dict[str, dict[str, str]] = field(default_factory=dict)
    deadlines: tuple[dict[str, Any], ...] = ()
    clock_version: int = 0
    evidence_hold: bool = False
    decisions: tuple[dict[str, Any], ...] = ()
    # Incident command (domain/command.py).
    stage: str = "investigating"
    update_base: int = 0
    decision_log: tuple[dict[str, Any], ...] = ()
    action_items: tuple[dict[str, Any], ...] = ()
    messages: tuple[dict[str, Any], ...] = ()  # domain/communications.py
    review: dict[str, Any] = field(default_factory=dict)  # domain/postmortem.py
    policy_version: str | None = None  # digest of the policy the incident opened under
    version: int = 1

    def evolve(self, **changes: Any) -> Incident:
        return replace(self, version=self.version + 1, **changes)

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "tier": self.tier,
            "type": self.type,
            "rule_id": self.rule_id,
            "group_key": self.group_key,
            "status": self.status.value,
            "subject": self.subject,
            "roles": self.roles,
            "signal_count": self.signal_count,
            "opened_at": self.opened_at.isoformat(),
            "last_signal_at": self.last_signal_at.isoformat(),
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": _iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "facts": self.facts,
            "obligations": list(self.deadlines),
            "evidence_hold": self.evidence_hold,
            "decisions": list(self.decisions),
            "stage": self.stage,
            "decision_log": list(self.decision_log),
            "action_items": list(self.action_items),
            "messages": list(self.messages),
            "review": self.review,
            "policy_version": self.policy_version,
            "ladder": {
                "id": self.ladder.ladder,
                "rung": self.ladder.rung + 1,
                "cycle": self.ladder.cycle,
                "step": self.ladder.step,
                "exhausted": self.ladder.exhausted,
            },
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
