"""Facts, decisions, votes and submissions through the HTTP API, forbidden moves included."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import ROOT, FakeClock
from escalade.app import create_app
from escalade.settings import Settings
from support.engines import Harness

REFERENCE = (ROOT / "examples/policies/reference.yaml").read_text()
ENV = {
    "SMTP_HOST": "127.0.0.1",
    "OPS_HOOK_URL": "http://127.0.0.1:9/h",
    "OPS_HOOK_SECRET": "s",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/s",
}
ADMIN = {"Authorization": "Bearer admin-token"}
BOB = {"Authorization": "Bearer bob-token"}
ALICE = {"Authorization": "Bearer alice-token"}
LENA = {"Authorization": "Bearer lena-token"}


@pytest.fixture
def client(harness: Harness, clock: FakeClock) -> Iterator[TestClient]:
    service = harness.service(text=REFERENCE, env=ENV)
    service.create_token("admin", "admin", "admin-token")
    for person in ("bob", "alice", "lena"):
        service.create_token(person, "responder", f"{person}-token")
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as c:
        yield c


def open_leak(client: TestClient) -> str:
    body = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}}
    return str(
        client.post("/v1/signals", json=body, headers=ADMIN).json()["signals"][0]["incident_id"]
    )


def test_decision_lifecycle_with_its_forbidden_moves(client: TestClient) -> None:
    incident = open_leak(client)
    shown = client.get(f"/v1/incidents/{incident}", headers=ADMIN).json()
    assert shown["evidence_hold"] is True
    assert shown["obligations"][0]["regime"] == "gdpr-art33"

    blocked = client.post(
        f"/v1/incidents/{incident}/decisions", json={"action": "rollback_model"}, headers=BOB
    ).json()
    assert blocked["incident"]["decisions"][-1]["status"] == "blocked"

    halt = client.post(
        f"/v1/incidents/{incident}/decisions",
        json={"action": "halt_data_collection", "args": {"stream": "chat"}},
        headers=BOB,
    ).json()["incident"]["decisions"][-1]
    votes = f"/v1/incidents/{incident}/decisions/{halt['id']}/votes"
    own = client.post(votes, json={"approve": True}, headers=BOB)
    assert own.status_code == 403 and own.json()["error"] == "requester_cannot_approve"
    impersonation = client.post(votes, json={"approve": True, "by": "lena"}, headers=ALICE)
    assert impersonation.status_code == 403
    assert client.post(votes, json={"approve": True}, headers=ALICE).status_code == 200
    twice = client.post(votes, json={"approve": True}, headers=ALICE)
    assert twice.status_code == 409 and twice.json()["error"] == "already_voted"
    done = client.post(votes, json={"approve": True}, headers=LENA).json()
    decided = done["incident"]["decisions"][-1]
    assert decided["status"] == "approved" and decided["args"] == {"stream": "chat"}
    late = client.post(votes, json={"approve": False}, headers=LENA)
    assert late.status_code == 409

    unknown = client.post(
        f"/v1/incidents/{incident}/decisions", json={"action": "launch"}, headers=BOB
    )
    assert unknown.status_code == 409 and unknown.json()["error"] == "no_such_right"


def test_facts_and_submissions_drive_the_clocks(client: TestClient) -> None:
    incident = open_leak(client)
    fact = client.post(
        f"/v1/incidents/{incident}/facts", json={"name": "materiality_determined"}, headers=LENA
    )
    assert fact.status_code == 200
    assert fact.json()["incident"]["facts"]["materiality_determined"]["by"] == "lena"
    done = client.post(
        f"/v1/incidents/{incident}/obligations/gdpr-art33/submit", json={}, headers=LENA
    ).json()["incident"]
    assert done["obligations"][0]["status"] == "submitted"
    assert done["evidence_hold"] is True  # the flag stays; the hold itself is lifted
    kinds = [
        e["kind"] for e in client.get(f"/v1/incidents/{incident}", headers=ADMIN).json()["timeline"]
    ]
    assert "obligation.submitted" in kinds and "evidence_hold.lifted" in kinds
    missing = client.post(
        f"/v1/incidents/{incident}/obligations/hipaa-breach/submit", json={}, headers=LENA
    )
    assert missing.status_code == 409
    bad = client.post(f"/v1/incidents/{incident}/facts", json={"name": "Bad Name"}, headers=LENA)
    assert bad.status_code == 422


def test_an_internal_briefing_does_not_lift_the_evidence_hold(client: TestClient) -> None:
    incident = open_leak(client)
    briefed = client.post(
        f"/v1/incidents/{incident}/obligations/exec-briefing/submit", json={}, headers=LENA
    )
    assert briefed.status_code == 200
    blocked = client.post(
        f"/v1/incidents/{incident}/decisions", json={"action": "rollback_model"}, headers=BOB
    ).json()
    assert blocked["incident"]["decisions"][-1]["status"] == "blocked"  # regulator not told yet
    client.post(f"/v1/incidents/{incident}/obligations/gdpr-art33/submit", json={}, headers=LENA)
    allowed = client.post(
        f"/v1/incidents/{incident}/decisions", json={"action": "rollback_model"}, headers=BOB
    ).json()
    assert allowed["incident"]["decisions"][-1]["status"] == "pending"
