"""AI systems, model versions with their cards, and risks opened from incidents."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import FakeClock
from escalade.app import create_app
from escalade.settings import Settings
from support.engines import Harness

ADMIN = {"Authorization": "Bearer admin-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
CARD = {
    "owner": "alice",
    "intended_use": "answering support questions",
    "out_of_scope_use": "medical or legal advice",
    "known_limits": "English only",
    "data_lineage": "support tickets 2024-2026, PII scrubbed",
}


@pytest.fixture
def client(harness: Harness, clock: FakeClock) -> Iterator[TestClient]:
    service = harness.service()
    service.create_token("admin", "admin", "admin-token")
    service.create_token("viewer", "viewer", "viewer-token")
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as c:
        yield c


def test_registered_model_card_shows_on_incidents_about_it(client: TestClient) -> None:
    system = {"name": "Support chat", "owner": "alice", "description": "customer chatbot"}
    assert client.put("/v1/systems/support-chat", json=system, headers=VIEWER).status_code == 403
    assert client.put("/v1/systems/support-chat", json=system, headers=ADMIN).status_code == 200
    url = "/v1/systems/support-chat/models/chat-v2/versions/2.1.0"
    assert client.put(url, json=CARD, headers=ADMIN).json()["intended_use"] == CARD["intended_use"]
    orphan = client.put("/v1/systems/nope/models/m/versions/1", json=CARD, headers=ADMIN)
    assert orphan.status_code == 404
    stranger = client.put(url, json={**CARD, "owner": "zed"}, headers=ADMIN)
    assert stranger.status_code == 422 and "zed" in stranger.json()["message"]
    shown = client.get("/v1/systems/support-chat", headers=VIEWER).json()
    assert [(m["model"], m["version"]) for m in shown["models"]] == [("chat-v2", "2.1.0")]

    signal = {
        "kind": "privacy_leak",
        "subject": {"system": "support-chat", "model": "chat-v2", "version": "2.1.0"},
    }
    inc = client.post("/v1/signals", json=signal, headers=ADMIN).json()["signals"][0]["incident_id"]
    incident = client.get(f"/v1/incidents/{inc}", headers=VIEWER).json()
    assert incident["model_card"]["version"] == "2.1.0"
    assert incident["model_card"]["out_of_scope_use"] == "medical or legal advice"


def test_a_risk_register_entry_opened_from_an_incident(client: TestClient) -> None:
    signal = {"kind": "privacy_leak", "subject": {"system": "support-chat", "model": "chat-v2"}}
    inc = client.post("/v1/signals", json=signal, headers=ADMIN).json()["signals"][0]["incident_id"]
    body = {"title": "answers may echo other customers' data", "severity": "high", "owner": "bob"}
    assert client.post(f"/v1/incidents/{inc}/risks", json=body, headers=VIEWER).status_code == 403
    created = client.post(f"/v1/incidents/{inc}/risks", json=body, headers=ADMIN)
    assert created.status_code == 201
    [risk] = client.get("/v1/risks", headers=VIEWER).json()["risks"]
    assert (risk["incident_id"], risk["model"], risk["system_id"]) == (
        inc,
        "chat-v2",
        "support-chat",
    )
    shown = client.get(f"/v1/incidents/{inc}", headers=VIEWER).json()
    assert shown["risks"][0]["title"] == body["title"]
    assert "risk.opened" in [e["kind"] for e in shown["timeline"]]
    missing = client.post("/v1/incidents/inc_nope/risks", json=body, headers=ADMIN)
    assert missing.status_code == 404
