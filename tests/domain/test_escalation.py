from datetime import UTC, datetime, timedelta

import pytest

from escalade.domain.effects import CancelTimers, Notify, Record, SetTimer, TimerKind
from escalade.domain.escalation import (
    Acknowledge,
    CannotEscalate,
    Escalate,
    Outcome,
    Resolve,
    SignalArrived,
    SignalsArrived,
    TimerFired,
    apply,
    open_incident,
)
from escalade.domain.incidents import IllegalTransition, IncidentStatus
from escalade.domain.rules import RuleBook
from escalade.domain.signals import Signal
from support.policies import policy

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday; alice holds `primary`
POLICY = policy()
RULES = RuleBook(POLICY)


def leak(at: datetime = T0, sid: str = "s1") -> Signal:
    return Signal(
        id=sid,
        kind="privacy_leak",
        received_at=at,
        summary="PII in output",
        subject={"model": "chat-v2"},
    )


def opened() -> Outcome:
    s = leak()
    return open_incident(POLICY, RULES.route(s, T0), s, "inc1", T0)


def notified(outcome: Outcome) -> list[str]:
    """Who was paged (role briefs at opening are counted apart)."""
    return [
        e.person or e.channel
        for e in outcome.effects
        if isinstance(e, Notify) and not e.tag.startswith("role:")
    ]


def timers(outcome: Outcome) -> list[SetTimer]:
    return [e for e in outcome.effects if isinstance(e, SetTimer)]


def kinds(outcome: Outcome) -> list[str]:
    return [e.kind for e in outcome.effects if isinstance(e, Record)]


def test_opening_notifies_rung_one_and_sets_its_timer() -> None:
    out = opened()
    assert out.incident.status is IncidentStatus.TRIGGERED
    assert out.incident.tier == "sev1"
    assert notified(out) == ["alice"]
    ladder = [t for t in timers(out) if t.kind is TimerKind.LADDER]
    assert [(t.step, t.due_at) for t in ladder] == [(1, T0 + timedelta(minutes=5))]
    window = [t for t in timers(out) if t.kind is TimerKind.ACK_WINDOW]
    assert window[0].due_at == T0 + timedelta(minutes=5)
    assert kinds(out) == ["incident.opened", "rung.fired"]


def test_roles_are_filled_by_the_first_reachable_person() -> None:
    # legal_liaison: team:nobody has only a person without contacts, so carol.
    assert opened().incident.roles == {"incident_lead": "alice", "legal_liaison": "carol"}


def test_unacknowledged_incident_climbs_rung_by_rung_then_repeats_then_exhausts() -> None:
    inc = opened().incident
    at = T0
    seen: list[tuple[int, int, list[str]]] = []
    for _ in range(4):
        at += timedelta(minutes=30)
        out = apply(POLICY, inc, TimerFired(TimerKind.LADDER, inc.ladder.step), at)
        inc = out.incident
        seen.append((inc.ladder.rung + 1, inc.ladder.cycle, sorted(notified(out))))
    assert seen == [
        (2, 0, ["alice", "bob", "carol"]),
        (1, 1, ["alice"]),
        (2, 1, ["alice", "bob", "carol"]),
        (2, 1, ["erin", "room"]),  # exhausted: exec team and the room
    ]
    assert inc.ladder.exhausted
    assert timers(out) == []
    after = apply(POLICY, inc, TimerFired(TimerKind.LADDER, inc.ladder.step), at)
    assert not after.changed


def test_acknowledge_stops_the_ladder_and_a_late_timer_does_nothing() -> None:
    inc = opened().incident
    ack = apply(POLICY, inc, Acknowledge(by="alice"), T0 + timedelta(minutes=2))
    assert ack.incident.status is IncidentStatus.ACKNOWLEDGED
    assert any(isinstance(e, CancelTimers) and TimerKind.LADDER in e.kinds for e in ack.effects)
    late = apply(POLICY, ack.incident, TimerFired(TimerKind.LADDER, 1), T0 + timedelta(minutes=5))
    assert not late.changed
    assert notified(late) == []


def test_acknowledge_and_resolve_are_idempotent() -> None:
    inc = opened().incident
    once = apply(POLICY, inc, Acknowledge(by="alice"), T0)
    twice = apply(POLICY, once.incident, Acknowledge(by="bob"), T0)
    assert not twice.changed and twice.incident.acknowledged_by == "alice"
    done = apply(POLICY, once.incident, Resolve(by="alice"), T0)
    again = apply(POLICY, done.incident, Resolve(by="bob"), T0)
    assert not again.changed and again.incident.resolved_by == "alice"


def test_a_resolved_incident_cannot_be_acknowledged_or_escalated() -> None:
    done = apply(POLICY, opened().incident, Resolve(by="alice"), T0).incident
    with pytest.raises(IllegalTransition):
        apply(POLICY, done, Acknowledge(by="bob"), T0)
    with pytest.raises(IllegalTransition):
        apply(POLICY, done, Escalate(by="bob"), T0)


def test_stale_timer_from_an_earlier_step_is_ignored() -> None:
    inc = opened().incident
    climbed = apply(POLICY, inc, TimerFired(TimerKind.LADDER, 1), T0 + timedelta(minutes=5))
    replay = apply(POLICY, climbed.incident, TimerFired(TimerKind.LADDER, 1), T0)
    assert not replay.changed


def test_manual_escalation_fires_the_next_rung_now() -> None:
    out = apply(POLICY, opened().incident, Escalate(by="alice"), T0 + timedelta(minutes=1))
    assert out.incident.ladder.rung == 1
    assert sorted(notified(out)) == ["alice", "bob", "carol"]
    assert "incident.escalated" in kinds(out)


def test_escalating_an_exhausted_ladder_is_refused() -> None:
    inc = opened().incident
    for _ in range(4):
        inc = apply(POLICY, inc, TimerFired(TimerKind.LADDER, inc.ladder.step), T0).incident
    with pytest.raises(CannotEscalate):
        apply(POLICY, inc, Escalate(by="alice"), T0)


def test_stale_acknowledgement_restarts_the_ladder() -> None:
    ack = apply(POLICY, opened().incident, Acknowledge(by="alice"), T0)
    expiry = [t for t in timers(ack) if t.kind is TimerKind.ACK_EXPIRY]
    assert expiry[0].due_at == T0 + timedelta(hours=2)
    out = apply(
        POLICY, ack.incident, TimerFired(TimerKind.ACK_EXPIRY, expiry[0].step), expiry[0].due_at
    )
    assert out.incident.status is IncidentStatus.TRIGGERED
    assert out.incident.ladder.rung == 0
    assert notified(out) == ["alice"]
    assert kinds(out)[0] == "ack.expired"


def test_ack_window_breach_is_recorded_only_while_unacknowledged() -> None:
    inc = opened().incident
    out = apply(POLICY, inc, TimerFired(TimerKind.ACK_WINDOW, 1), T0 + timedelta(minutes=5))
    assert kinds(out) == ["ack_window.breached"]
    acked = apply(POLICY, inc, Acknowledge(by="alice"), T0).incident
    assert not apply(POLICY, acked, TimerFired(TimerKind.ACK_WINDOW, 1), T0).changed


def test_a_new_signal_joins_without_paging_again() -> None:
    inc = opened().incident
    out = apply(POLICY, inc, SignalArrived(leak(sid="s2")), T0 + timedelta(minutes=1))
    assert out.incident.signal_count == 2
    assert notified(out) == []
    assert kinds(out) == ["signal.attached"]
    [record] = [e for e in out.effects if isinstance(e, Record)]
    assert record.data == {"signal_id": "s2", "summary": "PII in output", "value": None}


def test_signals_joining_together_change_the_incident_once_and_share_one_entry() -> None:
    inc = opened().incident
    later = T0 + timedelta(minutes=1)
    arrived = tuple(leak(sid=f"s{i}") for i in range(2, 7))
    out = apply(POLICY, inc, SignalsArrived(arrived), later)
    assert out.incident.signal_count == 6
    assert out.incident.last_signal_at == later
    assert out.incident.version == inc.version + 1
    assert notified(out) == [] and timers(out) == []  # no quiet period in this policy
    [record] = [e for e in out.effects if isinstance(e, Record)]
    assert record.kind == "signal.attached" and record.at == later
    assert record.data == {
        "signal_id": "s6",  # the last one, as a single signal's entry names it
        "summary": "PII in output",
        "value": None,
        "count": 5,
        "signal_ids": ["s2", "s3", "s4", "s5", "s6"],
    }


def test_one_signal_arriving_alone_or_in_a_group_of_one_is_the_same() -> None:
    inc = opened().incident
    later = T0 + timedelta(minutes=1)
    alone = apply(POLICY, inc, SignalArrived(leak(sid="s2")), later)
    assert apply(POLICY, inc, SignalsArrived((leak(sid="s2"),)), later) == alone
    assert apply(POLICY, inc, SignalsArrived(()), later) == Outcome(inc)


def test_signals_joining_together_restart_the_quiet_period_once() -> None:
    quiet = policy(
        POLICY_TEXT_NOBODY.replace(
            "default:", "grouping: {window: 30m, resolve_after_quiet: 1h}\ndefault:"
        )
    )
    s = leak()
    inc = open_incident(quiet, RuleBook(quiet).route(s, T0), s, "inc1", T0).incident
    later = T0 + timedelta(minutes=10)
    out = apply(quiet, inc, SignalsArrived((leak(sid="s2"), leak(sid="s3"))), later)
    [timer] = timers(out)
    assert timer.kind is TimerKind.QUIET
    assert timer.step == out.incident.signal_count == 3  # the step a later fire checks
    assert timer.due_at == later + timedelta(hours=1)
    resolved = apply(quiet, out.incident, TimerFired(TimerKind.QUIET, 3), timer.due_at)
    assert resolved.incident.status is IncidentStatus.RESOLVED


def test_rung_with_nobody_reachable_climbs_at_once() -> None:
    text = POLICY_TEXT_NOBODY
    p = policy(text)
    s = leak()
    out = open_incident(p, RuleBook(p).route(s, T0), s, "inc1", T0)
    ladder = [t for t in timers(out) if t.kind is TimerKind.LADDER]
    assert ladder[0].due_at == T0  # no one to wait for


POLICY_TEXT_NOBODY = """
version: 1
people:
  ghost: {name: Ghost, contacts: []}
  erin: {name: Erin, contacts: [hook]}
teams: {nobody: {members: [ghost]}, exec: {members: [erin]}}
channels: {hook: {type: webhook, url: "http://127.0.0.1:9"}}
tiers: {sev1: {name: C, ack_within: 5m, ladder: l}}
ladders:
  l:
    rungs:
      - {notify: [team:nobody], escalate_after: 5m}
      - {notify: [team:exec], escalate_after: 5m}
default: {tier: sev1}
"""


def test_business_day_rungs_skip_weekends_and_the_policy_holidays() -> None:
    text = POLICY_TEXT_NOBODY.replace(
        "version: 1\n", "version: 1\ntimezone: Europe/Berlin\nholidays: DE\n"
    )
    text = text.replace(
        "{notify: [team:nobody], escalate_after: 5m}", "{notify: [team:exec], escalate_after: 1bd}"
    )
    p = policy(text)
    s = leak()
    thursday = datetime(2026, 12, 24, 10, 0, tzinfo=UTC)  # Christmas Eve; 25th, 26th are holidays
    out = open_incident(p, RuleBook(p).route(s, thursday), s, "inc1", thursday)
    [ladder] = [t for t in timers(out) if t.kind is TimerKind.LADDER]
    assert ladder.due_at == datetime(2026, 12, 28, 10, 0, tzinfo=UTC)  # the next Monday


def test_role_holders_are_told_their_role_when_the_incident_opens() -> None:
    briefs = [e for e in opened().effects if isinstance(e, Notify) and e.tag.startswith("role:")]
    assert sorted((e.person, e.tag) for e in briefs) == [
        ("alice", "role:incident_lead:open"),
        ("carol", "role:legal_liaison:open"),
    ]
    assert all(e.idempotency_key.endswith(e.tag) for e in briefs)
