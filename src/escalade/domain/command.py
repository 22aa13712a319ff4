"""Incident command: roles, status updates, severity, the decision log, action items.

Part of the pure core; `escalation.apply` hands these events here.

- A role is handed over with a reason; the new holder is notified with the
  role's instructions. Every hand-over is on the timeline.
- Status updates move the Statuspage stage (investigating, identified,
  monitoring, resolved) and restart the tier's `update_every` cadence. A missed
  update reminds the incident lead; from the second missed in a row the
  reminder also pages the ladder's `exhausted` targets.
- A severity change needs a reason; a more severe tier fills its missing roles
  and, while nobody has acknowledged, restarts the ladder of the new tier.
- The decision log records what was decided, why, on what evidence, by whom,
  under which role or decision right.
- Action items have an owner and a deadline: a reminder before it (a day, or half
  the time when that is shorter) and an escalation to the incident lead after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from escalade.domain.effects import CancelTimers, Effect, Record, SetTimer, TimerKind
from escalade.domain.incidents import Incident, IncidentStatus
from escalade.domain.ladder import after, fire, ladder_of, notify
from escalade.domain.policy import Policy
from escalade.domain.recipients import fill_roles
from escalade.domain.targets import Target, TargetKind


class Stage(StrEnum):
    """Statuspage's vocabulary for where an incident stands."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class ItemState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class AssignRole:
    role: str
    person: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class PostUpdate:
    stage: Stage
    message: str
    by: str


@dataclass(frozen=True, slots=True)
class ChangeSeverity:
    tier: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class LogDecision:
    what: str
    why: str
    by: str
    evidence: tuple[str, ...] = ()
    role: str | None = None
    decision_id: str | None = None  # the decision right's request, when one applied


@dataclass(frozen=True, slots=True)
class AddActionItem:
    item_id: str
    title: str
    owner: str
    due_at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class CloseActionItem:
    item_id: str
    state: ItemState
    by: str
    note: str | None = None
    policy_version: str | None = None  # done by this policy change (its digest)


_DAY = timedelta(days=1)

CommandEvent = (
    AssignRole | PostUpdate | ChangeSeverity | LogDecision | AddActionItem | CloseActionItem
)
Result = tuple[Incident, list[Effect]]


class CommandRefused(ValueError):
    """A command the incident cannot take; `reason` is machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


def apply_command(policy: Policy, incident: Incident, event: CommandEvent, now: datetime) -> Result:
    if isinstance(event, AssignRole):
        return _assign(policy, incident, event, now)
    if isinstance(event, PostUpdate):
        return _update(policy, incident, event, now)
    if isinstance(event, ChangeSeverity):
        return _severity(policy, incident, event, now)
    if isinstance(event, LogDecision):
        return _log(incident, event, now)
    if isinstance(event, AddActionItem):
        return _add_item(policy, incident, event, now)
    return _close_item(incident, event, now)


def _assign(policy: Policy, incident: Incident, event: AssignRole, now: datetime) -> Result:
    if event.person not in policy.people:
        raise CommandRefused("unknown_person", f"{event.person!r} is not a person of the policy")
    if not event.reason.strip():
        raise CommandRefused("reason_required", "a hand-over needs a reason")
    previous = incident.roles.get(event.role)
    if previous == event.person:
        return incident, []
    updated = incident.evolve(roles={**incident.roles, event.role: event.person})
    spec = policy.roles.get(event.role)
    instructions = spec.instructions if spec and spec.instructions else ""
    record = Record(
        incident.id,
        now,
        "role.assigned",
        actor=event.by,
        data={"role": event.role, "from": previous, "to": event.person, "reason": event.reason},
    )
    subject = f"[{incident.tier}] you are now {event.role}: {incident.title}"
    notes = notify(
        policy,
        updated,
        (Target(TargetKind.PERSON, event.person),),
        now,
        reason=f"assigned {event.role}" + (f". {instructions}" if instructions else ""),
        tag=f"role:{event.role}:{updated.version}",
        subject=subject,
    )
    return updated, [record, *notes]


def _update(policy: Policy, incident: Incident, event: PostUpdate, now: datetime) -> Result:
    updated = incident.evolve(stage=event.stage.value, update_base=incident.update_base + 1)
    effects: list[Effect] = [
        Record(
            incident.id,
            now,
            "status.updated",
            actor=event.by,
            data={"stage": event.stage.value, "message": event.message},
        ),
        CancelTimers(incident.id, frozenset({TimerKind.UPDATE})),
    ]
    tier = policy.tiers.get(incident.tier)
    if tier is not None and tier.update_every is not None and incident.is_open:
        # Timer steps stay unique across restarts of the cadence: base * 1000 + n.
        step = updated.update_base * 1000 + 1
        effects.append(
            SetTimer(incident.id, TimerKind.UPDATE, step, after(policy, now, tier.update_every))
        )
    return updated, effects


def missed_updates(incident: Incident, step: int) -> int:
    """How many update reminders in a row this one is (1 = the first missed)."""
    return step - incident.update_base * 1000 if step > incident.update_base * 1000 else 0


def _severity(policy: Policy, incident: Incident, event: ChangeSeverity, now: datetime) -> Result:
    if event.tier not in policy.tiers:
        raise CommandRefused(
            "unknown_tier", f"no tier {event.tier!r}; tiers: {', '.join(policy.tiers)}"
        )
    if not event.reason.strip():
        raise CommandRefused("reason_required", "a severity change needs a reason")
    if event.tier == incident.tier:
        return incident, []
    tier = policy.tiers[event.tier]
    more_severe = policy.tier_order(event.tier) < policy.tier_order(incident.tier)
    missing = [r for r in tier.roles if r not in incident.roles]
    roles = {**incident.roles, **fill_roles(policy, missing, now)}
    updated = incident.evolve(tier=event.tier, roles=roles)
    effects: list[Effect] = [
        Record(
            incident.id,
            now,
            "severity.changed",
            actor=event.by,
            data={
                "from": incident.tier,
                "to": event.tier,
                "reason": event.reason,
                "roles_filled": {r: roles[r] for r in missing if r in roles},
            },
        )
    ]
    if more_severe and incident.status is IncidentStatus.TRIGGERED:
        position = replace(
            incident.ladder,
            ladder=tier.ladder,
            rung=0,
            cycle=0,
            step=incident.ladder.step + 1,
            exhausted=False,
        )
        updated = updated.evolve(ladder=position)
        effects.append(CancelTimers(incident.id, frozenset({TimerKind.LADDER})))
        updated, fired = fire(
            policy,
            updated,
            ladder_of(policy, updated),
            now,
            reason=f"severity raised to {event.tier}",
        )
        effects += fired
    return updated, effects


def _log(incident: Incident, event: LogDecision, now: datetime) -> Result:
    if not event.what.strip() or not event.why.strip():
        raise CommandRefused("rationale_required", "a logged decision needs what and why")
    entry = {
        "at": now.isoformat(),
        "what": event.what,
        "why": event.why,
        "by": event.by,
        "evidence": list(event.evidence),
        "role": event.role,
        "decision_id": event.decision_id,
    }
    if event.decision_id is not None and not any(
        d["id"] == event.decision_id for d in incident.decisions
    ):
        raise CommandRefused("no_such_decision", f"no decision {event.decision_id!r} here")
    updated = incident.evolve(decision_log=(*incident.decision_log, entry))
    return updated, [Record(incident.id, now, "decision.logged", actor=event.by, data=entry)]


def _add_item(policy: Policy, incident: Incident, event: AddActionItem, now: datetime) -> Result:
    if event.owner not in policy.people:
        raise CommandRefused("unknown_person", f"{event.owner!r} is not a person of the policy")
    if event.due_at <= now:
        raise CommandRefused("due_in_past", "an action item's deadline must be in the future")
    item = {
        "id": event.item_id,
        "title": event.title,
        "owner": event.owner,
        "due_at": event.due_at.isoformat(),
        "state": ItemState.OPEN.value,
        "created_at": now.isoformat(),
        "created_by": event.by,
    }
    updated = incident.evolve(action_items=(*incident.action_items, item))
    lead_time = min((event.due_at - now) / 2, _DAY)
    effects: list[Effect] = [
        Record(incident.id, now, "action_item.added", actor=event.by, data=item),
        SetTimer(incident.id, TimerKind.ACTION, 1, event.due_at - lead_time, tag=event.item_id),
        SetTimer(incident.id, TimerKind.ACTION, 2, event.due_at, tag=event.item_id),
    ]
    effects += notify(
        policy,
        updated,
        (Target(TargetKind.PERSON, event.owner),),
        now,
        reason=f"action item assigned: {event.title}",
        tag=f"item:{event.item_id}:assigned",
        subject=f"[{incident.tier}] action item for you: {event.title}",
    )
    return updated, effects


def _close_item(incident: Incident, event: CloseActionItem, now: datetime) -> Result:
    item = _item(incident, event.item_id)
    if item["state"] != ItemState.OPEN.value:
        raise CommandRefused(
            "item_closed", f"action item {event.item_id} is already {item['state']}"
        )
    if event.state is ItemState.OPEN:
        raise CommandRefused("item_open", "close an item as done or cancelled")
    if event.policy_version is not None and event.state is not ItemState.DONE:
        raise CommandRefused("item_cancelled", "only a done item is resolved by a policy change")
    items = tuple(
        {
            **i,
            "state": event.state.value,
            "closed_at": now.isoformat(),
            "closed_by": event.by,
            "note": event.note,
            "policy_version": event.policy_version,
        }
        if i is item
        else i
        for i in incident.action_items
    )
    record = Record(
        incident.id,
        now,
        f"action_item.{event.state.value}",
        actor=event.by,
        data={
            "id": event.item_id,
            "title": item["title"],
            "note": event.note,
            "policy_version": event.policy_version,
        },
    )
    return incident.evolve(action_items=items), [record]


def action_timer(policy: Policy, incident: Incident, step: int, tag: str, now: datetime) -> Result:
    """Step 1: remind the owner before the deadline. Step 2: escalate after it."""
    item = next((i for i in incident.action_items if i["id"] == tag), None)
    if item is None or item["state"] != ItemState.OPEN.value:
        return incident, []
    owner = Target(TargetKind.PERSON, item["owner"])
    if step == 1:
        targets: tuple[Target, ...] = (owner,)
        kind, reason = "action_item.reminder", f"action item due {item['due_at']}: {item['title']}"
    else:
        lead = incident.roles.get("incident_lead")
        targets = (owner, *((Target(TargetKind.PERSON, lead),) if lead else ()))
        kind, reason = "action_item.overdue", f"action item overdue: {item['title']}"
    record = Record(
        incident.id,
        now,
        kind,
        data={"id": item["id"], "owner": item["owner"], "notified": [str(t) for t in targets]},
    )
    notes = notify(
        policy,
        incident,
        targets,
        now,
        reason=reason,
        tag=f"item:{item['id']}:{step}",
        subject=f"[{incident.tier}] {reason}",
    )
    return incident, [record, *notes]


def open_items(incident: Incident) -> list[dict[str, Any]]:
    return [i for i in incident.action_items if i["state"] == ItemState.OPEN.value]


def _item(incident: Incident, item_id: str) -> dict[str, Any]:
    for item in incident.action_items:
        if item["id"] == item_id:
            return item
    raise CommandRefused("no_such_item", f"no action item {item_id!r} on this incident")
