"""Facts, regulatory clocks and decision rights on an incident.

Part of the pure core: `escalation.apply` hands these events here. Facts are
what responders (or a rule's `facts`) establish: `aware_at` and `declared` when
the incident opens, `death`, `materiality_determined`, `law_enforcement_delay`...
Every change of facts or submissions recomputes the incident's deadlines from
the regime catalogue; a new set of deadlines bumps `clock_version`, and timers
of an older version are stale and do nothing.

- Reminders at the binding's `remind_at` fractions notify the owner role, and
  climb: reminder n also pages rung n-1 of the incident's ladder. A deadline
  that passes unmet pages the owner and the ladder's `exhausted` targets.
- A decision request notifies the approver roles; a vote is checked against the
  incident's role holders; a stalled decision wakes its fallback role.
- An incident under evidence hold refuses (records as blocked) every action
  whose right says `blocked_by_evidence_hold`, until a `notify_regulator`
  decision is approved or a submission under a built-in regulatory regime is
  recorded (AI Act Art. 73(6)); custom clocks do not count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalade.domain import decisions as rights
from escalade.domain.decisions import Decision, DecisionRefused, DecisionStatus
from escalade.domain.effects import Effect, Record, SetTimer, TimerKind
from escalade.domain.expressions import ExpressionError
from escalade.domain.incidents import Incident
from escalade.domain.ladder import ladder_of, notify
from escalade.domain.obligations import Fact, deadlines, reminder_times
from escalade.domain.policy import BUILTIN_REGIMES, Obligation, Policy, Rule
from escalade.domain.regimes import Regime
from escalade.domain.signals import Signal
from escalade.domain.targets import Target, TargetKind

Catalogue = Mapping[str, Regime]
REGULATOR_ACTION = "notify_regulator"


@dataclass(frozen=True, slots=True)
class RecordFact:
    name: str
    by: str
    value: Any = True
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class RequestDecision:
    action: str
    by: str
    decision_id: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CastVote:
    by: str
    approve: bool
    decision_id: str | None = None  # or the latest pending decision on `action`
    action: str | None = None
    new_decision_id: str | None = None  # opens one when nothing is pending on `action`
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class RecordSubmission:
    obligation: str
    by: str
    stage: str | None = None  # default: the earliest open stage


GovernanceEvent = RecordFact | RequestDecision | CastVote | RecordSubmission
Result = tuple[Incident, list[Effect]]


# --- opening ---------------------------------------------------------------------------
def on_open(
    policy: Policy,
    catalogue: Catalogue,
    incident: Incident,
    rule: Rule | None,
    signal: Signal,
    now: datetime,
) -> Result:
    """Facts at opening, the obligations that apply, and their first deadlines."""
    facts = {name: _fact(now, True, "escalade") for name in ("aware_at", "declared")}
    effects: list[Effect] = []
    if rule is not None:
        variables = {"signal": signal.as_expression_input()}
        for name, expression in rule.facts.items():
            try:
                if expression.evaluate_bool(variables):
                    facts[name] = _fact(now, True, f"rule:{rule.id}")
            except ExpressionError as exc:
                effects.append(
                    Record(incident.id, now, "rule.note", data={"note": f"fact {name}: {exc}"})
                )
    named_by_rules = {o for r in policy.rules for o in r.obligations}
    applying = [
        *(rule.obligations if rule else ()),
        *(o for o in policy.obligations if o not in named_by_rules),
    ]
    if incident.exercise:
        # A live drill starts no regulatory clock: nothing is owed to anyone.
        effects.append(
            Record(incident.id, now, "exercise.clocks_skipped", data={"obligations": applying})
        )
        applying = []
    updated = incident.evolve(
        facts=facts,
        obligations=tuple(dict.fromkeys(applying)),
        evidence_hold=bool(rule and rule.evidence_hold),
    )
    updated, clocks = recompute(policy, catalogue, updated, now)
    return updated, effects + clocks


# --- events ----------------------------------------------------------------------------
def apply_event(
    policy: Policy, catalogue: Catalogue, incident: Incident, event: GovernanceEvent, now: datetime
) -> Result:
    if isinstance(event, RecordFact):
        facts = {**incident.facts, event.name: _fact(now, event.value, event.by, event.until)}
        record = Record(
            incident.id,
            now,
            "fact.recorded",
            actor=event.by,
            data={
                "name": event.name,
                "value": event.value,
                "until": event.until.isoformat() if event.until else None,
            },
        )
        updated, clocks = recompute(policy, catalogue, incident.evolve(facts=facts), now)
        return updated, [record, *clocks]
    if isinstance(event, RecordSubmission):
        return _submit(policy, catalogue, incident, event, now)
    if isinstance(event, RequestDecision):
        return _request(policy, incident, event, now)
    return _vote(policy, incident, event, now)


def _submit(
    policy: Policy,
    catalogue: Catalogue,
    incident: Incident,
    event: RecordSubmission,
    now: datetime,
) -> Result:
    if event.obligation not in incident.obligations:
        raise LookupError(f"obligation {event.obligation!r} does not apply to this incident")
    done = incident.submitted.get(event.obligation, {})
    open_stages = [
        d["stage"]
        for d in incident.deadlines
        if d["obligation"] == event.obligation and d["stage"] not in done
    ]
    stage = event.stage or (open_stages[0] if open_stages else None)
    if stage is None:
        raise LookupError(f"obligation {event.obligation!r} has no open stage to submit")
    submitted = {**incident.submitted, event.obligation: {**done, stage: now.isoformat()}}
    record = Record(
        incident.id,
        now,
        "obligation.submitted",
        actor=event.by,
        data={"obligation": event.obligation, "stage": stage},
    )
    effects: list[Effect] = [record]
    updated = incident.evolve(submitted=submitted)
    effects += _hold_lifted(incident, updated, now, by=f"submission of {event.obligation}")
    updated, clocks = recompute(policy, catalogue, updated, now)
    return updated, effects + clocks


def _request(policy: Policy, incident: Incident, event: RequestDecision, now: datetime) -> Result:
    right = policy.decisions.get(event.action)
    decision = rights.request(
        event.action,
        right,
        decision_id=event.decision_id,
        args=event.args,
        by=event.by,
        evidence_hold_active=_hold_active(incident),
        now=now,
    )
    updated = incident.evolve(decisions=(*incident.decisions, decision.to_record()))
    data = {
        "decision_id": decision.id,
        "action": decision.action,
        "args": dict(decision.args),
        "status": decision.status.value,
        "reason": decision.reason,
    }
    effects: list[Effect] = [
        Record(incident.id, now, "decision.requested", actor=event.by, data=data)
    ]
    if decision.status is DecisionStatus.PENDING and right is not None:
        approvers = tuple(Target(TargetKind.ROLE, r) for r in right.approvers.roles)
        effects += notify(
            policy,
            updated,
            approvers,
            now,
            reason=f"decision needed: {event.action}",
            tag=f"decision:{decision.id}",
            subject=f"[{incident.tier}] decide: {event.action} ({incident.title})",
        )
        effects.append(
            SetTimer(incident.id, TimerKind.DECISION, 0, decision.due_at, tag=decision.id)
        )
    return updated, effects


def _vote(policy: Policy, incident: Incident, event: CastVote, now: datetime) -> Result:
    effects: list[Effect] = []
    found = _find(incident, event)
    if found is None:
        if event.action is None or event.new_decision_id is None:
            raise LookupError(f"no decision {event.decision_id!r} on this incident")
        incident, effects = _request(
            policy, incident, RequestDecision(event.action, event.by, event.new_decision_id), now
        )
        found = _find(incident, event)
        assert found is not None
    decision = found
    right = policy.decisions.get(decision.action)
    if right is None:
        raise DecisionRefused("no_such_right", action=decision.action)
    decided = rights.vote(
        decision,
        right,
        by=event.by,
        approve=event.approve,
        roles=incident.roles,
        now=now,
        comment=event.comment,
    )
    updated = _replace_decision(incident, decided)
    effects.append(
        Record(
            incident.id,
            now,
            "decision.voted",
            actor=event.by,
            data={
                "decision_id": decided.id,
                "action": decided.action,
                "approve": event.approve,
                "roles": list(decided.votes[-1].roles),
                "comment": event.comment,
                "quorum": rights.quorum_state(decided, right, incident.roles),
            },
        )
    )
    if decided.status is not DecisionStatus.PENDING:
        effects.append(
            Record(
                incident.id,
                now,
                f"decision.{decided.status.value}",
                data={
                    "decision_id": decided.id,
                    "action": decided.action,
                    "args": dict(decided.args),
                    "args_hash": decided.args_hash,
                    "reason": decided.reason,
                    "valid_until": decided.valid_until.isoformat() if decided.valid_until else None,
                },
            )
        )
    effects += _hold_lifted(incident, updated, now, by=f"decision {decided.id}")
    return updated, effects


# --- timers ----------------------------------------------------------------------------
def obligation_timer(
    policy: Policy, incident: Incident, step: int, tag: str, now: datetime
) -> Result:
    if step != incident.clock_version:
        return incident, []
    obligation, stage, which = tag.split("|")
    if stage in incident.submitted.get(obligation, {}):
        return incident, []
    binding = _binding(policy, obligation)
    owner = (Target(TargetKind.ROLE, binding.owner),)
    ladder = ladder_of(policy, incident)
    if which == "due":
        targets = owner + ladder.exhausted
        kind, reason = "obligation.overdue", f"{obligation} {stage} is overdue"
    else:
        n = int(which.removeprefix("r"))
        climb = ladder.rungs[min(n, len(ladder.rungs)) - 1].notify if n else ()
        targets = owner + climb
        kind, reason = "obligation.reminder", f"{obligation} {stage} due soon"
    deadline = next(
        (d for d in incident.deadlines if d["obligation"] == obligation and d["stage"] == stage), {}
    )
    record = Record(
        incident.id,
        now,
        kind,
        data={
            "obligation": obligation,
            "stage": stage,
            "due_at": deadline.get("due_at"),
            "notified": [str(t) for t in targets],
        },
    )
    notes = notify(
        policy,
        incident,
        targets,
        now,
        reason=reason,
        tag=f"obligation:{obligation}:{stage}:{which}:v{step}",
        subject=f"[{incident.tier}] {reason}: {incident.title}",
    )
    if which == "due":
        marked = ({**d, "status": "overdue"} if d is deadline else d for d in incident.deadlines)
        incident = incident.evolve(deadlines=tuple(marked))
    return incident, [record, *notes]


def decision_timer(policy: Policy, incident: Incident, tag: str, now: datetime) -> Result:
    decision = next((Decision.from_record(d) for d in incident.decisions if d["id"] == tag), None)
    right = policy.decisions.get(decision.action) if decision else None
    if decision is None or right is None:
        return incident, []
    stalled = rights.stall(decision, right, now=now)
    if stalled == decision:
        return incident, []
    updated = _replace_decision(incident, stalled)
    effects: list[Effect] = [
        Record(
            incident.id,
            now,
            "decision.stalled",
            data={
                "decision_id": decision.id,
                "action": decision.action,
                "fallback": right.fallback,
            },
        )
    ]
    if right.fallback:
        effects += notify(
            policy,
            updated,
            (Target(TargetKind.ROLE, right.fallback),),
            now,
            reason=f"decision stalled: {decision.action}",
            tag=f"decision:{decision.id}:fallback",
            subject=f"[{incident.tier}] decide now: {decision.action}",
        )
    return updated, effects


# --- clocks ----------------------------------------------------------------------------
def recompute(policy: Policy, catalogue: Catalogue, incident: Incident, now: datetime) -> Result:
    """The incident's deadlines from its facts; new timers when they changed."""
    facts = {name: _as_fact(name, f) for name, f in incident.facts.items()}
    found = []
    for obligation in incident.obligations:
        done = {
            stage: datetime.fromisoformat(at)
            for stage, at in incident.submitted.get(obligation, {}).items()
        }
        binding = _binding(policy, obligation)
        for d in deadlines(
            obligation, binding, catalogue.get(obligation), facts, done, policy.tz, policy.holidays
        ):
            found.append((d, binding, d.stage in done))
    snapshot = tuple(
        {
            "obligation": d.obligation,
            "regime": d.obligation,
            "stage": d.stage,
            "citation": d.citation,
            "started_at": d.started_at.isoformat(),
            "due_at": d.due_at.isoformat(),
            "limb": d.limb,
            "recipient": d.recipient,
            "indicative": d.indicative,
            "status": "submitted" if submitted else ("overdue" if d.due_at <= now else "open"),
        }
        for d, _, submitted in found
    )
    if [_key(s) for s in snapshot] == [_key(s) for s in incident.deadlines]:
        return incident.evolve(deadlines=snapshot), []
    version = incident.clock_version + 1
    updated = incident.evolve(deadlines=snapshot, clock_version=version)
    effects: list[Effect] = [
        Record(incident.id, now, "obligation.clock", data={"deadlines": list(snapshot)})
    ]
    before = {_key(d) for d in incident.deadlines}
    for (d, binding, submitted), shown in zip(found, snapshot, strict=True):
        if submitted or (_key(shown) in before and d.due_at <= now):
            continue  # done, or already overdue and escalated: nothing to re-arm
        base = f"{d.obligation}|{d.stage}"
        for n, at in enumerate(reminder_times(d, [float(f) for f in binding.remind_at])):
            if at > now:
                effects.append(
                    SetTimer(incident.id, TimerKind.OBLIGATION, version, at, tag=f"{base}|r{n}")
                )
        effects.append(
            SetTimer(
                incident.id, TimerKind.OBLIGATION, version, max(d.due_at, now), tag=f"{base}|due"
            )
        )
    return updated, effects


def _key(deadline: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        deadline["obligation"],
        deadline["stage"],
        deadline["due_at"],
        deadline["status"] == "submitted",
    )


def _binding(policy: Policy, obligation: str) -> Obligation:
    # A built-in regime a rule names without binding it: the incident lead owns it.
    return policy.obligations.get(obligation) or Obligation.model_validate(
        {"owner": "incident_lead"}
    )


def _hold_active(incident: Incident) -> bool:
    """Art. 73(6): the hold lasts until the authorities are informed, which is a
    submission under a regulatory regime or an approved `notify_regulator`;
    an internal clock (an exec briefing) does not count."""
    if not incident.evidence_hold:
        return False
    informed = any(
        stages and obligation in BUILTIN_REGIMES
        for obligation, stages in incident.submitted.items()
    )
    approved = any(
        d["action"] == REGULATOR_ACTION and d["status"] == DecisionStatus.APPROVED.value
        for d in incident.decisions
    )
    return not (informed or approved)


def _hold_lifted(before: Incident, after: Incident, now: datetime, *, by: str) -> list[Effect]:
    if _hold_active(before) and not _hold_active(after):
        return [Record(after.id, now, "evidence_hold.lifted", data={"by": by})]
    return []


def _find(incident: Incident, event: CastVote) -> Decision | None:
    for record in reversed(incident.decisions):
        if event.decision_id is not None:
            if record["id"] == event.decision_id:
                return Decision.from_record(record)
        elif record["action"] == event.action and record["status"] == "pending":
            return Decision.from_record(record)
    return None


def _replace_decision(incident: Incident, decision: Decision) -> Incident:
    records = tuple(
        decision.to_record() if d["id"] == decision.id else d for d in incident.decisions
    )
    return incident.evolve(decisions=records)


def _fact(at: datetime, value: Any, by: str, until: datetime | None = None) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "value": value,
        "by": by,
        "until": until.isoformat() if until else None,
    }


def _as_fact(name: str, record: Mapping[str, Any]) -> Fact:
    until = record.get("until")
    return Fact(
        name,
        datetime.fromisoformat(record["at"]),
        record.get("value", True),
        datetime.fromisoformat(until) if until else None,
    )
