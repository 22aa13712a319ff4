"""Conditions over time, business hours and cadence, through ingest and the worker."""

from datetime import UTC, datetime

from conftest import FakeClock
from escalade.domain.signals import SignalIn
from support.engines import Harness

POLICY = """
version: 1
timezone: Europe/Berlin
people:
  alice: {name: Alice, contacts: [hook]}
  bob: {name: Bob, contacts: [hook]}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
tiers:
  sev2: {name: High, ack_within: 15m, update_every: 30m, roles: [incident_lead], ladder: now}
  sev3: {name: Office, ack_within: 4h, ladder: office}
  sev4: {name: Low, ack_within: 1d, ladder: now}
roles:
  incident_lead: {filled_by: [person:bob]}
ladders:
  now:
    rungs: [{notify: [person:alice], escalate_after: 1h}]
  office:
    hours: {days: mon-fri, from: "09:00", to: "17:00"}
    rungs: [{notify: [person:alice], escalate_after: 1bd}]
rules:
  - id: drift-sustained
    match: {kind: drift}
    when: {value: {gt: 0.3}, for: 10m}
    tier: sev2
    type: quality
    group_by: [subject.model]
  - id: complaint-burst
    match: {kind: user_report}
    when: {count: {at_least: 3, within: 1h}}
    tier: sev2
    type: customer
    group_by: [subject.model]
  - id: single-complaint
    match: {kind: user_report}
    tier: sev4
    type: customer
    group_by: [subject.model]
  - id: office
    match: {kind: office}
    tier: sev3
    type: other
default: {tier: sev4, type: other}
grouping: {window: 2h, resolve_after_quiet: 3h}
"""


def send(service, **wire):  # type: ignore[no-untyped-def]
    [a] = service.ingest(service.accept([SignalIn.model_validate(wire)])).accepted
    return a


def kinds(service, incident_id) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["kind"] for e in service.incident(incident_id)["timeline"]]


def test_count_window_opens_on_the_third_report_within_the_hour(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=POLICY)
    first = send(service, kind="user_report", subject={"model": "m"})
    assert service.incident(first.incident_id)["tier"] == "sev4"
    clock.advance(minutes=50)
    send(service, kind="user_report", subject={"model": "m"})
    clock.advance(minutes=20)  # the first report has left the hour
    third = send(service, kind="user_report", subject={"model": "m"})
    assert service.incident(third.incident_id)["rule_id"] == "single-complaint"
    clock.advance(minutes=5)
    fourth = send(service, kind="user_report", subject={"model": "m"})
    burst = service.incident(fourth.incident_id)
    assert (burst["rule_id"], burst["tier"]) == ("complaint-burst", "sev2")


def test_count_windows_are_per_group(harness: Harness) -> None:
    service = harness.service(text=POLICY)
    for model in ("a", "b", "a", "b"):
        last = send(service, kind="user_report", subject={"model": model})
    assert service.incident(last.incident_id)["rule_id"] == "single-complaint"


def test_value_held_for_ten_minutes_opens_at_that_moment_without_a_new_signal(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=POLICY)
    worker = harness.worker(service)
    start = clock.now()
    high = send(service, kind="drift", value=0.5, subject={"model": "m"})
    assert high.incident_id is not None  # below `for`, the signal falls to the default
    assert service.incident(high.incident_id)["tier"] == "sev4"
    clock.advance(minutes=9)
    worker.fire_due_timers(clock.now())
    clock.advance(minutes=1)
    assert worker.fire_due_timers(clock.now()) == 1
    opened = [i for i in service.list_incidents() if i["rule_id"] == "drift-sustained"]
    assert len(opened) == 1
    assert opened[0]["opened_at"] == (start.replace(minute=10)).isoformat()


def test_a_value_below_the_threshold_resets_the_for_condition(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=POLICY)
    worker = harness.worker(service)
    send(service, kind="drift", value=0.5, subject={"model": "m"})
    clock.advance(minutes=5)
    send(service, kind="drift", value=0.1, subject={"model": "m"})
    clock.advance(minutes=6)
    worker.fire_due_timers(clock.now())
    assert not [i for i in service.list_incidents() if i["rule_id"] == "drift-sustained"]
    send(service, kind="drift", value=0.6, subject={"model": "m"})  # starts again
    clock.advance(minutes=10)
    late = send(service, kind="drift", value=0.7, subject={"model": "m"})
    assert service.incident(late.incident_id)["rule_id"] == "drift-sustained"


def test_quiet_incident_resolves_itself_and_a_new_signal_restarts_the_quiet(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=POLICY)
    worker = harness.worker(service)
    a = send(service, kind="other")
    clock.advance(hours=2)
    send(service, kind="other")
    clock.advance(hours=2)  # 4 h after the first signal, 2 h after the last
    worker.fire_due_timers(clock.now())
    assert service.incident(a.incident_id)["status"] != "resolved"
    clock.advance(hours=1)
    worker.fire_due_timers(clock.now())
    shown = service.incident(a.incident_id)
    assert shown["status"] == "resolved" and shown["resolved_by"] == "escalade"


def test_business_hours_ladder_waits_for_monday_morning(harness: Harness, clock: FakeClock) -> None:
    clock.at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday
    # Without quiet auto-resolve, which would close it over the weekend.
    service = harness.service(text=POLICY.replace(", resolve_after_quiet: 3h", ""))
    worker = harness.worker(service)
    a = send(service, kind="office")
    assert "rung.deferred" in kinds(service, a.incident_id)
    assert "rung.fired" not in kinds(service, a.incident_id)
    clock.at = datetime(2026, 11, 30, 7, 59, tzinfo=UTC)  # Monday 08:59 in Berlin
    worker.fire_due_timers(clock.now())
    assert "rung.fired" not in kinds(service, a.incident_id)
    clock.at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    worker.fire_due_timers(clock.now())
    assert "rung.fired" in kinds(service, a.incident_id)


def test_update_cadence_reminds_the_incident_lead_until_resolved(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=POLICY)
    worker = harness.worker(service)
    send(service, kind="drift", value=0.5, subject={"model": "m"})
    clock.advance(minutes=10)
    worker.fire_due_timers(clock.now())
    [sev2] = [i for i in service.list_incidents() if i["tier"] == "sev2"]
    service.acknowledge(sev2["id"], "alice")
    for _ in range(2):
        clock.advance(minutes=30)
        worker.fire_due_timers(clock.now())
    assert kinds(service, sev2["id"]).count("update.due") == 2
    service.resolve(sev2["id"], "alice")
    clock.advance(minutes=30)
    worker.fire_due_timers(clock.now())
    assert kinds(service, sev2["id"]).count("update.due") == 2
