"""Climbing a ladder: firing rungs, repeats, `exhausted`, and business hours.

Part of the pure core; `escalation.apply` calls in here whenever a rung is due.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from escalade.domain.calendar import add_duration
from escalade.domain.durations import Duration
from escalade.domain.effects import Effect, Notify, Record, SetTimer, TimerKind
from escalade.domain.hours import is_open, next_opening
from escalade.domain.incidents import Incident
from escalade.domain.obligations import holiday_dates
from escalade.domain.policy import Ladder, Policy
from escalade.domain.recipients import resolve
from escalade.domain.targets import Target

# The reasons of rungs their timers fire (a `rung.fired` entry's `data.reason`):
# the ladder's `escalate_after` ran out, or the business hours a deferred rung
# waited for began. `domain/metrics.py` measures their lateness by these.
TIMED_OUT = "not acknowledged in time"
HOURS_BEGAN = "business hours began"


def climb(
    policy: Policy, incident: Incident, now: datetime, *, reason: str
) -> tuple[Incident, list[Effect]]:
    """Move one step up the ladder: the next rung, a repeat, or `exhausted`."""
    ladder = ladder_of(policy, incident)
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
        effects += notify(policy, updated, ladder.exhausted, now, reason="exhausted")
        return updated, effects
    return fire(policy, incident.evolve(ladder=nxt), ladder, now, reason=reason)


def fire(
    policy: Policy, incident: Incident, ladder: Ladder, now: datetime, *, reason: str
) -> tuple[Incident, list[Effect]]:
    """Notify the current rung and set the timer for the next one.

    Outside the ladder's business hours nobody is paged: the rung waits for the
    next opening (an `hours` timer), then fires.
    """
    pos = incident.ladder
    closed = policy_holidays(policy, now)
    if ladder.hours is not None and not is_open(ladder.hours, policy.tz, now, closed):
        opening = next_opening(ladder.hours, policy.tz, now, closed)
        return incident, [
            Record(
                incident.id,
                now,
                "rung.deferred",
                data={"rung": pos.rung + 1, "until": opening.isoformat(), "reason": reason},
            ),
            SetTimer(incident.id, TimerKind.HOURS, pos.step, opening),
        ]
    rung = ladder.rungs[pos.rung]
    notes = notify(policy, incident, rung.notify, now, reason=reason)
    # Nobody reachable on this rung: climb at once rather than wait on nobody.
    due = after(policy, now, rung.escalate_after) if notes else now
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


def notify(
    policy: Policy,
    incident: Incident,
    targets: tuple[Target, ...],
    now: datetime,
    *,
    reason: str,
    tag: str = "",
    subject: str | None = None,
) -> list[Notify]:
    """One Notify per (person, channel) the targets reach now."""
    pos = incident.ladder
    subject = subject or f"[{incident.tier}] {incident.title}"
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
            tag=tag,
        )
        for r in resolve(policy, targets, incident.roles, now)
    ]


def ladder_of(policy: Policy, incident: Incident) -> Ladder:
    """The incident's ladder; after a reload that removed it, its tier's current one."""
    ladder = policy.ladders.get(incident.ladder.ladder)
    if ladder is not None:
        return ladder
    tier = policy.tiers.get(incident.tier) or next(iter(policy.tiers.values()))
    return policy.ladders[tier.ladder]


def after(policy: Policy, now: datetime, duration: Duration) -> datetime:
    """`now` plus a policy duration; business days skip the policy's `holidays`."""
    return add_duration(now, duration, policy.tz, policy_holidays(policy, now))


def policy_holidays(policy: Policy, now: datetime) -> frozenset[date]:
    """The policy calendar's holidays this year and next (what any window can reach)."""
    return holiday_dates(policy.holidays, (now.year, now.year + 1))
