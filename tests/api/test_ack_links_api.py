"""Acknowledge links from a message, used the way a responder uses them: no API token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import FakeClock
from escalade.app import create_app
from escalade.domain.signals import SignalIn
from escalade.engine.acklinks import AckLinks
from escalade.settings import Settings
from support.engines import Harness
from support.policies import BASE
from support.sink import Sink

BASEURL = "https://escalade.example.test"
LINKS = AckLinks("link-signing-key", BASEURL, timedelta(hours=24))
PAGES_ONLY = BASE.replace("roles: [incident_lead, legal_liaison], ", "")
LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}


@pytest.fixture
def paged(harness: Harness, sink: Sink) -> Iterator[tuple[TestClient, str, str]]:
    """A client (no token), an incident, and the ack path from alice's page."""
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url}, ack_links=LINKS)
    worker = harness.worker(service)
    [accepted] = service.ingest(service.accept([SignalIn.model_validate(LEAK)])).accepted
    worker.run_once()
    [page] = sink.wait_for(1)
    link = page.json()["links"]["ack"]
    assert link.startswith(f"{BASEURL}/v1/ack/")
    settings = Settings(database_url=harness.database_url, policy=service.policies.path)
    with TestClient(create_app(replace_engine(settings), service)) as client:
        yield client, str(accepted.incident_id), link.removeprefix(BASEURL)


def replace_engine(settings: Settings) -> Settings:
    return replace(settings, run_engine=False)


def incident(client: TestClient, incident_id: str) -> dict[str, Any]:
    service = client.app.state.escalade  # type: ignore[attr-defined]
    found = service.incident(incident_id)
    assert found is not None
    return dict(found)


def test_get_shows_a_confirmation_and_changes_nothing(
    paged: tuple[TestClient, str, str],
) -> None:
    client, incident_id, path = paged
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert incident_id in page.text and '<form method="post">' in page.text
    assert incident(client, incident_id)["status"] == "triggered"


def test_post_acknowledges_as_the_person_paged_without_an_api_token(
    paged: tuple[TestClient, str, str],
) -> None:
    client, incident_id, path = paged
    answer = client.post(path)
    assert answer.status_code == 200
    assert answer.json() == {
        "incident_id": incident_id,
        "status": "acknowledged",
        "acknowledged_by": "alice",
        "changed": True,
    }
    [ack] = [
        e for e in incident(client, incident_id)["timeline"] if e["kind"] == "incident.acknowledged"
    ]
    assert ack["actor"] == "alice"
    assert client.post(path).json()["changed"] is False  # twice changes nothing


def test_a_forged_link_is_refused_and_an_old_one_has_expired(
    paged: tuple[TestClient, str, str], clock: FakeClock
) -> None:
    client, incident_id, path = paged
    payload, _, signature = path.removeprefix("/v1/ack/").partition(".")
    forged = f"/v1/ack/{payload}.{signature[:-2]}AA"
    refused = client.post(forged)
    assert refused.status_code == 403 and refused.json()["error"] == "invalid_link"
    assert client.get("/v1/ack/not-a-token").status_code == 403
    clock.advance(hours=25)
    expired = client.post(path)
    assert expired.status_code == 410 and expired.json()["error"] == "link_expired"
    assert incident(client, incident_id)["status"] == "triggered"


def test_without_a_secret_key_there_are_no_links(harness: Harness, sink: Sink) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    harness.worker(service)
    settings = Settings(database_url=harness.database_url, policy=service.policies.path)
    with TestClient(create_app(replace_engine(settings), service)) as client:
        token = LINKS.url("inc_x", "alice", service.clock.now()).rsplit("/", 1)[1]
        assert client.post(f"/v1/ack/{token}").status_code == 404
