"""Every outbound channel against a real receiver: an SMTP server with STARTTLS and
AUTH (aiosmtpd, a trustme certificate), and real HTTP servers playing Slack, Teams,
a webhook receiver and PagerDuty."""

from __future__ import annotations

import email
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient

from escalade.app import create_app
from escalade.domain.signals import SignalIn
from escalade.engine.acklinks import AckLinks
from escalade.engine.service import Escalade
from escalade.settings import Settings
from support.engines import Harness
from support.sink import Sink

LINKS = AckLinks("ack-signing-key", "https://escalade.example.test", timedelta(hours=24))
LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII in output"}

POLICY = """
version: 1
timezone: Europe/Berlin
people:
  alice: {name: Alice Chen, email: alice@x.test, contacts: [CONTACT]}
  bob:   {name: Bob, email: bob@x.test, contacts: [slack]}
channels:
  mail:
    type: email
    from: escalade@x.test
    smtp: {host: 127.0.0.1, port: "${SMTP_PORT}", starttls: true, username: escalade,
           password: "${SMTP_PASSWORD}", ca_file: "${SMTP_CA}"}
  hook: {type: webhook, url: "${SINK_URL}/hook", secret: s3cret}
  slack: {type: slack, url: "${SINK_URL}/slack"}
  teams: {type: teams, url: "${SINK_URL}/teams"}
  pd: {type: pagerduty, url: "${SINK_URL}/pd", routing_key: 0123456789abcdef0123456789abcdef}
tiers:
  sev1: {name: Critical, ack_within: 5m, ladder: critical}
ladders:
  critical:
    rungs:
      - {notify: [TARGETS], escalate_after: 5m}
      - {notify: [person:bob], escalate_after: 10m}
rules:
  - {id: leak, match: {kind: privacy_leak}, tier: sev1, type: privacy}
default: {tier: sev1, type: other}
"""


def policy(contact: str = "mail", targets: str = "person:alice") -> str:
    return POLICY.replace("CONTACT", contact).replace("TARGETS", targets)


def http_env(sink: Sink) -> dict[str, str]:
    """For tests that use no email: the mail channel is defined but never used."""
    return {"SINK_URL": sink.url, "SMTP_PORT": "25", "SMTP_PASSWORD": "-", "SMTP_CA": "-"}


def open_incident(service: Escalade) -> str:
    [accepted] = service.ingest(service.accept([SignalIn.model_validate(LEAK)])).accepted
    return str(accepted.incident_id)


def timeline(service: Escalade, incident_id: str) -> list[dict[str, Any]]:
    incident = service.incident(incident_id)
    assert incident is not None
    return list(incident["timeline"])


# --- email --------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.arrived.set()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Inbox, dict[str, str]]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"escalade",
            b"mail-pass",
        )
        return AuthResult(success=ok, handled=False)

    inbox = Inbox()
    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticate,
    )
    controller.start()
    env = {"SMTP_PORT": str(port), "SMTP_PASSWORD": "mail-pass", "SMTP_CA": str(ca_file)}
    yield inbox, env
    controller.stop()


def test_email_goes_over_starttls_with_auth_and_carries_a_signed_ack_link(
    harness: Harness, sink: Sink, smtp: tuple[Inbox, dict[str, str]]
) -> None:
    inbox, env = smtp
    service = harness.service(text=policy(), env={**env, "SINK_URL": sink.url}, ack_links=LINKS)
    worker = harness.worker(service)
    incident_id = open_incident(service)
    worker.run_once()
    assert inbox.arrived.wait(10)
    [mail] = inbox.messages
    assert inbox.envelopes == [("escalade@x.test", ["alice@x.test"])]
    assert mail["To"] == "Alice Chen <alice@x.test>"
    assert mail["Subject"] == "[sev1] PII in output"
    assert mail["X-Escalade-Incident"] == incident_id
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()  # type: ignore[union-attr]
    link = next(w for w in body.split() if w.startswith("https://escalade.example.test/v1/ack/"))
    grant = LINKS.grant(link.rsplit("/", 1)[1], service.clock.now())
    assert (grant.incident_id, grant.person) == (incident_id, "alice")
    sent = [e for e in timeline(service, incident_id) if e["kind"] == "delivery.sent"]
    assert sent[0]["data"]["channel"] == "mail" and "alice@x.test" in sent[0]["data"]["detail"]


def test_the_ack_link_in_the_email_acknowledges_the_incident(
    harness: Harness, sink: Sink, smtp: tuple[Inbox, dict[str, str]]
) -> None:
    inbox, env = smtp
    service = harness.service(text=policy(), env={**env, "SINK_URL": sink.url}, ack_links=LINKS)
    incident_id = open_incident(service)
    harness.worker(service).run_once()
    assert inbox.arrived.wait(10)
    [mail] = inbox.messages
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()  # type: ignore[union-attr]
    link = next(w for w in body.split() if w.startswith(f"{LINKS.public_url}/v1/ack/"))
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as anonymous:  # no bearer token
        done = anonymous.post(link.removeprefix(LINKS.public_url))
    assert done.status_code == 200, done.text
    assert done.json() == {
        "incident_id": incident_id,
        "status": "acknowledged",
        "acknowledged_by": "alice",
        "changed": True,
    }
    found = service.incident(incident_id)
    assert found is not None and found["status"] == "acknowledged"
    assert "incident.acknowledged" in [e["kind"] for e in timeline(service, incident_id)]


def test_wrong_smtp_password_fails_for_good_and_is_on_the_timeline(
    harness: Harness, sink: Sink, smtp: tuple[Inbox, dict[str, str]]
) -> None:
    inbox, env = smtp
    env = {**env, "SMTP_PASSWORD": "wrong", "SINK_URL": sink.url}
    service = harness.service(text=policy(), env=env)
    worker = harness.worker(service)
    incident_id = open_incident(service)
    worker.run_once()
    failed = [e for e in timeline(service, incident_id) if e["kind"] == "delivery.failed"]
    assert failed and "AUTH" in failed[0]["data"]["error"]
    assert "wrong" not in str(timeline(service, incident_id))  # no secret in the record
    assert inbox.messages == []


def test_an_smtp_server_that_never_answers_times_out_and_is_retried(
    harness: Harness, sink: Sink
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never sends a greeting
    port = silent.getsockname()[1]
    text = policy().replace("    type: email\n", "    type: email\n    timeout: 1s\n")
    try:
        service = harness.service(text=text, env={**http_env(sink), "SMTP_PORT": str(port)})
        worker = harness.worker(service)
        incident_id = open_incident(service)
        worker.run_once()
    finally:
        silent.close()
    [retrying] = [e for e in timeline(service, incident_id) if e["kind"].startswith("delivery.")]
    assert retrying["kind"] == "delivery.retrying"
    assert "timed out" in retrying["data"]["error"]


# --- Slack, Teams, PagerDuty -------------------------------------------------------


def test_slack_block_kit_teams_adaptive_card_and_pagerduty_trigger(
    harness: Harness, sink: Sink
) -> None:
    text = policy(contact="slack", targets="person:alice, channel:teams, channel:pd")
    service = harness.service(text=text, env=http_env(sink), ack_links=LINKS)
    worker = harness.worker(service)
    incident_id = open_incident(service)
    worker.run_once()
    got = {r.path: r.json() for r in sink.wait_for(3)}
    slack = got["/slack"]
    assert slack["text"] == "[sev1] PII in output"
    assert slack["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[sev1] PII in output"},
    }
    [button] = slack["blocks"][-1]["elements"]
    assert button["url"].startswith("https://escalade.example.test/v1/ack/")
    card = got["/teams"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert card["content"]["actions"][0]["type"] == "Action.OpenUrl"
    trigger = got["/pd"]
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == incident_id
    assert trigger["routing_key"] == "0123456789abcdef0123456789abcdef"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"] == "[sev1] PII in output"
    assert trigger["payload"]["source"] == "chat-v2"


def test_pagerduty_gets_acknowledge_and_resolve_with_the_same_dedup_key(
    harness: Harness, sink: Sink
) -> None:
    service = harness.service(text=policy(targets="channel:pd"), env=http_env(sink))
    worker = harness.worker(service)
    incident_id = open_incident(service)
    worker.run_once()
    service.acknowledge(incident_id, "alice")
    worker.run_once()
    service.resolve(incident_id, "alice")
    worker.run_once()
    events = [r.json() for r in sink.wait_for(3)]
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {incident_id}
    assert events[1] == {
        "routing_key": "0123456789abcdef0123456789abcdef",
        "event_action": "acknowledge",
        "dedup_key": incident_id,
    }


def test_a_channel_never_paged_gets_no_follow_ups(harness: Harness, sink: Sink) -> None:
    service = harness.service(text=policy(contact="slack"), env=http_env(sink))
    worker = harness.worker(service)
    incident_id = open_incident(service)
    worker.run_once()
    service.resolve(incident_id, "alice")
    worker.run_once()
    assert [r.path for r in sink.wait_for(1)] == ["/slack"]
    assert [r.path for r in sink.snapshot()] == ["/slack"]
