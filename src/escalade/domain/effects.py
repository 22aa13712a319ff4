"""What the core asks the outside world to do. The engine carries them out in
the same transaction as the state change they belong to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TimerKind(StrEnum):
    LADDER = "ladder"  # the next rung is due
    ACK_WINDOW = "ack_window"  # the tier's first-acknowledgement window ends
    ACK_EXPIRY = "ack_expiry"  # an acknowledgement goes stale
    HOURS = "hours"  # a rung deferred to the ladder's business hours
    UPDATE = "update"  # a status update is due (the tier's update_every)
    QUIET = "quiet"  # no signal for grouping.resolve_after_quiet: auto-resolve
    OBLIGATION = "obligation"  # a regulatory clock's reminder or deadline
    DECISION = "decision"  # a decision's window closes
    CONDITION = "condition"  # a rule's `when: {for: ...}` has held long enough
    ACTION = "action"  # an action item's reminder (step 1) or deadline (step 2)
    REVIEW = "review"  # a review request's window closes (step = the window's stage)
    EXERCISE = "exercise"  # a scheduled live drill is due (step = its occurrence, tag = id)


@dataclass(frozen=True, slots=True)
class SetTimer:
    incident_id: str
    kind: TimerKind
    step: int
    due_at: datetime
    tag: str = ""  # which obligation, decision or rule group the timer is for

    @property
    def key(self) -> str:
        base = f"{self.incident_id}:{self.kind.value}:{self.step}"
        return f"{base}:{self.tag}" if self.tag else base


@dataclass(frozen=True, slots=True)
class CancelTimers:
    incident_id: str
    kinds: frozenset[TimerKind]


@dataclass(frozen=True, slots=True)
class Notify:
    """One message to one recipient over one channel.

    The idempotency key is stable for the same incident step, person and
    channel, so a retried or re-applied step never sends twice.
    """

    incident_id: str
    step: int
    channel: str
    person: str | None
    target: str
    reason: str
    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    tag: str = ""  # what besides a rung this is for: "update-3", "obligation:..."

    @property
    def idempotency_key(self) -> str:
        key = f"{self.incident_id}/{self.step}/{self.person or '-'}/{self.channel}"
        return f"{key}/{self.tag}" if self.tag else key


@dataclass(frozen=True, slots=True)
class Record:
    """A timeline entry."""

    incident_id: str
    at: datetime
    kind: str
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Effect = SetTimer | CancelTimers | Notify | Record
