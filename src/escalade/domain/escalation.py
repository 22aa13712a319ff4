"""The escalation core: (policy, incident, event, now) -> (incident, effects).

Pure: no clock, no storage, no network. The live engine and `escalade drill`
run exactly this code; only where `now` comes from differs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from escalade.domain.calendar import add_duration
from escalade.domain.effects import CancelTimers, Effect, Notify, Record, SetTimer, TimerKind
from escalade.domain.incidents import (
    Incident,
    IncidentStatus,
    LadderPosition,
    Transition,
    check_transition,
)
from escalade.domain.policy import Ladder, Policy
from escalade.domain.recipients import fill_roles, resolve
from escalade.domain.rules import Route
from escalade.domain.signals import Signal
from escalade.domain.targets import Target


@dataclass(frozen=True, slots=True)
class SignalArrived:
    signal: Signal


@dataclass(frozen=True, slots=True)
class TimerFired:
    kind: TimerKind
    step: int


@dataclass(frozen=True, slots=True)
class Acknowledge:
    by: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Resolve:
    by: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Escalate:
    by: str
    note: str | None = None


Event = SignalArrived | TimerFired | Acknowledge | Resolve | Escalate


class CannotEscalate(ValueError):
    """The ladder has no rung left to climb."""


@dataclass(frozen=True, slots=True)
class Outcome:
    incident: Incident
    effects: tuple[Effect, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.effects)


_LADDER_TIMERS = frozenset({TimerKind.LADDER, TimerKind.ACK_WINDOW})
_ALL_TIMERS = frozenset(TimerKind)


def open_incident(
    policy: Policy, route: Route, signal: Signal, incident_id: str, now: datetime
) -> Outcome:
    """A new incident from its first signal: fill roles, fire rung 1, start the clocks."""
    tier = policy.tiers[route.tier]
    incident = Incident(
        id=incident_id,
        title=signal.title,
        summary=signal.summary,
        tier=route.tier,
        type=route.type,
        rule_id=route.rule_id,
        group_key=route.group_key,
        status=IncidentStatus.TRIGGERED,
        opened_at=now,
        last_signal_at=now,
        subject=dict(signal.subject),
        roles=fill_roles(policy, tier.roles, now),
        ladder=LadderPosition(ladder=tier.ladder),
    )
    effects: list[Effect] = [
        Record(
            incident_id,
            now,
            "incident.opened",
            data={
                "signal_id": signal.id,
                "rule_id": route.rule_id,
                "tier": route.tier,
                "type": route.type,
                "group_key": route.group_key,
                "roles": incident.roles,
            },
        ),
    ]
    effects += [Record(incident_id, now, "rule.note", data={"note": n}) for n in route.notes]
    effects.append(
        SetTimer(incident_id, TimerKind.ACK_WINDOW, 1, _after(policy, now, tier.ack_within))
    )
    incident, fired = _fire(policy, incident, policy.ladders[tier.ladder], now, reason="opened")
    return Outcome(incident, (*effects, *fired))


def apply(policy: Policy, incident: Incident, event: Event, now: datetime) -> Outcome:
    """The one entry point for everything that happens to an open incident."""
    if isinstance(event, SignalArrived):
        return _attach(incident, event.signal, now)
    if isinstance(event, TimerFired):
        return _timer(policy, incident, event, now)
    if isinstance(event, Acknowledge):
        return _acknowledge(policy, incident, event, now)
    if isinstance(event, Resolve):
        return _resolve(incident, event, now)
    return _escalate(policy, incident, event, now)


def _attach(incident: Incident, signal: Signal, now: datetime) -> Outcome:
    updated = incident.evolve(signal_count=incident.signal_count + 1, last_signal_at=now)
    record = Record(
        incident.id,
        now,
        "signal.attached",
        data={"signal_id": signal.id, "summary": signal.summary, "value": signal.value},
    )
    return Outcome(updated, (record,))


def _acknowledge(policy: Policy, incident: Incident, event: Acknowledge, now: datetime) -> Outcome:
    if incident.status is IncidentStatus.ACKNOWLEDGED:
        return Outcome(incident)
    status = check_transition(incident.status, Transition.ACKNOWLEDGE)
    ack_step = incident.ack_step + 1
    updated = incident.evolve(
        status=status, acknowledged_at=now, acknowledged_by=event.by, ack_step=ack_step
    )
    effects: list[Effect] = [
        CancelTimers(incident.id, _LADDER_TIMERS),
        Record(
            incident.id,
            now,
            "incident.acknowledged",
            actor=event.by,
            data=_note(event.note, rung=incident.ladder.rung + 1),
        ),
    ]
    ladder = _ladder_of(policy, incident)
    if ladder.ack_expires is not None:
        due = _after(policy, now, ladder.ack_expires)
        effects.append(SetTimer(incident.id, TimerKind.ACK_EXPIRY, ack_step, due))
    return Outcome(updated, tuple(effects))


def _resolve(incident: Incident, event: Resolve, now: datetime) -> Outcome:
    if incident.status is IncidentStatus.RESOLVED:
        return Outcome(incident)
    status = check_transition(incident.status, Transition.RESOLVE)
    updated = incident.evolve(status=status, resolved_at=now, resolved_by=event.by)
    return Outcome(
        updated,
        (
            CancelTimers(incident.id, _ALL_TIMERS),
            Record(incident.id, now, "incident.resolved", actor=event.by, data=_note(event.note)),
        ),
    )


def _escalate(policy: Policy, incident: Incident, event: Escalate, now: datetime) -> Outcome:
    status = check_transition(incident.status, Transition.ESCALATE)
    if incident.ladder.exhausted:
        raise CannotEscalate("the ladder is exhausted: there is no rung left to escalate to")
    record = Record(incident.id, now, "incident.escalated", actor=event.by, data=_note(event.note))
    updated = incident.evolve(status=status)
    cancel = CancelTimers(incident.id, frozenset({TimerKind.LADDER, TimerKind.ACK_EXPIRY}))
    updated, fired = _climb(policy, updated, now, reason="escalated by hand")
    return Outcome(updated, (cancel, record, *fired))


def _timer(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    if event.kind is TimerKind.LADDER:
        stale = (
            incident.status is not IncidentStatus.TRIGGERED
            or incident.ladder.exhausted
            or event.step != incident.ladder.step
        )
        if stale:
            return Outcome(incident)
        updated, fired = _climb(policy, incident, now, reason="not acknowledged in time")
        return Outcome(updated, tuple(fired))
    if event.kind is TimerKind.ACK_WINDOW:
        if incident.status is not IncidentStatus.TRIGGERED:
            return Outcome(incident)
        window = policy.tiers[incident.tier].ack_within if incident.tier in policy.tiers else None
        data = {"tier": incident.tier, "ack_within": str(window) if window else None}
        return Outcome(incident, (Record(incident.id, now, "ack_window.breached", data=data),))
    # An acknowledgement went stale: the ladder starts again from its first rung.
    if incident.status is not IncidentStatus.ACKNOWLEDGED or event.step != incident.ack_step:
        return Outcome(incident)
    status = check_transition(incident.status, Transition.ACK_EXPIRED)
    position = replace(incident.ladder, rung=0, cycle=0, step=incident.ladder.step + 1)
    updated = incident.evolve(status=status, ladder=position)
    record = Record(
        incident.id, now, "ack.expired", data={"acknowledged_by": incident.acknowledged_by}
    )
    updated, fired = _fire(policy, updated, _ladder_of(policy, updated), now, reason="ack expired")
    return Outcome(updated, (record, *fired))


def _climb(
    policy: Policy, incident: Incident, now: datetime, *, reason: str
) -> tuple[Incident, list[Effect]]:
    """Move one step up the ladder: the next rung, a repeat, or `exhausted`."""
    ladder = _ladder_of(policy, incident)
    pos = incident.ladder
    if pos.rung + 1 < len(ladder.rungs):
        nxt = replace(pos, rung=pos.rung + 1, step=pos.step + 1)
    elif pos.cycle < ladder.repeat:
        nxt = replace(pos, rung=0, cycle=pos.cycle + 1, step=pos.step + 1)
    else:
        exhausted = replace(pos, exhausted=True, step=pos.step + 1)
        updated = incident.evolve(ladder=exhausted)
        effects: list[Effect] = [
            Record(
                incident.id,
                now,
                "ladder.exhausted",
                data={"ladder": pos.ladder, "targets": [str(t) for t in ladder.exhausted]},
            )
        ]
        effects += _notify(policy, updated, ladder.exhausted, now, reason="exhausted")
        return updated, effects
    return _fire(policy, incident.evolve(ladder=nxt), ladder, now, reason=reason)


def _fire(
    policy: Policy, incident: Incident, ladder: Ladder, now: datetime, *, reason: str
) -> tuple[Incident, list[Effect]]:
    """Notify the current rung and set the timer for the next one."""
    pos = incident.ladder
    rung = ladder.rungs[pos.rung]
    notes = _notify(policy, incident, rung.notify, now, reason=reason)
    # Nobody reachable on this rung: climb at once rather than wait on nobody.
    due = _after(policy, now, rung.escalate_after) if notes else now
    effects: list[Effect] = [
        Record(
            incident.id,
            now,
            "rung.fired",
            data={
                "ladder": pos.ladder,
                "rung": pos.rung + 1,
                "cycle": pos.cycle,
                "step": pos.step,
                "reason": reason,
                "targets": [str(t) for t in rung.notify],
                "recipients": sorted({n.person or n.channel for n in notes}),
                "next_at": due.isoformat(),
            },
        ),
        *notes,
        SetTimer(incident.id, TimerKind.LADDER, pos.step, due),
    ]
    return incident, effects


def _notify(
    policy: Policy,
    incident: Incident,
    targets: tuple[Target, ...],
    now: datetime,
    *,
    reason: str,
) -> list[Notify]:
    pos = incident.ladder
    subject = f"[{incident.tier}] {incident.title}"
    text = (
        f"{incident.title}\n"
        f"Incident {incident.id} ({incident.tier}, {incident.type}) is {incident.status.value}; "
        f"rung {pos.rung + 1} of ladder {pos.ladder} ({reason}).\n"
        f"Acknowledge: escalade incidents ack {incident.id}"
    )
    data = {"incident": incident.to_record(), "reason": reason}
    return [
        Notify(
            incident_id=incident.id,
            step=pos.step,
            channel=r.channel,
            person=r.person,
            target=r.target,
            reason=reason,
            subject=subject,
            text=text,
            data=data,
        )
        for r in resolve(policy, targets, incident.roles, now)
    ]


def _ladder_of(policy: Policy, incident: Incident) -> Ladder:
    """The incident's ladder; after a reload that removed it, its tier's current one."""
    ladder = policy.ladders.get(incident.ladder.ladder)
    if ladder is not None:
        return ladder
    tier = policy.tiers.get(incident.tier) or next(iter(policy.tiers.values()))
    return policy.ladders[tier.ladder]


def _after(policy: Policy, now: datetime, duration: Any) -> datetime:
    return add_duration(now, duration, policy.tz)


def _note(note: str | None, **data: Any) -> dict[str, Any]:
    return {**data, "note": note} if note else data
