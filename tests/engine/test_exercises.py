"""Scheduled live drills: exercise incidents open on time, labelled, clock-free, and
each occurrence schedules the next; a drill removed from the policy stops."""

from __future__ import annotations

from sqlalchemy import select

from conftest import FakeClock
from escalade.storage.schema import deliveries, timers
from support.engines import Harness
from support.policies import BASE

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
