"""Inbound integrations over HTTP: keys, scopes, and PagerDuty's semantics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import FakeClock
from escalade.app import create_app
from escalade.settings import Settings
from support.engines import Harness

ADMIN = {"Authorization": "Bearer admin-token"}


@pytest.fixture
def client(harness: Harness, clock: FakeClock) -> Iterator[TestClient]:
    service = harness.service()
    service.create_token("admin", "admin", "admin-token")
    service.create_token("monitor", "ingest", "ingest-token")
    settings = Settings(
        database_url=harness.database_url,
        policy=service.policies.path,
        run_engine=False,
        integration_rate_limit=8,
    )
    with TestClient(create_app(settings, service)) as c:
        yield c


def integration(client: TestClient, kind: str, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/integrations", json={"name": f"{kind}-test", "kind": kind, **extra}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert len(body["key"]) == 32
    return body


def event(key: str, action: str, dedup: str | None = "k1", **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": key, "event_action": action}
    if dedup is not None:
        body["dedup_key"] = dedup
    if action == "trigger":
        body["payload"] = {"summary": "Drift on fraud-v3", "source": "mon", "severity": "error"}
        body["payload"].update(payload)
    return body


def incident(client: TestClient, incident_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}", headers=ADMIN).json()
    return found


def enqueue(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v2/enqueue", json=body)
    assert response.status_code == 202, response.text
    out: dict[str, Any] = response.json()
    return out


def test_admins_create_list_and_revoke_integrations(client: TestClient) -> None:
    made = integration(client, "pagerduty")
    assert (
        client.post(
            "/v1/integrations",
            json={"name": "x", "kind": "pagerduty"},
            headers={"Authorization": "Bearer ingest-token"},
        ).status_code
        == 403
    )
    listed = client.get("/v1/integrations", headers=ADMIN).json()["integrations"]
    assert [(i["id"], i["kind"], i["revoked_at"]) for i in listed] == [
        (made["id"], "pagerduty", None)
    ]
    assert "key" not in listed[0] and made["key"] not in str(listed)
    assert client.delete(f"/v1/integrations/{made['id']}", headers=ADMIN).status_code == 204
    assert client.delete(f"/v1/integrations/{made['id']}", headers=ADMIN).status_code == 404
    refused = client.post("/v2/enqueue", json=event(made["key"], "trigger"))
    assert refused.status_code == 400 and refused.json()["errors"] == ["Invalid routing key"]


def test_a_revoked_key_is_refused_at_once_by_the_revoking_process(client: TestClient) -> None:
    pd = integration(client, "pagerduty")
    am = integration(client, "alertmanager")
    enqueue(client, event(pd["key"], "trigger"))  # both keys are now in the key cache
    url = f"/v1/integrations/alertmanager?key={am['key']}"
    assert client.post(url, json=ALERTS).status_code == 202
    for made in (pd, am):
        assert client.delete(f"/v1/integrations/{made['id']}", headers=ADMIN).status_code == 204
    refused = client.post("/v2/enqueue", json=event(pd["key"], "trigger"))
    assert refused.status_code == 400 and refused.json()["errors"] == ["Invalid routing key"]
    assert client.post(url, json=ALERTS).status_code == 401


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"name": "x", "kind": "nagios"}, "kind"),
        ({"name": "x", "kind": "webhook"}, "mapping"),
        ({"name": "x", "kind": "webhook", "mapping": {"signal": {"summary": "a"}}}, "signal.kind"),
        ({"name": "x", "kind": "pagerduty", "mapping": {"signal": {}}}, "mapping"),
    ],
)
def test_bad_integrations_are_refused_naming_the_field(
    client: TestClient, body: dict[str, Any], names: str
) -> None:
    response = client.post("/v1/integrations", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert names in response.json()["message"]


def test_pagerduty_trigger_ack_resolve_and_retrigger(client: TestClient) -> None:
    key = integration(client, "pagerduty")["key"]
    first = enqueue(client, event(key, "trigger"))
    assert first == {"status": "success", "message": "Event processed", "dedup_key": "k1"}
    enqueue(client, event(key, "trigger"))  # joins the open alert
    incidents = client.get("/v1/incidents", headers=ADMIN).json()["incidents"]
    assert len(incidents) == 1 and incidents[0]["signal_count"] == 2
    opened = incidents[0]["id"]
    enqueue(client, event(key, "acknowledge"))
    assert incident(client, opened)["status"] == "acknowledged"
    assert incident(client, opened)["acknowledged_by"] == "integration:pagerduty-test"
    enqueue(client, event(key, "resolve"))
    assert incident(client, opened)["status"] == "resolved"
    enqueue(client, event(key, "resolve"))  # a resolved key: dropped, still 202
    enqueue(client, event(key, "trigger"))  # after resolve: a new incident
    after = client.get("/v1/incidents", headers=ADMIN).json()["incidents"]
    assert len(after) == 2 and {i["status"] for i in after} == {"resolved", "triggered"}


def test_the_v1_service_key_shape(client: TestClient) -> None:
    key = integration(client, "pagerduty")["key"]
    v1 = {"service_key": key, "event_type": "trigger", "incident_key": "abc", "description": "Down"}
    response = client.post("/v2/enqueue", json=v1)
    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "incident_key": "abc",
    }
    enqueue(client, {"service_key": key, "event_type": "resolve", "incident_key": "abc"})
    (only,) = client.get("/v1/incidents", headers=ADMIN).json()["incidents"]
    assert (only["title"], only["status"]) == ("Down", "resolved")


def test_a_trigger_without_dedup_key_gets_one_back(client: TestClient) -> None:
    key = integration(client, "pagerduty")["key"]
    made = enqueue(client, event(key, "trigger", dedup=None))["dedup_key"]
    assert len(made) == 32
    enqueue(client, event(key, "resolve", dedup=made))
    (only,) = client.get("/v1/incidents", headers=ADMIN).json()["incidents"]
    assert only["status"] == "resolved"


def test_unknown_keys_and_other_integrations_keys_are_dropped(client: TestClient) -> None:
    mine = integration(client, "pagerduty")["key"]
    theirs = integration(client, "pagerduty")["key"]
    enqueue(client, event(mine, "trigger"))
    enqueue(client, event(mine, "acknowledge", dedup="never-seen"))
    enqueue(client, event(theirs, "resolve"))  # same dedup_key, other routing key
    (only,) = client.get("/v1/incidents", headers=ADMIN).json()["incidents"]
    assert only["status"] == "triggered"


def test_pagerduty_errors_have_pagerdutys_bodies(client: TestClient) -> None:
    key = integration(client, "pagerduty")["key"]
    bad = client.post("/v2/enqueue", json=event(key, "trigger", summary="x" * 1025))
    assert bad.status_code == 400
    assert bad.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["payload.summary: Summary is too long (maximum is 1024 characters)"],
    }
    missing = client.post("/v2/enqueue", json=event(key, "resolve", dedup=None))
    assert missing.json()["errors"] == ["'dedup_key' is required for resolve events"]
    huge = event(key, "trigger", custom_details={"blob": "x" * 530_000})
    assert client.post("/v2/enqueue", json=huge).status_code == 400
    assert client.post("/v2/enqueue", content=b"{not json").status_code == 400
    assert client.get("/v1/incidents", headers=ADMIN).json()["incidents"] == []


def test_over_the_rate_limit_is_429_with_retry_after(client: TestClient) -> None:
    key = integration(client, "pagerduty")["key"]
    for _ in range(8):
        enqueue(client, event(key, "trigger"))
    throttled = client.post("/v2/enqueue", json=event(key, "trigger"))
    assert throttled.status_code == 429
    assert throttled.json()["status"] == "throttle event"
    assert int(throttled.headers["retry-after"]) >= 1
    other = integration(client, "pagerduty")["key"]
    enqueue(client, event(other, "trigger"))


def test_integration_keys_only_work_on_their_own_endpoint(client: TestClient) -> None:
    pd = integration(client, "pagerduty")["key"]
    am = integration(client, "alertmanager")["key"]
    signal = {"kind": "drift"}
    assert (
        client.post(
            "/v1/signals", json=signal, headers={"Authorization": f"Bearer {pd}"}
        ).status_code
        == 401
    )
    assert client.get("/v1/incidents", headers={"Authorization": f"Bearer {am}"}).status_code == 401
    wrong = client.post(
        "/v1/integrations/alertmanager", json={}, headers={"Authorization": f"Bearer {pd}"}
    )
    assert wrong.status_code == 401
    assert client.post("/v2/enqueue", json=event(am, "trigger")).status_code == 400
    assert client.post("/v1/integrations/alertmanager", json={}).status_code == 401


ALERTS: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}:{alertname="DriftHigh"}',
    "status": "firing",
    "receiver": "escalade",
    "truncatedAlerts": 0,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DriftHigh", "model": "fraud-v3"},
            "annotations": {"summary": "PSI 0.31"},
            "startsAt": "2026-11-23T09:59:00Z",
            "fingerprint": "3f1c2a9b7d0e4f11",
        }
    ],
}


def test_alertmanager_webhook_opens_then_resolves(client: TestClient) -> None:
    key = integration(client, "alertmanager")["key"]
    url = f"/v1/integrations/alertmanager?key={key}"
    first = client.post(url, json=ALERTS)
    assert first.status_code == 202, first.text
    opened = first.json()["results"][0]["incident_id"]
    again = client.post(
        "/v1/integrations/alertmanager", json=ALERTS, headers={"Authorization": f"Bearer {key}"}
    )
    assert again.json()["results"][0]["incident_id"] == opened
    assert incident(client, opened)["signal_count"] == 1  # the repeat is the same signal
    resolved = {
        **ALERTS,
        "status": "resolved",
        "alerts": [{**ALERTS["alerts"][0], "status": "resolved"}],
    }
    assert client.post(url, json=resolved).status_code == 202
    assert incident(client, opened)["status"] == "resolved"
    bad = client.post(url, json={**ALERTS, "groupKey": 7})
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"field": "groupKey", "message": "required: a non-empty string"}
    ]


def test_evidently_and_webhook_endpoints(client: TestClient) -> None:
    key = integration(client, "evidently")["key"]
    suite = {
        "tests": [
            {"name": "Share of Drifted Columns", "status": "FAIL", "parameters": {"value": 0.5}}
        ]
    }
    response = client.post(f"/v1/integrations/evidently?key={key}&model=credit-v7", json=suite)
    assert response.status_code == 202, response.text
    found = incident(client, response.json()["results"][0]["incident_id"])
    assert found["subject"] == {"model": "credit-v7"}
    mapping = {
        "signal": {"kind": "'harm_report'", "summary": "title", "dedup_key": "id"},
        "resolve": "state == 'ok'",
    }
    hook = integration(client, "webhook", mapping=mapping)["key"]
    url = f"/v1/integrations/webhook?key={hook}"
    made = client.post(url, json={"id": "A1", "title": "Toxic answer", "state": "alerting"})
    assert made.status_code == 202, made.text
    opened = made.json()["results"][0]["incident_id"]
    assert incident(client, opened)["title"] == "Toxic answer"
    client.post(url, json={"id": "A1", "title": "Toxic answer", "state": "ok"})
    assert incident(client, opened)["status"] == "resolved"
    bad = client.post(url, json={"id": "A2", "title": ["not", "text"]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "signal.summary"


def test_grafana_webhook_carries_the_query_value(client: TestClient) -> None:
    key = integration(client, "grafana")["key"]
    alert = {**ALERTS["alerts"][0], "values": {"B": 0.42}, "dashboardURL": "http://grafana/d/x"}
    body = {**ALERTS, "version": "1", "orgId": 1, "title": "[FIRING:1]", "alerts": [alert]}
    response = client.post(
        "/v1/integrations/grafana", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 202, response.text
    found = incident(client, response.json()["results"][0]["incident_id"])
    (signal,) = found["signals"]
    assert signal["value"] == 0.42 and signal["details"]["tool"] == "grafana"


def test_a_resolved_grafana_alert_resolves_its_incident(client: TestClient) -> None:
    key = integration(client, "grafana")["key"]
    url = f"/v1/integrations/grafana?key={key}"
    alert = {**ALERTS["alerts"][0], "values": {"B": 0.42}, "dashboardURL": "http://grafana/d/x"}
    firing = {**ALERTS, "version": "1", "orgId": 1, "title": "[FIRING:1]", "alerts": [alert]}
    opened = client.post(url, json=firing).json()["results"][0]["incident_id"]
    assert incident(client, opened)["status"] == "triggered"
    ended = {**alert, "status": "resolved", "endsAt": "2026-11-23T10:09:00Z", "values": None}
    resolved = {**firing, "status": "resolved", "title": "[RESOLVED]", "alerts": [ended]}
    response = client.post(url, json=resolved)
    assert response.status_code == 202, response.text
    [done] = response.json()["results"]
    assert done == {
        "action": "resolve",
        "dedup_key": ALERTS["groupKey"],
        "incident_id": opened,
        "dropped": False,
    }
    found = incident(client, opened)
    assert found["status"] == "resolved" and found["resolved_by"] == "integration:grafana-test"


def test_alertmanager_over_the_rate_limit_gets_429_with_retry_after(client: TestClient) -> None:
    """Alertmanager's webhook_configs does not retry a 429: the group is sent again at
    its next group_interval (docs/integrations.md says so)."""
    key = integration(client, "alertmanager")["key"]
    url = f"/v1/integrations/alertmanager?key={key}"
    for _ in range(8):
        assert client.post(url, json=ALERTS).status_code == 202
    throttled = client.post(url, json=ALERTS)
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "rate_limited"
    assert int(throttled.headers["retry-after"]) >= 1
