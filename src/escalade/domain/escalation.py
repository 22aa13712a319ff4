"""The escalation core: (policy, incident, event, now) -> (incident, effects).

Pure: no clock, no storage, no network. The live engine and `escalade drill`
run exactly this code; only where `now` comes from differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from escalade.domain import command, communications, feedback, governance, postmortem
from escalade.domain.command import CommandEvent
from escalade.domain.communications import MessageEvent
from escalade.domain.effects import CancelTimers, Effect, Record, SetTimer, TimerKind
from escalade.domain.governance import Catalogue, GovernanceEvent
from escalade.domain.incidents import (
    Incident,
    IncidentStatus,
    LadderPosition,
    Transition,
    check_transition,
)
from escalade.domain.ladder import HOURS_BEGAN, TIMED_OUT, after, climb, fire, ladder_of, notify
from escalade.domain.policy import Policy
from escalade.domain.postmortem import ReviewEvent
from escalade.domain.recipients import fill_roles
from escalade.domain.rules import Route
from escalade.domain.signals import Signal
from escalade.domain.targets import Target, TargetKind


@dataclass(frozen=True, slots=True)
class SignalArrived:
    signal: Signal


@dataclass(frozen=True, slots=True)
class SignalsArrived:
    """Signals of one routing pass joining the same incident, in arrival order.

    One change to the incident and one `signal.attached` entry for them all,
    instead of one per signal: a burst of a thousand costs one of each.
    """

    signals: tuple[Signal, ...]


@dataclass(frozen=True, slots=True)
class TimerFired:
    kind: TimerKind
    step: int
    tag: str = ""


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


Event = (
    SignalArrived
    | SignalsArrived
    | TimerFired
    | Acknowledge
    | Resolve
    | Escalate
    | GovernanceEvent
    | CommandEvent
    | MessageEvent
    | ReviewEvent
)


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
_ALL_TIMERS = frozenset(TimerKind) - {TimerKind.OBLIGATION, TimerKind.ACTION}  # see _timer


def open_incident(
    policy: Policy,
    route: Route,
    signal: Signal,
    incident_id: str,
    now: datetime,
    catalogue: Catalogue | None = None,
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
        exercise=signal.exercise,
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
        SetTimer(incident_id, TimerKind.ACK_WINDOW, 1, after(policy, now, tier.ack_within))
    )
    if tier.update_every is not None:
        due = after(policy, now, tier.update_every)
        effects.append(SetTimer(incident_id, TimerKind.UPDATE, 1, due))
    effects += _quiet_timer(policy, incident, now)
    rule = next((r for r in policy.rules if r.id == route.rule_id), None)
    incident, clocks = governance.on_open(policy, catalogue or {}, incident, rule, signal, now)
    incident, fired = fire(policy, incident, policy.ladders[tier.ladder], now, reason="opened")
    return Outcome(incident, (*effects, *clocks, *fired, *_brief_roles(policy, incident, now)))


def _brief_roles(policy: Policy, incident: Incident, now: datetime) -> list[Effect]:
    """Tell each role holder of a new incident which role is theirs, with its instructions."""
    briefs: list[Effect] = []
    for role, person in incident.roles.items():
        spec = policy.roles.get(role)
        instructions = f". {spec.instructions}" if spec and spec.instructions else ""
        briefs += notify(
            policy,
            incident,
            (Target(TargetKind.PERSON, person),),
            now,
            reason=f"you are {role}{instructions}",
            tag=f"role:{role}:open",
            subject=f"[{incident.tier}] you are {role}: {incident.title}",
        )
    return briefs


def apply(
    policy: Policy,
    incident: Incident,
    event: Event,
    now: datetime,
    catalogue: Catalogue | None = None,
) -> Outcome:
    """The one entry point for everything that happens to an incident."""
    if isinstance(event, ReviewEvent):
        updated, effects = postmortem.apply_review(incident, event, now)
        return Outcome(updated, tuple(effects))
    if isinstance(event, MessageEvent):
        updated, effects = communications.apply_message(
            policy, catalogue or {}, incident, event, now
        )
        return Outcome(updated, tuple(effects))
    if isinstance(event, CommandEvent):
        updated, effects = command.apply_command(policy, incident, event, now)
        return Outcome(updated, tuple(effects))
    if isinstance(event, GovernanceEvent):
        updated, effects = governance.apply_event(policy, catalogue or {}, incident, event, now)
        return Outcome(updated, tuple(effects))
    if isinstance(event, SignalArrived):
        return _attach(policy, incident, (event.signal,), now)
    if isinstance(event, SignalsArrived):
        return _attach(policy, incident, event.signals, now)
    if isinstance(event, TimerFired):
        return _timer(policy, incident, event, now)
    if isinstance(event, Acknowledge):
        return _acknowledge(policy, incident, event, now)
    if isinstance(event, Resolve):
        return _resolve(policy, incident, event, now)
    return _escalate(policy, incident, event, now)


def _attach(
    policy: Policy, incident: Incident, arrived: Sequence[Signal], now: datetime
) -> Outcome:
    """Signals join an open incident: counted, recorded once, the quiet period restarted.

    The entry names the last signal (`signal_id`, `summary`, `value`); when
    several joined together it adds `count` and every id in arrival order.
    """
    if not arrived:
        return Outcome(incident)
    last = arrived[-1]
    updated = incident.evolve(signal_count=incident.signal_count + len(arrived), last_signal_at=now)
    data: dict[str, Any] = {"signal_id": last.id, "summary": last.summary, "value": last.value}
    if len(arrived) > 1:
        data["count"] = len(arrived)
        data["signal_ids"] = [s.id for s in arrived]
    record = Record(incident.id, now, "signal.attached", data=data)
    return Outcome(updated, (record, *_quiet_timer(policy, updated, now)))


def _quiet_timer(policy: Policy, incident: Incident, now: datetime) -> list[Effect]:
    """`grouping.resolve_after_quiet`: a timer per arrival (one for signals that
    join together), its step the signal count; only the latest counts."""
    quiet = policy.grouping.resolve_after_quiet
    if quiet is None:
        return []
    return [
        SetTimer(incident.id, TimerKind.QUIET, incident.signal_count, after(policy, now, quiet))
    ]


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
    ladder = ladder_of(policy, incident)
    if ladder.ack_expires is not None:
        due = after(policy, now, ladder.ack_expires)
        effects.append(SetTimer(incident.id, TimerKind.ACK_EXPIRY, ack_step, due))
    return Outcome(updated, tuple(effects))


def _resolve(policy: Policy, incident: Incident, event: Resolve, now: datetime) -> Outcome:
    if incident.status is IncidentStatus.RESOLVED:
        return Outcome(incident)
    status = check_transition(incident.status, Transition.RESOLVE)
    updated = incident.evolve(status=status, resolved_at=now, resolved_by=event.by)
    updated, review = postmortem.on_resolved(policy, updated, now)
    return Outcome(
        updated,
        (
            CancelTimers(incident.id, _ALL_TIMERS),
            Record(incident.id, now, "incident.resolved", actor=event.by, data=_note(event.note)),
            *review,
            *feedback.ask(policy, updated, now),
        ),
    )


def _escalate(policy: Policy, incident: Incident, event: Escalate, now: datetime) -> Outcome:
    status = check_transition(incident.status, Transition.ESCALATE)
    if incident.ladder.exhausted:
        raise CannotEscalate("the ladder is exhausted: there is no rung left to escalate to")
    record = Record(incident.id, now, "incident.escalated", actor=event.by, data=_note(event.note))
    updated = incident.evolve(status=status)
    cancel = CancelTimers(incident.id, frozenset({TimerKind.LADDER, TimerKind.ACK_EXPIRY}))
    updated, fired = climb(policy, updated, now, reason="escalated by hand")
    return Outcome(updated, (cancel, record, *fired))


def _timer(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    """A timer came due. Each kind checks it is still current; a stale one does nothing."""
    if event.kind is TimerKind.ACTION:  # follow-ups outlive the incident
        updated, effects = command.action_timer(policy, incident, event.step, event.tag, now)
        return Outcome(updated, tuple(effects))
    if event.kind is TimerKind.OBLIGATION:  # the law's clock runs on after resolution
        updated, effects = governance.obligation_timer(policy, incident, event.step, event.tag, now)
        return Outcome(updated, tuple(effects))
    handler = _TIMER_HANDLERS.get(event.kind)
    if handler is None or not incident.is_open:
        return Outcome(incident)
    return handler(policy, incident, event, now)


def _decision_due(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    updated, effects = governance.decision_timer(policy, incident, event.tag, now)
    return Outcome(updated, tuple(effects))


def _ladder_due(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    if not _on_step(incident, event):
        return Outcome(incident)
    updated, fired = climb(policy, incident, now, reason=TIMED_OUT)
    return Outcome(updated, tuple(fired))


def _hours_began(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    if not _on_step(incident, event):
        return Outcome(incident)
    updated, fired = fire(policy, incident, ladder_of(policy, incident), now, reason=HOURS_BEGAN)
    return Outcome(updated, tuple(fired))


def _on_step(incident: Incident, event: TimerFired) -> bool:
    return (
        incident.status is IncidentStatus.TRIGGERED
        and not incident.ladder.exhausted
        and event.step == incident.ladder.step
    )


def _ack_window(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    if incident.status is not IncidentStatus.TRIGGERED:
        return Outcome(incident)
    window = policy.tiers[incident.tier].ack_within if incident.tier in policy.tiers else None
    data = {"tier": incident.tier, "ack_within": str(window) if window else None}
    return Outcome(incident, (Record(incident.id, now, "ack_window.breached", data=data),))


def _ack_expired(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    """An acknowledgement went stale: the ladder starts again from its first rung."""
    if incident.status is not IncidentStatus.ACKNOWLEDGED or event.step != incident.ack_step:
        return Outcome(incident)
    status = check_transition(incident.status, Transition.ACK_EXPIRED)
    position = replace(incident.ladder, rung=0, cycle=0, step=incident.ladder.step + 1)
    updated = incident.evolve(status=status, ladder=position)
    record = Record(
        incident.id, now, "ack.expired", data={"acknowledged_by": incident.acknowledged_by}
    )
    updated, fired = fire(policy, updated, ladder_of(policy, updated), now, reason="ack expired")
    return Outcome(updated, (record, *fired))


def _update_due(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    """The tier's `update_every` came round: remind the incident lead, set the next one."""
    tier = policy.tiers.get(incident.tier)
    missed = command.missed_updates(incident, event.step)
    if tier is None or tier.update_every is None or missed == 0:
        return Outcome(incident)  # no cadence, or a status update came since this was set
    lead = incident.roles.get("incident_lead")
    targets = (
        (Target(TargetKind.PERSON, lead),) if lead else ladder_of(policy, incident).rungs[0].notify
    )
    if missed >= 2:  # the second missed update in a row goes over the lead's head
        targets = (*targets, *ladder_of(policy, incident).exhausted)
    reminders = notify(
        policy,
        incident,
        targets,
        now,
        reason="status update due",
        tag=f"update-{event.step}",
        subject=f"[{incident.tier}] status update due: {incident.title}",
    )
    record = Record(
        incident.id,
        now,
        "update.due",
        data={
            "every": str(tier.update_every),
            "missed": missed,
            "reminded": [str(t) for t in targets],
        },
    )
    nxt = SetTimer(
        incident.id, TimerKind.UPDATE, event.step + 1, after(policy, now, tier.update_every)
    )
    return Outcome(incident, (record, *reminders, nxt))


def _quiet(policy: Policy, incident: Incident, event: TimerFired, now: datetime) -> Outcome:
    quiet = policy.grouping.resolve_after_quiet
    if quiet is None or event.step != incident.signal_count:
        return Outcome(incident)  # a later signal restarted the quiet period
    return _resolve(policy, incident, Resolve(by="escalade", note=f"no signal for {quiet}"), now)


_Handler = Callable[[Policy, Incident, TimerFired, datetime], Outcome]
_TIMER_HANDLERS: dict[TimerKind, _Handler] = {
    TimerKind.LADDER: _ladder_due,
    TimerKind.HOURS: _hours_began,
    TimerKind.ACK_WINDOW: _ack_window,
    TimerKind.ACK_EXPIRY: _ack_expired,
    TimerKind.UPDATE: _update_due,
    TimerKind.QUIET: _quiet,
    TimerKind.DECISION: _decision_due,
}


def _note(note: str | None, **data: Any) -> dict[str, Any]:
    return {**data, "note": note} if note else data
