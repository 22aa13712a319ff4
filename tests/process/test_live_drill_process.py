"""A live drill through the real server and real channels: a webhook and an SMTP
server. One person answers and one does not, and the report says exactly that; no
regulatory clock starts, and neither the customer notice nor the regulator notice
leaves (both are approved and sent through the API, and withheld)."""

from __future__ import annotations

import email
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from support.server import TOKEN, ServerProcess, free_port
from support.sink import Sink

pytestmark = pytest.mark.process

POLICY = """
version: 1
people:
  alice: {name: Alice, email: alice@x.test, contacts: [hook]}
  bob: {name: Bob, email: bob@x.test, contacts: [mail]}
  carol: {name: Carol, email: carol@x.test, contacts: [hook]}
teams:
  oncall: {members: [alice, bob]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook"}
  mail: {type: email, from: escalade@x.test, smtp: {host: 127.0.0.1, port: SMTP_PORT}}
  customers: {type: webhook, url: "${SINK_URL}/customers"}
  regulator: {type: webhook, url: "${SINK_URL}/regulator"}
tiers:
  sev1: {name: Critical, ack_within: 10m, roles: [legal_liaison], ladder: one}
roles:
  legal_liaison: {filled_by: [person:alice]}
ladders:
  one:
    rungs: [{notify: [team:oncall], escalate_after: 30m}]
rules:
  - {id: leak, match: {kind: privacy_leak}, tier: sev1, type: privacy, obligations: [gdpr-art33]}
default: {tier: sev1}
templates:
  customer-notice:
    audience: customer
    channel: customers
    to: [person:carol]
    subject: "Service notice"
    body: "We are looking into an issue."
  regulator-notice:
    audience: regulator
    channel: regulator
    to: [person:carol]
    requires_approval: [legal_liaison]
    subject: "Personal data breach notification"
    body: "We notify a personal data breach under Art. 33 GDPR."
"""
SCENARIO = """
name: monthly on-call check
start: "2026-11-23T10:00:00Z"
steps:
  - at: 0s
    signal: {kind: privacy_leak, subject: {system: chat, model: chat-v2}, summary: PII in output}
"""


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box, port = Inbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def server(
    database_url: str, tmp_path: Path, sink: Sink, inbox: tuple[Inbox, int]
) -> Iterator[ServerProcess]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace("SMTP_PORT", str(inbox[1])))
    env = {"SINK_URL": sink.url}
    proc = ServerProcess(database_url, policy, tmp_path / "server.log", env)
    proc.start()
    yield proc
    proc.stop()


def wait(until: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_live_drill_reaches_people_labelled_and_reports_who_answered(
    server: ServerProcess, sink: Sink, inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    box, _ = inbox
    scenario = tmp_path / "drill.yaml"
    scenario.write_text(SCENARIO)
    command = ["drill", "--live", str(scenario), "--url", server.url, "--token", TOKEN]
    started = subprocess.run(
        [sys.executable, "-m", "escalade.cli", *command],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    incident_id = started.stdout.strip()
    assert incident_id.startswith("exr_"), started.stderr

    # alice's page, and her note that she holds legal_liaison: both labelled.
    received = [r.json() for r in sink.wait_for(2)]
    assert sorted(r["reason"] for r in received) == ["opened", "you are legal_liaison"]
    for page in received:
        assert page["recipient"]["person"] == "alice"
        assert page["subject"].startswith("[EXERCISE]") and "[EXERCISE]" in page["text"]
    wait(lambda: box.messages, "bob's email")
    assert str(box.messages[0]["Subject"]).startswith("[EXERCISE]")
    assert "bob@x.test" in str(box.messages[0]["To"])

    acked = server.client.post(f"/v1/incidents/{incident_id}/acknowledge", json={"by": "alice"})
    assert acked.status_code == 200, acked.text
    drafted = server.client.post(
        f"/v1/incidents/{incident_id}/messages", json={"template": "customer-notice", "by": "alice"}
    )
    assert drafted.status_code == 200, drafted.text
    message_id = drafted.json()["incident"]["messages"][-1]["id"]
    sent = server.client.post(
        f"/v1/incidents/{incident_id}/messages/{message_id}/send", json={"by": "alice"}
    )
    assert sent.status_code == 200, sent.text

    # The regulator notice goes through the whole approval flow and is still held back:
    # the send answers 200 with the message `withheld`, so a drill can rehearse it.
    drafted = server.client.post(
        f"/v1/incidents/{incident_id}/messages",
        json={"template": "regulator-notice", "by": "alice"},
    )
    assert drafted.status_code == 200, drafted.text
    notice = drafted.json()["incident"]["messages"][-1]
    assert notice["requires_approval"] == ["legal_liaison"]
    path = f"/v1/incidents/{incident_id}/messages/{notice['id']}"
    early = server.client.post(f"{path}/send", json={"by": "alice"})
    assert early.status_code == 409 and early.json()["error"] == "not_approved", early.text
    approved = server.client.post(f"{path}/approve", json={"by": "alice"})
    assert approved.status_code == 200, approved.text
    sent = server.client.post(f"{path}/send", json={"by": "alice"})
    assert sent.status_code == 200, sent.text
    [shown] = [m for m in sent.json()["incident"]["messages"] if m["id"] == notice["id"]]
    assert shown["state"] == "withheld" and shown["audience"] == "regulator"
    again = server.client.post(f"{path}/send", json={"by": "alice"})
    assert again.status_code == 409 and again.json()["error"] == "message_sent", again.text
    assert "withheld" in again.json()["message"]  # final: a drill never sends it later

    def report() -> dict[str, Any]:
        answer = server.client.get(f"/v1/exercises/{incident_id}/report")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    wait(lambda: report()["reached"] == ["alice", "bob"], "both reached")
    found = report()
    assert found["answered"] == ["alice"]
    assert found["reached_but_silent"] == ["bob"]
    assert found["people"]["alice"]["reached_on"] == ["hook"]
    assert found["people"]["bob"]["reached_on"] == ["mail"]
    assert found["acknowledged_by"] == "alice" and found["acknowledged_in_window"] is True
    assert [r["rung"] for r in found["rungs_fired"]] == [1]
    assert found["failed_deliveries"] == [] and found["stalled_decisions"] == []
    held = [(h["kind"], h.get("audience")) for h in found["held_back"]]
    assert held == [
        ("exercise.clocks_skipped", None),
        ("message.withheld", "customer"),
        ("message.withheld", "regulator"),
    ]

    incident = server.client.get(f"/v1/incidents/{incident_id}").json()
    assert incident["exercise"] == "monthly on-call check" and incident["obligations"] == []
    time.sleep(1)  # anything queued for the customer channel would have gone by now
    # Neither the customer notice nor the regulator notice left: only alice's two did.
    assert [r.path for r in sink.snapshot()] == ["/hook", "/hook"]
    assert sink.refused == []  # not even an attempt on /customers or /regulator
    assert len(box.messages) == 1

    trend = server.client.get("/v1/exercises").json()["exercises"]
    assert [(e["incident_id"], e["reached"], e["answered"]) for e in trend] == [(incident_id, 2, 1)]
    real = server.client.post("/v1/signals", json={"kind": "privacy_leak", "summary": "real"})
    real_id = real.json()["signals"][0]["incident_id"]
    assert real_id.startswith("inc_")  # a real signal never joins the drill's incident
    shown = server.client.get(f"/v1/incidents/{real_id}").json()
    assert [o["regime"] for o in shown["obligations"]] == ["gdpr-art33"]
