"""Communications: a sev1 privacy incident from signal to an approved regulator notice."""

from collections.abc import Iterator
from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import ROOT, FakeClock
from escalade.app import create_app
from escalade.settings import Settings
from escalade.storage.schema import deliveries
from support.engines import Harness

REFERENCE = (ROOT / "examples/policies/reference.yaml").read_text()
ENV = {
    "SMTP_HOST": "127.0.0.1",
    "OPS_HOOK_URL": "http://127.0.0.1:9/h",
    "OPS_HOOK_SECRET": "s",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/s",
}
ADMIN = {"Authorization": "Bearer admin-token"}
EMAIL, KEY = "jane.roe@customer.test", "sk-live_4f9aQ2xZ8bN1cV7mK3pL"


def token(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}-token"}


@pytest.fixture
def client(harness: Harness, clock: FakeClock) -> Iterator[TestClient]:
    service = harness.service(text=REFERENCE, env=ENV)
    service.create_token("admin", "admin", "admin-token")
    for person in ("lena", "carol", "bob", "erin"):
        service.create_token(person, "responder", f"{person}-token")
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as c:
        yield c


def leak(client: TestClient) -> str:
    body = {
        "kind": "privacy_leak",
        "subject": {"system": "support-chat", "model": "chat-v2"},
        "summary": f"Model answer showed {EMAIL} and the key {KEY}",
    }
    return str(
        client.post("/v1/signals", json=body, headers=ADMIN).json()["signals"][0]["incident_id"]
    )


def last_message(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return dict(response.json()["incident"]["messages"][-1])


def test_customer_notice_needs_every_approval_of_this_exact_text(client: TestClient) -> None:
    inc = leak(client)
    base = f"/v1/incidents/{inc}/messages"
    draft = last_message(
        client.post(base, json={"template": "customer-initial"}, headers=token("bob"))
    )
    assert draft["subject"] == "Service notice: support-chat"
    # sev1 wants a status update every 30 minutes: opened 10:00 UTC, 11:30 in Berlin.
    assert "Next update by 2026-11-23 11:30 CET." in draft["body"]
    assert draft["requires_approval"] == ["legal_liaison", "comms_lead"]
    url = f"{base}/{draft['id']}"
    unapproved = client.post(f"{url}/send", json={}, headers=token("bob"))
    assert unapproved.status_code == 409 and unapproved.json()["error"] == "not_approved"
    stranger = client.post(f"{url}/approve", json={}, headers=token("bob"))
    assert stranger.status_code == 403 and stranger.json()["error"] == "not_an_approver"
    assert (
        len(
            last_message(client.post(f"{url}/approve", json={}, headers=token("lena")))["approvals"]
        )
        == 1
    )
    edited = last_message(
        client.post(
            url,
            json={"subject": "Service notice", "body": f"Affected: {EMAIL}. Internal key {KEY}."},
            headers=token("carol"),
        )
    )
    assert edited["approvals"] == []  # an edit drops every approval
    shown = orjson.dumps(edited).decode()
    assert EMAIL not in shown and KEY not in shown  # redacted, and not echoed to approvers
    assert {r["kind"] for r in edited["removed"]} >= {"email", "api_key"}
    assert "[email removed]" in edited["body"]
    for person in ("lena", "carol"):
        client.post(f"{url}/approve", json={}, headers=token(person))
    sent = last_message(client.post(f"{url}/send", json={}, headers=token("carol")))
    assert sent["state"] == "sent"
    again = client.post(f"{url}/send", json={}, headers=token("carol"))
    assert again.status_code == 409 and again.json()["error"] == "message_sent"


def test_an_approved_regulator_notice_satisfies_its_clock(client: TestClient) -> None:
    inc = leak(client)
    base = f"/v1/incidents/{inc}/messages"
    draft = last_message(
        client.post(base, json={"template": "regulator-gdpr"}, headers=token("lena"))
    )
    assert KEY not in draft["body"] and EMAIL in draft["body"]  # `redact: [secrets]` only
    assert "Became aware: 2026-11-23" in draft["body"]
    url = f"{base}/{draft['id']}"
    client.post(f"{url}/approve", json={}, headers=token("lena"))
    done = client.post(f"{url}/send", json={}, headers=token("lena")).json()["incident"]
    [gdpr] = [d for d in done["obligations"] if d["regime"] == "gdpr-art33"]
    assert gdpr["status"] == "submitted"
    kinds = [
        e["kind"] for e in client.get(f"/v1/incidents/{inc}", headers=ADMIN).json()["timeline"]
    ]
    assert kinds.index("message.sent") < kinds.index("obligation.submitted")


def test_internal_brief_goes_out_through_the_outbox(client: TestClient) -> None:
    inc = leak(client)
    draft = last_message(
        client.post(
            f"/v1/incidents/{inc}/messages", json={"template": "exec-brief"}, headers=token("bob")
        )
    )
    assert "Lead: Alice Chen" in draft["body"]
    sent = client.post(
        f"/v1/incidents/{inc}/messages/{draft['id']}/send", json={}, headers=token("bob")
    )
    assert sent.status_code == 200
    service = client.app.state.escalade  # type: ignore[attr-defined]
    with service.db.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.person, deliveries.c.channel).where(
                deliveries.c.id.like(f"%message:{draft['id']}")
            )
        ).all()
    assert [tuple(r) for r in rows] == [("erin", "email")]
    unknown = client.post(
        f"/v1/incidents/{inc}/messages", json={"template": "nope"}, headers=token("bob")
    )
    assert unknown.status_code == 422 and unknown.json()["error"] == "no_such_template"


def test_a_whole_sev1_privacy_incident_from_signal_to_exported_review(
    client: TestClient, clock: FakeClock
) -> None:
    inc = leak(client)
    base = f"/v1/incidents/{inc}"
    client.post(f"{base}/acknowledge", json={}, headers=token("bob"))
    client.post(
        f"{base}/roles",
        headers=ADMIN,
        json={"role": "technical_lead", "person": "bob", "reason": "owns the chat model"},
    )
    client.post(
        f"{base}/log",
        headers=token("bob"),
        json={
            "what": "disable answer caching",
            "why": "cached answers carry the leaked address",
            "evidence": ["https://logs.example/q/123"],
            "role": "technical_lead",
        },
    )
    item = client.post(
        f"{base}/action-items",
        headers=token("bob"),
        json={
            "title": "add a PII filter to the answer path",
            "owner": "bob",
            "due_at": (clock.now() + timedelta(days=7)).isoformat(),
        },
    ).json()["incident"]["action_items"][0]
    draft = last_message(
        client.post(f"{base}/messages", json={"template": "regulator-gdpr"}, headers=token("lena"))
    )
    client.post(f"{base}/messages/{draft['id']}/approve", json={}, headers=token("lena"))
    client.post(f"{base}/messages/{draft['id']}/send", json={}, headers=token("lena"))
    clock.advance(hours=2)
    resolved = client.post(
        f"{base}/updates",
        headers=token("bob"),
        json={"stage": "resolved", "message": "filter deployed"},
    ).json()["incident"]
    assert resolved["status"] == "resolved" and resolved["review"]["state"] == "draft"

    blocked = client.post(f"{base}/review/close", json={}, headers=token("bob"))
    assert blocked.status_code == 409 and blocked.json()["error"] == "open_action_items"
    client.post(f"{base}/action-items/{item['id']}", json={"state": "done"}, headers=token("bob"))
    incomplete = client.post(f"{base}/review/close", json={}, headers=token("bob"))
    assert incomplete.json()["error"] == "review_incomplete"
    client.post(
        f"{base}/review",
        headers=token("bob"),
        json={
            "fields": {
                "impact": "one customer's address shown to another",
                "root_causes": "the cache keyed answers by prompt only",
                "went_well": "the guardrail caught it",
                "got_lucky": "a low-traffic hour",
            }
        },
    )
    closed = client.post(f"{base}/review/close", json={}, headers=token("bob"))
    assert closed.json()["incident"]["review"]["state"] == "closed"
    text = client.get(f"{base}/review.md", headers=ADMIN).text
    for heading in (
        "## Summary",
        "## Impact",
        "## Detection",
        "## Response",
        "## Decisions",
        "## Root causes",
        "## What went well",
        "## Where we got lucky",
        "## Action items",
    ):
        assert heading in text
    assert "disable answer caching" in text and "[x] add a PII filter" in text
    assert "message.sent by lena" in text and "obligation.submitted by lena" in text
