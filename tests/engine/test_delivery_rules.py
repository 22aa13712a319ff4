"""Retries, Retry-After, timeouts, throttles, fallbacks and unreachable contacts,
against real HTTP receivers that fail on purpose: every HTTP channel type (webhook,
Slack, Teams, PagerDuty) meets a 500, a 429 with Retry-After and a receiver that
hangs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from conftest import FakeClock
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.storage.schema import deliveries
from support.engines import Harness
from support.sink import Sink

POLICY = """
version: 1
timezone: Europe/Berlin
people:
  alice: {name: Alice, email: alice@x.test, contacts: [ALICE]}
  bob:   {name: Bob, email: bob@x.test, contacts: [slack]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook", timeout: 1s, attempts: 2, fallback: slack}
  slack: {type: slack, url: "${SINK_URL}/slack", throttle: {max: 1, per: 10m}}
  room: {type: slack, url: "${SINK_URL}/room", timeout: 1s}
  teams: {type: teams, url: "${SINK_URL}/teams", timeout: 1s}
  pd: {type: pagerduty, url: "${SINK_URL}/pd", routing_key: 0123456789abcdef0123456789abcdef,
       timeout: 1s}
tiers:
  sev1: {name: Critical, ack_within: 5m, ladder: critical}
ladders:
  critical:
    rungs:
      - {notify: [person:alice], escalate_after: 5m}
      - {notify: [person:bob], escalate_after: 10m}
rules:
  - {id: leak, match: {kind: privacy_leak}, tier: sev1, type: privacy}
default: {tier: sev1, type: other}
"""


def setup(harness: Harness, sink: Sink, alice: str = "hook") -> tuple[Escalade, Any]:
    service = harness.service(text=POLICY.replace("ALICE", alice), env={"SINK_URL": sink.url})
    return service, harness.worker(service)


def open_incident(service: Escalade, model: str = "chat-v2") -> str:
    wire = {"kind": "privacy_leak", "subject": {"model": model}, "summary": f"PII from {model}"}
    [accepted] = service.ingest(service.accept([SignalIn.model_validate(wire)])).accepted
    return str(accepted.incident_id)


def entries(service: Escalade, incident_id: str, prefix: str = "") -> list[dict[str, Any]]:
    incident = service.incident(incident_id)
    assert incident is not None
    return [e for e in incident["timeline"] if e["kind"].startswith(prefix)]


def kinds(service: Escalade, incident_id: str, prefix: str = "") -> list[str]:
    return [e["kind"] for e in entries(service, incident_id, prefix)]


# alice's contact and the sink path it posts to: one of each HTTP channel type, each
# with a 1 s timeout and no fallback, so a failure can only be retried.
HTTP_CHANNELS = pytest.mark.parametrize(
    ("contact", "path"),
    [("hook", "/hook"), ("room", "/room"), ("teams", "/teams"), ("pd", "/pd")],
    ids=["webhook", "slack", "teams", "pagerduty"],
)


@HTTP_CHANNELS
def test_a_500_is_retried_and_the_next_attempt_gets_through(
    harness: Harness, clock: FakeClock, sink: Sink, contact: str, path: str
) -> None:
    service, worker = setup(harness, sink, alice=contact)
    sink.fail_path[path] = [500]
    incident_id = open_incident(service)
    worker.run_once()
    [retrying] = entries(service, incident_id, "delivery.")
    assert retrying["data"]["error"] == "HTTP 500"
    assert retrying["data"]["retry_at"] == clock.advance(seconds=1).isoformat()
    worker.run_once()
    [page] = sink.wait_for(1)
    assert page.path == path
    assert [r.path for r in sink.refused] == [path]
    assert kinds(service, incident_id, "delivery.") == ["delivery.retrying", "delivery.sent"]
    assert "incident.escalated" not in kinds(service, incident_id)


@HTTP_CHANNELS
def test_429_waits_as_long_as_retry_after_asks(
    harness: Harness, clock: FakeClock, sink: Sink, contact: str, path: str
) -> None:
    service, worker = setup(harness, sink, alice=contact)
    sink.fail_path[path] = [429]
    sink.fail_headers = {"Retry-After": "30"}
    incident_id = open_incident(service)
    worker.run_once()
    [retrying] = entries(service, incident_id, "delivery.")
    assert retrying["data"]["error"] == "HTTP 429"
    assert retrying["data"]["retry_at"] == clock.advance(seconds=30).isoformat()
    clock.advance(seconds=-28)  # 2 s later: plain backoff would try now; Retry-After says no
    worker.run_once()
    assert sink.snapshot() == []
    clock.advance(seconds=28)
    worker.run_once()
    assert [r.path for r in sink.wait_for(1)] == [path]
    assert kinds(service, incident_id, "delivery.") == ["delivery.retrying", "delivery.sent"]


@HTTP_CHANNELS
def test_a_receiver_that_hangs_times_out_and_is_tried_again(
    harness: Harness, clock: FakeClock, sink: Sink, contact: str, path: str
) -> None:
    service, worker = setup(harness, sink, alice=contact)
    sink.stall_next = [3.0]  # the channel's timeout is 1s
    incident_id = open_incident(service)
    worker.run_once()
    [retrying] = entries(service, incident_id, "delivery.")
    assert retrying["data"]["error"] == "timed out"
    clock.advance(seconds=1)
    worker.run_once()
    assert [r.path for r in sink.wait_for(1)] == [path]
    assert kinds(service, incident_id, "delivery.") == ["delivery.retrying", "delivery.sent"]


def test_a_channel_that_keeps_failing_hands_over_to_its_fallback(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service, worker = setup(harness, sink)
    sink.fail_path["/hook"] = [500, 503]
    incident_id = open_incident(service)
    worker.run_once()  # 500
    clock.advance(seconds=1)
    worker.run_once()  # 503: attempts (2) used up, the fallback takes over
    worker.run_once()
    [slack] = sink.wait_for(1)
    assert slack.path == "/slack" and slack.json()["text"] == "[sev1] PII from chat-v2"
    assert kinds(service, incident_id, "delivery.") == [
        "delivery.retrying",
        "delivery.failed",
        "delivery.fallback",
        "delivery.sent",
    ]
    [handover] = entries(service, incident_id, "delivery.fallback")
    assert handover["data"]["from"] == "hook" and handover["data"]["to"] == "slack"
    assert "incident.escalated" not in kinds(service, incident_id)  # alice was reached


def test_an_unreachable_contact_is_recorded_and_the_ladder_climbs(
    harness: Harness, sink: Sink
) -> None:
    service, worker = setup(harness, sink)
    sink.fail_path["/hook"] = [404]
    sink.fail_path["/slack"] = [404]  # the fallback fails too
    incident_id = open_incident(service)
    worker.run_once()  # hook: 404, final
    worker.run_once()  # slack fallback: 404, final -> unreachable -> climb -> bob
    worker.run_once()
    [page] = sink.wait_for(1)
    assert page.path == "/slack" and page.json()["text"] == "[sev1] PII from chat-v2"
    [unreachable] = entries(service, incident_id, "contact.unreachable")
    assert unreachable["data"]["person"] == "alice"
    assert unreachable["data"]["tried"] == ["hook", "slack"]
    timeline = kinds(service, incident_id)
    assert timeline.index("contact.unreachable") < timeline.index("incident.escalated")
    rungs = [e["data"]["recipients"] for e in entries(service, incident_id, "rung.fired")]
    assert rungs == [["alice"], ["bob"]]
    assert {r.path for r in sink.refused} == {"/hook", "/slack"}


def test_a_throttled_contact_gets_every_message_later_not_never(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service, worker = setup(harness, sink, alice="slack")
    first = open_incident(service, "m1")
    worker.run_once()
    second = open_incident(service, "m2")
    worker.run_once()
    assert len(sink.snapshot()) == 1  # at most one message per 10 minutes to alice on slack
    [throttled] = entries(service, second, "delivery.throttled")
    assert throttled["data"]["until"] == clock.advance(minutes=10).isoformat()
    service.acknowledge(first, "alice")
    service.acknowledge(second, "alice")
    worker.run_once()
    texts = sorted(r.json()["text"] for r in sink.wait_for(2))
    assert texts == ["[sev1] PII from m1", "[sev1] PII from m2"]
    assert kinds(service, second, "delivery.") == ["delivery.throttled", "delivery.sent"]
    with service.db.connect() as conn:
        attempts = conn.execute(
            select(deliveries.c.attempts).where(deliveries.c.incident_id == second)
        ).scalar_one()
    assert attempts == 1  # waiting for the throttle used no attempt
