"""Live drills in the engine: scheduled exercise incidents open on time, labelled,
clock-free, and each occurrence schedules the next; a drill removed from the policy
stops. The report names the deliveries that failed and the decisions that stalled, and
drills stay out of the incident, feedback and learning metrics."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from conftest import FakeClock
from escalade.domain.signals import SignalIn
from escalade.storage.schema import deliveries, timers
from support.engines import Harness
from support.policies import BASE
from support.sink import Sink

LEAK_RULE = (
    "  - id: privacy-leak\n    match: {kind: privacy_leak}\n    tier: sev1\n    type: privacy\n"
)
SCHEDULED = (
    BASE.replace(LEAK_RULE, LEAK_RULE + "    obligations: [gdpr-art33]\n")
    + """
exercises:
  monthly-oncall:
    every: 4w
    first: "2026-11-23T12:00"
    signal: {kind: privacy_leak, summary: "Exercise: PII in a model answer"}
"""
)


def pending_exercise_timers(service) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with service.db.connect() as conn:
        rows = conn.execute(
            select(timers.c.step, timers.c.tag).where(timers.c.kind == "exercise")
        ).all()
    return sorted((r.step, r.tag) for r in rows)


def test_a_scheduled_drill_opens_on_time_and_schedules_the_next(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=SCHEDULED)
    worker = harness.worker(service)
    worker.run_once()  # 11:00 Berlin: the drill is scheduled for 12:00
    assert pending_exercise_timers(service) == [(0, "monthly-oncall")]
    assert service.list_exercises() == []

    clock.advance(hours=1)
    worker.run_once()
    [first] = service.list_exercises()
    assert first["exercise"] == "monthly-oncall" and first["incident_id"].startswith("exr_")
    incident = service.incident(first["incident_id"])
    assert incident is not None
    assert incident["obligations"] == [] and incident["tier"] == "sev1"
    kinds = [e["kind"] for e in incident["timeline"]]
    assert "exercise.started" in kinds and "exercise.clocks_skipped" in kinds
    assert pending_exercise_timers(service) == [(1, "monthly-oncall")]
    with service.db.connect() as conn:
        pages = conn.execute(
            select(deliveries.c.person).where(deliveries.c.incident_id == first["incident_id"])
        ).all()
    assert pages  # the real on-call was paged (labelled [EXERCISE] when sent)

    clock.advance(weeks=4)
    worker.run_once()
    assert [e["exercise"] for e in service.list_exercises()] == ["monthly-oncall"] * 2

    path = harness.tmp_path / "policy.yaml"
    path.write_text(SCHEDULED.split("\nexercises:")[0] + "\n")
    service.policies.reload()
    clock.advance(weeks=4)
    worker.run_once()
    assert len(service.list_exercises()) == 2  # removed from the policy: no third drill
    assert pending_exercise_timers(service) == []


# bob's only contact answers 404 (a permanent failure); the rollback nobody decides
# stalls after 15 minutes and wakes the fallback.
FAILING = """
version: 1
timezone: UTC
people:
  alice: {name: Alice, email: alice@x.test, contacts: [hook]}
  bob: {name: Bob, email: bob@x.test, contacts: [broken]}
  erin: {name: Erin, email: erin@x.test, contacts: [hook]}
teams:
  oncall: {members: [alice, bob]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook"}
  broken: {type: webhook, url: "${SINK_URL}/broken"}
tiers:
  sev1: {name: Critical, ack_within: 5m, roles: [incident_lead, exec_sponsor], ladder: one}
roles:
  incident_lead: {filled_by: [person:alice]}
  exec_sponsor: {filled_by: [person:erin]}
ladders:
  one:
    rungs: [{notify: [team:oncall], escalate_after: 1h}]
rules:
  - {id: leak, match: {kind: privacy_leak}, tier: sev1, type: privacy}
default: {tier: sev1}
decisions:
  rollback_model:
    approvers: {any_of: [incident_lead]}
    decide_within: 15m
    fallback: exec_sponsor
"""


def test_the_report_names_the_failed_delivery_and_the_stalled_decision(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    sink.fail_path["/broken"] = [404] * 5
    service = harness.service(text=FAILING, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    signal = SignalIn.model_validate({"kind": "privacy_leak", "summary": "Exercise: PII"})
    incident_id = service.start_exercise(signal, "failure drill", "erin")
    worker.run_once()
    clock.advance(minutes=2)
    service.acknowledge(incident_id, "alice")
    service.request_decision(incident_id, "rollback_model", "alice")
    worker.run_once()
    [decision] = service.incident(incident_id)["decisions"]  # type: ignore[index]
    pending = {"id": decision["id"], "action": "rollback_model", "status": "pending"}
    found = service.exercise_report(incident_id)
    assert found is not None
    assert found["stalled_decisions"] == [{**pending, "stalled": False}]  # inside its window

    clock.advance(minutes=16)  # past decide_within: the decision stalls, erin is woken
    worker.run_once()
    found = service.exercise_report(incident_id)
    assert found is not None
    assert found["stalled_decisions"] == [{**pending, "stalled": True}]
    assert found["failed_deliveries"] == [
        {"after_s": 0.0, "person": "bob", "channel": "broken", "error": "HTTP 404"},
        {"after_s": 0.0, "person": "bob", "channel": None, "error": "contact.unreachable"},
    ]
    assert found["people"]["bob"] == {
        "reached_on": [],
        "failed_on": ["broken"],
        "first_reached_after_s": None,
        "answered": [],
    }
    assert found["people"]["alice"]["reached_on"] == ["hook"]
    assert found["people"]["alice"]["failed_on"] == []
    assert found["reached"] == ["alice", "erin"] and found["reached_but_silent"] == ["erin"]
    assert [r.path for r in sink.refused] == ["/broken"]  # failed once, permanently
    fallback = [r.json() for r in sink.snapshot() if "decide now" in r.json()["subject"]]
    assert [r["recipient"]["person"] for r in fallback] == ["erin"]

    [line] = service.list_exercises()
    assert (line["failed_deliveries"], line["stalled_decisions"]) == (2, 1)


def test_drills_stay_out_of_the_incident_feedback_and_learning_metrics(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=BASE + "feedback: {tiers: [sev1]}\n")
    leak = {"kind": "privacy_leak", "summary": "PII in an answer"}
    [real] = service.ingest(service.accept([SignalIn.model_validate(leak)])).accepted
    real_id = str(real.incident_id)
    drill_id = service.start_exercise(SignalIn.model_validate(leak), "drill", "bob")
    assert real_id.startswith("inc_") and drill_id.startswith("exr_")
    clock.advance(minutes=2)
    service.acknowledge(real_id, "alice")
    clock.advance(minutes=28)  # the drill is acknowledged late and resolved slowly
    service.acknowledge(drill_id, "alice")
    service.resolve(real_id, "alice")
    clock.advance(hours=5)
    service.resolve(drill_id, "alice")
    service.submit_feedback(real_id, "alice", 5)
    service.submit_feedback(drill_id, "alice", 1, "the drill paged me at lunch")

    since = clock.at - timedelta(days=1)
    everything = service.incident_metrics(since=since)["all"]
    assert everything.count == 1
    assert everything.mtta == timedelta(minutes=2) and everything.mttr == timedelta(minutes=30)
    assert list(service.incident_metrics(by="tier", since=since)) == ["sev1"]
    assert service.recent_metrics()["sev1"].count == 1
    assert service.feedback_metrics("tier")["groups"]["sev1"] == {
        "responses": 1,
        "mean_rating": 5.0,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
    }
    assert service.learning_metrics(since=since)["resolved_incidents"] == 1
    [line] = service.list_exercises()  # the drill itself is still reported as a drill
    assert line["incident_id"] == drill_id and line["acknowledged_in_window"] is False
