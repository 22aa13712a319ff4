from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from conftest import FakeClock
from escalade.api.signals import wants_async
from escalade.app import create_app
from escalade.settings import Settings
from escalade.storage import inbox
from escalade.storage.schema import incidents, signals
from support.engines import Harness

ADMIN = {"Authorization": "Bearer admin-token"}
LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}


@pytest.fixture
def client(harness: Harness, clock: FakeClock) -> Iterator[TestClient]:
    service = harness.service()
    service.create_token("admin", "admin", "admin-token")
    service.create_token("viewer", "viewer", "viewer-token")
    service.create_token("monitor", "ingest", "ingest-token")
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as c:
        yield c


def stored(client: TestClient) -> tuple[int, int]:
    service = client.app.state.escalade  # type: ignore[attr-defined]
    with service.db.connect() as conn:
        n_signals = conn.execute(select(func.count()).select_from(signals)).scalar_one()
        n_incidents = conn.execute(select(func.count()).select_from(incidents)).scalar_one()
    return n_signals, n_incidents


def test_writes_need_a_valid_token_with_the_right_scope(client: TestClient) -> None:
    assert client.post("/v1/signals", json=LEAK).status_code == 401
    bad = client.post("/v1/signals", json=LEAK, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    viewer = {"Authorization": "Bearer viewer-token"}
    assert client.post("/v1/signals", json=LEAK, headers=viewer).status_code == 403
    ingest = {"Authorization": "Bearer ingest-token"}
    assert client.post("/v1/signals", json=LEAK, headers=ingest).status_code == 202
    assert client.get("/v1/incidents", headers=ingest).status_code == 403
    assert client.get("/v1/incidents", headers=viewer).status_code == 200


def test_a_single_signal_and_a_batch_are_accepted(client: TestClient) -> None:
    one = client.post("/v1/signals", json=LEAK, headers=ADMIN)
    assert one.status_code == 202
    assert one.json()["signals"][0]["incident_id"]
    batch = client.post("/v1/signals", json={"signals": [LEAK, LEAK]}, headers=ADMIN)
    assert batch.status_code == 202 and batch.json()["accepted"] == 2
    assert stored(client) == (3, 1)


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"summary": "no kind"}, "kind", 422),
        ({**LEAK, "lables": {"env": "x"}}, "lables", 422),
        ({**LEAK, "value": "high"}, "value", 422),
        ({**LEAK, "subject": {"model": 7}}, "subject.model", 422),
        ({**LEAK, "occurred_at": "2026-11-23T10:00:00"}, "occurred_at", 422),
        ({"signals": [LEAK, {**LEAK, "value": "x"}]}, "signals[1].value", 422),
        ({"signals": []}, "signals", 422),
        ([LEAK], "", 422),
    ],
)
def test_malformed_signals_are_rejected_whole_naming_the_field(
    client: TestClient, body: object, field: str, status: int
) -> None:
    response = client.post("/v1/signals", json=body, headers=ADMIN)
    assert response.status_code == status
    payload = response.json()
    assert field in payload["message"]
    assert stored(client) == (0, 0)


def test_invalid_json_is_a_400(client: TestClient) -> None:
    response = client.post("/v1/signals", content=b"{kind:", headers=ADMIN)
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    assert stored(client) == (0, 0)


def test_incident_list_show_acknowledge_resolve(client: TestClient) -> None:
    incident_id = client.post("/v1/signals", json=LEAK, headers=ADMIN).json()["signals"][0][
        "incident_id"
    ]
    listed = client.get("/v1/incidents?status=open", headers=ADMIN).json()["incidents"]
    assert [i["id"] for i in listed] == [incident_id]
    shown = client.get(f"/v1/incidents/{incident_id}", headers=ADMIN).json()
    assert shown["timeline"][0]["kind"] == "incident.opened"
    assert shown["signals"][0]["summary"] == "PII"
    ack = client.post(
        f"/v1/incidents/{incident_id}/acknowledge", json={"by": "alice"}, headers=ADMIN
    )
    assert ack.status_code == 200 and ack.json()["incident"]["status"] == "acknowledged"
    again = client.post(f"/v1/incidents/{incident_id}/acknowledge", headers=ADMIN)
    assert again.status_code == 200 and again.json()["changed"] is False
    done = client.post(f"/v1/incidents/{incident_id}/resolve", headers=ADMIN)
    assert done.json()["incident"]["status"] == "resolved"
    late = client.post(f"/v1/incidents/{incident_id}/acknowledge", headers=ADMIN)
    assert late.status_code == 409
    assert client.post("/v1/incidents/inc_nope/resolve", headers=ADMIN).status_code == 404
    assert client.get("/v1/incidents?status=resolved", headers=ADMIN).json()["incidents"]


def test_viewer_cannot_acknowledge(client: TestClient) -> None:
    incident_id = client.post("/v1/signals", json=LEAK, headers=ADMIN).json()["signals"][0][
        "incident_id"
    ]
    viewer = {"Authorization": "Bearer viewer-token"}
    response = client.post(f"/v1/incidents/{incident_id}/acknowledge", headers=viewer)
    assert response.status_code == 403


def test_broken_policy_reload_keeps_the_running_policy(client: TestClient, tmp_path: Path) -> None:
    service = client.app.state.escalade  # type: ignore[attr-defined]
    before = service.policy.digest
    path: Path = service.policies.path
    good = path.read_text()
    path.write_text(good.replace("ladder: critical", "ladder: critcal"))
    response = client.post("/v1/policy/reload", headers=ADMIN)
    assert response.status_code == 422
    assert any("critcal" in e and ":" in e for e in response.json()["errors"])
    assert service.policy.digest == before
    assert client.post("/v1/signals", json=LEAK, headers=ADMIN).status_code == 202
    path.write_text(good + "\n# touched\n")
    assert client.post("/v1/policy/reload", headers=ADMIN).status_code == 200
    assert service.policy.digest != before


def test_health_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    client.post("/v1/signals", json=LEAK, headers=ADMIN)
    text = client.get("/metrics").text
    assert "escalade_incidents_open 1" in text
    assert "escalade_inbox_depth 0" in text
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"
    # Every sample is a number under a HELP and a TYPE; each queue says how late it is.
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
            assert f"# TYPE {name.split('{')[0]} gauge" in text
    for name in (
        "escalade_timers_overdue_seconds",
        "escalade_inbox_oldest_seconds",
        "escalade_deliveries_overdue_seconds",
        'escalade_workers{status="alive"}',
        'escalade_workers{status="stale"}',
        'escalade_workers{status="stopped"}',
    ):
        assert name in samples


ASYNC = {**ADMIN, "Prefer": "respond-async"}


def test_respond_async_queues_durably_and_the_worker_routes_once(
    client: TestClient, harness: Harness
) -> None:
    body = {"signals": [{**LEAK, "id": "leak-1"}, {**LEAK, "id": "leak-2"}]}
    response = client.post("/v1/signals", json=body, headers=ASYNC)
    assert response.status_code == 202
    assert response.headers["Preference-Applied"] == "respond-async"
    answers = response.json()["signals"]
    assert [(a["id"], a["routed"], a["incident_id"]) for a in answers] == [
        ("leak-1", False, None),
        ("leak-2", False, None),
    ]
    assert stored(client) == (0, 0)  # durable in the inbox, not yet routed
    waiting = client.get("/v1/signals/leak-1", headers=ADMIN).json()
    assert waiting["routed"] is False and waiting["summary"] == "PII"
    # A re-post while queued is a duplicate, in either mode.
    again = client.post("/v1/signals", json={**LEAK, "id": "leak-1"}, headers=ASYNC)
    assert again.json()["signals"][0]["duplicate"] is True
    service = client.app.state.escalade  # type: ignore[attr-defined]
    worker = harness.worker(service)
    assert worker.route_inbox(service.clock.now()) == 0  # two of a batch: wait for more
    assert worker.route_inbox(service.clock.advance(seconds=1)) == 2
    assert worker.route_inbox(service.clock.now()) == 0
    assert stored(client) == (2, 1)
    routed = client.get("/v1/signals/leak-2", headers=ADMIN).json()
    assert routed["routed"] is True and routed["incident_id"]
    after = client.post("/v1/signals", json={**LEAK, "id": "leak-2"}, headers=ASYNC)
    assert after.json() == {
        "accepted": 0,
        "signals": [
            {
                "id": "leak-2",
                "incident_id": None,
                "duplicate": True,
                "silenced_by": None,
                "routed": False,
            }
        ],
    }
    assert stored(client) == (2, 1)


def test_respond_async_rejects_malformed_and_unauthorised_bodies_whole(
    client: TestClient,
) -> None:
    bad = client.post("/v1/signals", json={"signals": [LEAK, {"kind": ""}]}, headers=ASYNC)
    assert bad.status_code == 422 and "signals[1].kind" in bad.json()["message"]
    viewer = {"Authorization": "Bearer viewer-token", "Prefer": "respond-async"}
    assert client.post("/v1/signals", json=LEAK, headers=viewer).status_code == 403
    missing = client.post("/v1/signals", json=LEAK, headers={"Prefer": "respond-async"})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    service = client.app.state.escalade  # type: ignore[attr-defined]
    assert service.signal("anything") is None
    with service.db.connect() as conn:
        assert inbox.depth(conn) == 0


@pytest.mark.parametrize(
    ("header", "queued"),
    [
        ("respond-async", True),
        ("wait=5, respond-async", True),
        ("Respond-Async; x=1", True),
        ("return=minimal", False),
        ("", False),
    ],
)
def test_prefer_header_parsing(header: str, queued: bool) -> None:
    assert wants_async(header) is queued
