"""Reviews through the engine on SQLite and PostgreSQL: storage, timers, outbox, incidents."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import FakeClock
from escalade.domain.reviews import ReviewRefused, ReviewRequestIn
from escalade.domain.signals import SignalIn
from escalade.engine.reviews import IdempotencyConflict
from escalade.engine.service import Escalade, Principal
from support.engines import Harness
from support.policies import REVIEWS
from support.sink import Sink


def ask(service: Escalade, action: str = "issue_refund", **fields: Any) -> str:
    body = {"args": {"amount": 900}, "subject": {"system": "shop"}, **fields}
    requested = service.request_review(ReviewRequestIn(action=action, **body), "shop-bot")
    return requested.review.id


def kinds(service: Escalade, owner: str) -> list[str]:
    return [e["kind"] for e in service.review_timeline(owner)]


def test_reviewers_are_paged_and_the_answer_is_stored(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=REVIEWS, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    review_id = ask(service)
    worker.run_once()
    people = sorted(r.json()["recipient"]["person"] for r in sink.wait_for(2))
    assert people == ["alice", "bob"]
    assert all(r.json()["incident_id"] == review_id for r in sink.snapshot())
    service.answer_review(review_id, "bob", True, comment="ok")
    stored = service.review(review_id)
    assert stored is not None and stored.decision is not None and stored.decision.approved
    assert stored.version == 2
    clock.advance(minutes=5)
    assert worker.fire_due_timers(clock.now()) == 0  # the window's timer went with the answer
    assert kinds(service, review_id) == [
        "review.requested",
        "delivery.sent",
        "delivery.sent",
        "review.answered",
        "review.decided",
    ]


def test_silence_escalates_then_times_out_through_the_worker(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=REVIEWS, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    review_id = ask(service)
    worker.run_once()
    clock.advance(minutes=2)
    worker.run_once()
    assert sink.wait_for(3)[-1].json()["recipient"]["person"] == "erin"
    clock.advance(minutes=2)
    worker.run_once()
    review = service.review(review_id)
    assert review is not None and review.decision is not None
    assert (review.decision.outcome.value, review.decision.reason.value) == ("deny", "timeout")


def test_refusals_are_logged_and_change_nothing(harness: Harness) -> None:
    service = harness.service(text=REVIEWS)
    review_id = ask(service)
    with pytest.raises(ReviewRefused):
        service.answer_review(review_id, "carol", True)
    review = service.review(review_id)
    assert review is not None and review.pending and review.version == 1
    refused = [e for e in service.review_timeline(review_id) if e["kind"] == "review.refused"]
    assert refused[0]["actor"] == "carol" and refused[0]["data"]["reason"] == "not_a_reviewer"


def test_a_token_posing_as_another_reviewer_is_refused_on_the_timeline(harness: Harness) -> None:
    service = harness.service(text=REVIEWS)
    review_id = ask(service)
    carol = Principal("tok_carol", "carol", "responder")
    with pytest.raises(PermissionError):
        service.decide_review(carol, review_id, True, by="alice")
    with pytest.raises(PermissionError):
        service.decide_review(carol, "rev_missing", True, by="alice")  # nothing to record on
    review = service.review(review_id)
    assert review is not None and review.pending and review.version == 1
    refused = [e for e in service.review_timeline(review_id) if e["kind"] == "review.refused"]
    assert [(e["actor"], e["data"]["reason"], e["data"]["acting_as"]) for e in refused] == [
        ("carol", "cannot_act_as", "alice")
    ]
    assert service.review_timeline("rev_missing") == []


def test_the_same_idempotency_key_returns_the_same_review(harness: Harness) -> None:
    service = harness.service(text=REVIEWS)
    first = ask(service, idempotency_key="order-42")
    assert ask(service, idempotency_key="order-42") == first
    other_system = service.request_review(
        ReviewRequestIn(action="issue_refund", args={"amount": 900}, idempotency_key="order-42"),
        "another-bot",
    )
    assert other_system.review.id != first
    with pytest.raises(IdempotencyConflict):
        ask(service, idempotency_key="order-42", args={"amount": 901})
    assert len(service.list_reviews()) == 2


def test_reviews_join_the_open_incident_and_a_denial_opens_one(harness: Harness) -> None:
    service = harness.service(text=REVIEWS)
    leak = {"kind": "privacy_leak", "subject": {"system": "shop", "model": "m1"}, "summary": "PII"}
    [accepted] = service.ingest(service.accept([SignalIn.model_validate(leak)])).accepted
    incident_id = str(accepted.incident_id)
    review_id = ask(service, "send_medical_advice", subject={"system": "shop", "model": "m1"})
    assert "review.requested" in kinds(service, incident_id)
    service.answer_review(review_id, "carol", False, comment="not safe")
    assert "review.decided" in kinds(service, incident_id)
    opened = [i for i in service.list_incidents() if i["type"] == "ai_action"]
    assert len(opened) == 1 and opened[0]["tier"] == "sev2"


def test_review_metrics_per_policy(harness: Harness, clock: FakeClock) -> None:
    service = harness.service(text=REVIEWS)
    worker = harness.worker(service)
    answered = ask(service)
    clock.advance(seconds=40)
    service.answer_review(answered, "alice", True)
    ask(service, "wire")
    clock.advance(minutes=1)
    worker.run_once()
    ask(service, args={"amount": 3})  # the default approves it at once
    stats = service.review_metrics()
    assert stats["refund-over-limit"].median_seconds == 40
    assert stats["refund-over-limit"].timeout_rate == 0
    assert stats["wire-transfer"].timeout_rate == 1
    assert stats["default"].automatic == 1
