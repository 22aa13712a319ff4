"""Responder feedback: participants are asked when an incident resolves, and only they
may answer; results group by team and tier."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import FakeClock
from escalade.domain.feedback import FeedbackRefused
from escalade.domain.signals import SignalIn
from escalade.storage.schema import deliveries
from support.engines import Harness
from support.policies import BASE

FEEDBACK = BASE + "feedback: {tiers: [sev1], expires: 3d}\n"


def leak(service) -> str:  # type: ignore[no-untyped-def]
    [accepted] = service.ingest(
        service.accept([SignalIn.model_validate({"kind": "privacy_leak", "summary": "PII"})])
    ).accepted
    return str(accepted.incident_id)


def requests_to(service, incident_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with service.db.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.person, deliveries.c.payload).where(
                deliveries.c.incident_id == incident_id
            )
        ).all()
    return sorted(r.person for r in rows if r.payload.get("data", {}).get("feedback"))


def test_participants_are_asked_and_only_they_may_answer(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=FEEDBACK)
    incident_id = leak(service)
    service.acknowledge(incident_id, "alice")
    with pytest.raises(FeedbackRefused) as early:
        service.submit_feedback(incident_id, "alice", 4)
    assert early.value.reason == "not_resolved"
    service.log_decision(incident_id, "roll back", "leak confirmed", "bob")
    clock.advance(minutes=30)
    service.resolve(incident_id, "bob")
    incident = service.incident(incident_id)
    assert incident is not None
    holders = {p for p in incident["roles"].values() if p}
    assert requests_to(service, incident_id) == sorted({"alice", "bob"} | holders)
    assert "feedback.requested" in [e["kind"] for e in incident["timeline"]]

    clock.advance(hours=1)
    service.submit_feedback(incident_id, "alice", 2, "paged twice for the same thing")
    service.submit_feedback(incident_id, "bob", 5)
    service.submit_feedback(incident_id, "alice", 4, "on reflection, fine")  # replaces
    outsider = "erin"
    with pytest.raises(FeedbackRefused) as refused:
        service.submit_feedback(incident_id, outsider, 5)
    assert refused.value.reason == "not_a_participant"
    with pytest.raises(FeedbackRefused) as bad:
        service.submit_feedback(incident_id, "bob", 9)
    assert bad.value.reason == "invalid_rating"

    shown = service.incident(incident_id)
    assert shown is not None
    assert sorted((f["person"], f["rating"]) for f in shown["feedback"]) == [
        ("alice", 4),
        ("bob", 5),
    ]
    by_team = service.feedback_metrics("team")["groups"]
    assert by_team["oncall"] == {
        "responses": 2,
        "mean_rating": 4.5,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1},
    }
    assert service.feedback_metrics("tier")["groups"]["sev1"]["responses"] == 2
    assert service.feedback_metrics("tier", since=clock.at + timedelta(days=1))["groups"] == {}


def test_tiers_the_policy_does_not_name_are_not_asked(harness: Harness) -> None:
    service = harness.service(text=BASE + "feedback: {tiers: [sev2]}\n")
    incident_id = leak(service)  # sev1
    service.acknowledge(incident_id, "alice")
    service.resolve(incident_id, "alice")
    assert requests_to(service, incident_id) == []
