from datetime import datetime
from zoneinfo import ZoneInfo

from escalade.domain.schedules import on_call, on_call_now
from support.policies import policy

BERLIN = ZoneInfo("Europe/Berlin")


def schedule(text: str):  # type: ignore[no-untyped-def]
    base = """
version: 1
people: {a: {name: A, contacts: [c]}, b: {name: B, contacts: [c]}, c: {name: C, contacts: [c]}}
channels: {c: {type: console}}
tiers: {sev1: {name: C, ack_within: 5m, ladder: l}}
ladders: {l: {rungs: [{notify: [schedule:s], escalate_after: 5m}]}}
default: {tier: sev1}
schedules:
"""
    return policy(base + text, {})


def test_weekly_rotation_hands_over_at_local_nine_across_dst() -> None:
    p = schedule("""
  s:
    timezone: Europe/Berlin
    rotation: {members: [a, b], shift: 1w, start: "2026-03-23T09:00"}
""")
    # DST starts 2026-03-29 in Berlin; the 2026-03-30 handover is still 09:00 local.
    before = datetime(2026, 3, 30, 8, 59, tzinfo=BERLIN)
    after = datetime(2026, 3, 30, 9, 0, tzinfo=BERLIN)
    assert on_call_now(p, "s", before) == "a"
    assert on_call_now(p, "s", after) == "b"


def test_twelve_hour_shifts_are_exact_elapsed_time() -> None:
    p = schedule("""
  s:
    rotation: {members: [a, b, c], shift: 12h, start: "2026-01-01T00:00"}
""")
    # Before the first handover the rotation runs backwards: the shift before a's is c's.
    assert on_call(p.schedules["s"], BERLIN, datetime(2025, 12, 31, 23, 30, tzinfo=BERLIN)) == "c"
    assert on_call(p.schedules["s"], BERLIN, datetime(2026, 1, 1, 6, tzinfo=BERLIN)) == "a"
    assert on_call(p.schedules["s"], BERLIN, datetime(2026, 1, 1, 13, tzinfo=BERLIN)) == "b"
    assert on_call(p.schedules["s"], BERLIN, datetime(2026, 1, 2, 1, tzinfo=BERLIN)) == "c"
    assert on_call(p.schedules["s"], BERLIN, datetime(2026, 1, 2, 13, tzinfo=BERLIN)) == "a"


def test_override_wins_inside_its_range() -> None:
    p = schedule("""
  s:
    timezone: Europe/Berlin
    rotation: {members: [a, b], shift: 1w, start: "2026-01-05T09:00"}
    overrides:
      - {who: c, from: "2026-12-24T00:00", to: "2026-12-27T00:00"}
""")
    assert on_call_now(p, "s", datetime(2026, 12, 24, 12, tzinfo=BERLIN)) == "c"
    assert on_call_now(p, "s", datetime(2026, 12, 27, 0, 0, tzinfo=BERLIN)) != "c"
