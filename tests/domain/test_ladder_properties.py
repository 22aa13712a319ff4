"""Properties of any ladder, for any timing of timers and acknowledgements."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from escalade.domain.effects import Notify, Record, SetTimer, TimerKind
from escalade.domain.escalation import Acknowledge, TimerFired, apply, open_incident
from escalade.domain.incidents import Incident
from escalade.domain.rules import RuleBook
from escalade.domain.signals import Signal
from support.policies import policy

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def ladder_policy(rungs: int, repeat: int):  # type: ignore[no-untyped-def]
    steps = "\n".join(
        f"      - {{notify: [person:p{i}], escalate_after: {i + 1}m}}" for i in range(rungs)
    )
    people = "\n".join(f"  p{i}: {{name: P{i}, contacts: [c]}}" for i in range(rungs))
    return policy(
        f"""
version: 1
people:
{people}
  boss: {{name: Boss, contacts: [c]}}
channels: {{c: {{type: console}}}}
tiers: {{sev1: {{name: C, ack_within: 5m, ladder: l}}}}
ladders:
  l:
    rungs:
{steps}
    repeat: {repeat}
    exhausted: [person:boss]
default: {{tier: sev1}}
""",
        {},
    )


def start(p) -> tuple[Incident, list]:  # type: ignore[no-untyped-def]
    s = Signal(id="s", kind="k", received_at=T0)
    out = open_incident(p, RuleBook(p).route(s, T0), s, "i", T0)
    return out.incident, list(out.effects)


def ladder_timer(effects: list) -> SetTimer | None:  # type: ignore[type-arg]
    timers = [e for e in effects if isinstance(e, SetTimer) and e.kind is TimerKind.LADDER]
    return timers[-1] if timers else None


@settings(max_examples=60, deadline=None)
@given(rungs=st.integers(1, 4), repeat=st.integers(0, 2))
def test_unanswered_ladder_fires_every_rung_in_order_then_exhausts(rungs: int, repeat: int) -> None:
    p = ladder_policy(rungs, repeat)
    incident, effects = start(p)
    fired = [e.data["rung"] for e in effects if isinstance(e, Record) and e.kind == "rung.fired"]
    for _ in range(rungs * (repeat + 1) + 3):
        timer = ladder_timer(effects)
        if timer is None:
            break
        out = apply(p, incident, TimerFired(TimerKind.LADDER, timer.step), timer.due_at)
        incident, effects = out.incident, list(out.effects)
        fired += [
            e.data["rung"] for e in effects if isinstance(e, Record) and e.kind == "rung.fired"
        ]
    assert fired == list(range(1, rungs + 1)) * (repeat + 1)  # no rung skipped, none twice
    assert incident.ladder.exhausted
    assert [e.person for e in effects if isinstance(e, Notify)] == ["boss"]


@settings(max_examples=80, deadline=None)
@given(
    rungs=st.integers(1, 4),
    repeat=st.integers(0, 2),
    ack_after=st.integers(0, 12),
    stray=st.lists(st.integers(1, 15), max_size=6),
)
def test_nothing_is_sent_after_an_acknowledgement(
    rungs: int, repeat: int, ack_after: int, stray: list[int]
) -> None:
    p = ladder_policy(rungs, repeat)
    incident, effects = start(p)
    now = T0
    for _ in range(ack_after):
        timer = ladder_timer(effects)
        if timer is None:
            break
        now = timer.due_at
        out = apply(p, incident, TimerFired(TimerKind.LADDER, timer.step), now)
        incident, effects = out.incident, list(out.effects)
    incident = apply(p, incident, Acknowledge(by="p0"), now).incident
    for step in stray:  # any timer, current or stale, arriving after the ack
        out = apply(p, incident, TimerFired(TimerKind.LADDER, step), now + timedelta(hours=step))
        assert not [e for e in out.effects if isinstance(e, Notify)]
        incident = out.incident
