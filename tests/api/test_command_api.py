"""Incident command through the API: roles, updates, severity, log, action items."""

from collections.abc import Iterator
from datetime import timedelta

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


@pytest.fixture
def ctx(harness: Harness, clock: FakeClock) -> Iterator[tuple[TestClient, Harness]]:
    service = harness.service(text=REFERENCE, env=ENV)
    service.create_token("admin", "admin", "admin-token")
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as c:
        yield c, harness


def incident(client: TestClient, kind: str = "fairness") -> str:
    body = {
        "kind": kind,
        "value": 0.2,
        "labels": {"env": "production", "segment": "a"},
        "subject": {"model": "credit-v7"},
    }
    return str(
        client.post("/v1/signals", json=body, headers=ADMIN).json()["signals"][0]["incident_id"]
    )


def timeline(client: TestClient, incident_id: str) -> list[str]:
    body = client.get(f"/v1/incidents/{incident_id}", headers=ADMIN).json()
    return [e["kind"] for e in body["timeline"]]


def test_role_hand_over_needs_a_reason_and_is_on_the_timeline(ctx) -> None:  # type: ignore[no-untyped-def]
    client, _ = ctx
    inc = incident(client)
    url = f"/v1/incidents/{inc}/roles"
    no_reason = client.post(
        url, json={"role": "incident_lead", "person": "bob", "reason": " "}, headers=ADMIN
    )
    assert no_reason.status_code == 422
    nobody = client.post(
        url, json={"role": "incident_lead", "person": "zed", "reason": "x"}, headers=ADMIN
    )
    assert nobody.status_code == 422 and nobody.json()["error"] == "unknown_person"
    done = client.post(
        url,
        json={"role": "incident_lead", "person": "bob", "reason": "alice is off sick"},
        headers=ADMIN,
    ).json()
    assert done["incident"]["roles"]["incident_lead"] == "bob"
    assert "role.assigned" in timeline(client, inc)


def test_severity_change_fills_the_new_tier_roles_and_restarts_its_ladder(ctx) -> None:  # type: ignore[no-untyped-def]
    client, _ = ctx
    inc = incident(client)
    assert (
        client.post(
            f"/v1/incidents/{inc}/severity", json={"tier": "sev1"}, headers=ADMIN
        ).status_code
        == 422
    )  # a reason is required
    raised = client.post(
        f"/v1/incidents/{inc}/severity",
        json={"tier": "sev1", "reason": "personal data involved"},
        headers=ADMIN,
    ).json()["incident"]
    assert raised["tier"] == "sev1"
    assert {"legal_liaison", "exec_sponsor", "comms_lead"} <= set(raised["roles"])
    assert raised["ladder"]["id"] == "critical"
    kinds = timeline(client, inc)
    assert "severity.changed" in kinds and kinds.count("rung.fired") == 2


def test_status_updates_and_the_decision_log(ctx) -> None:  # type: ignore[no-untyped-def]
    client, _ = ctx
    inc = incident(client)
    update = client.post(
        f"/v1/incidents/{inc}/updates",
        json={"stage": "identified", "message": "segment filter bug"},
        headers=ADMIN,
    ).json()["incident"]
    assert update["stage"] == "identified"
    bad = client.post(
        f"/v1/incidents/{inc}/log", json={"what": "roll back", "why": ""}, headers=ADMIN
    )
    assert bad.status_code == 422
    log = client.post(
        f"/v1/incidents/{inc}/log",
        json={
            "what": "roll back credit-v7 to 7.2",
            "why": "parity gap above threshold",
            "evidence": ["https://dash.example/fairness"],
            "role": "technical_lead",
        },
        headers=ADMIN,
    ).json()["incident"]["decision_log"]
    assert log[0]["evidence"] == ["https://dash.example/fairness"] and log[0]["by"] == "admin"
    unknown = client.post(
        f"/v1/incidents/{inc}/log",
        json={"what": "x", "why": "y", "decision_id": "dec_nope"},
        headers=ADMIN,
    )
    assert unknown.status_code == 422
    resolved = client.post(
        f"/v1/incidents/{inc}/updates",
        json={"stage": "resolved", "message": "fixed"},
        headers=ADMIN,
    )
    assert resolved.json()["incident"]["status"] == "resolved"


def test_action_items_are_reminded_escalated_and_closed_once(ctx, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    client, harness = ctx
    service = client.app.state.escalade  # type: ignore[attr-defined]
    worker = harness.worker(service)
    inc = incident(client)
    due = (clock.now() + timedelta(days=3)).isoformat()
    past = client.post(
        f"/v1/incidents/{inc}/action-items",
        json={"title": "x", "owner": "bob", "due_at": clock.now().isoformat()},
        headers=ADMIN,
    )
    assert past.status_code == 422
    item = client.post(
        f"/v1/incidents/{inc}/action-items",
        json={"title": "add a parity check to CI", "owner": "bob", "due_at": due},
        headers=ADMIN,
    ).json()["incident"]["action_items"][0]
    client.post(f"/v1/incidents/{inc}/resolve", headers=ADMIN)  # follow-ups outlive it
    clock.advance(days=2, hours=1)
    worker.fire_due_timers(clock.now())
    assert "action_item.reminder" in timeline(client, inc)
    clock.advance(days=1)
    worker.fire_due_timers(clock.now())
    assert "action_item.overdue" in timeline(client, inc)
    url = f"/v1/incidents/{inc}/action-items/{item['id']}"
    closed = client.post(url, json={"state": "done", "note": "merged"}, headers=ADMIN)
    assert closed.json()["incident"]["action_items"][0]["state"] == "done"
    again = client.post(url, json={"state": "cancelled"}, headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "item_closed"


def test_missed_updates_escalate_from_the_second_in_a_row(ctx, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    client, harness = ctx
    service = client.app.state.escalade  # type: ignore[attr-defined]
    worker = harness.worker(service)
    inc = incident(client)  # sev2: update_every 1h
    client.post(f"/v1/incidents/{inc}/acknowledge", headers=ADMIN)
    clock.advance(hours=1)
    worker.fire_due_timers(clock.now())
    client.post(
        f"/v1/incidents/{inc}/updates",
        json={"stage": "investigating", "message": "looking"},
        headers=ADMIN,
    )
    clock.advance(hours=1)
    worker.fire_due_timers(clock.now())
    clock.advance(hours=1)
    worker.fire_due_timers(clock.now())
    body = client.get(f"/v1/incidents/{inc}", headers=ADMIN).json()
    due = [e["data"] for e in body["timeline"] if e["kind"] == "update.due"]
    assert [d["missed"] for d in due] == [1, 1, 2]  # the update reset the count
    assert due[1]["reminded"] == due[0]["reminded"]  # the lead alone
    assert due[2]["reminded"] == [*due[1]["reminded"], "role:incident_lead"]  # + exhausted


def test_incident_metrics_json_csv_and_prometheus(ctx, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    client, _ = ctx
    start = clock.now()
    body = {
        "kind": "privacy_leak",
        "subject": {"model": "chat-v2"},
        "occurred_at": (start - timedelta(minutes=4)).isoformat(),
    }
    inc = client.post("/v1/signals", json=body, headers=ADMIN).json()["signals"][0]["incident_id"]
    clock.advance(minutes=3)
    client.post(f"/v1/incidents/{inc}/acknowledge", headers=ADMIN)
    clock.advance(minutes=57)
    client.post(f"/v1/incidents/{inc}/resolve", headers=ADMIN)
    data = client.get("/v1/metrics/incidents?by=tier", headers=ADMIN).json()["groups"]["sev1"]
    assert (data["mttd_seconds"], data["mtta_seconds"], data["mttr_seconds"]) == (240, 180, 3600)
    csv_text = client.get("/v1/metrics/incidents?format=csv", headers=ADMIN).text
    assert csv_text.splitlines()[0].startswith("group,") and "all," in csv_text
    assert client.get("/v1/metrics/incidents?by=colour", headers=ADMIN).status_code == 422
    prom = client.get("/metrics").text
    assert 'escalade_mtta_seconds{tier="sev1"} 180' in prom
