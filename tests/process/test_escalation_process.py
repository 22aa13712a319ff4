"""The whole path through real processes: HTTP in, SQL, worker, HTTP out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from support.server import ServerProcess
from support.sink import Sink

pytestmark = pytest.mark.process

POLICY = """
version: 1
people:
  alice: {name: Alice, contacts: [hook]}
  bob:   {name: Bob, contacts: [hook]}
  carol: {name: Carol, contacts: [hook]}
teams:
  oncall: {members: [bob, carol]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook", secret: "${SINK_SECRET}"}
tiers:
  sev1: {name: Critical, ack_within: 30s, ladder: fast}
ladders:
  fast:
    rungs:
      - {notify: [person:alice], escalate_after: 2s}
      - {notify: [team:oncall], escalate_after: 2s}
      - {notify: [person:alice, team:oncall], escalate_after: 2s}
rules:
  - {id: leak, match: {kind: privacy_leak}, tier: sev1, type: privacy}
default: {tier: sev1}
"""


@pytest.fixture
def server(database_url: str, tmp_path: Path, sink: Sink) -> Iterator[ServerProcess]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"SINK_URL": sink.url, "SINK_SECRET": "s3cret"}
    proc = ServerProcess(database_url, policy, tmp_path / "server.log", env)
    proc.start()
    yield proc
    proc.stop()


def open_incident(server: ServerProcess) -> str:
    response = server.client.post(
        "/v1/signals", json={"kind": "privacy_leak", "summary": "PII in output"}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["signals"][0]["incident_id"])


def rungs(server: ServerProcess, incident_id: str) -> list[dict[str, object]]:
    return [e for e in server.timeline(incident_id) if e["kind"] == "rung.fired"]


def test_unacknowledged_incident_climbs_and_acknowledgement_stops_it(
    server: ServerProcess, sink: Sink
) -> None:
    incident_id = open_incident(server)
    first = sink.wait_for(1)
    assert first[0].json()["recipient"]["person"] == "alice"
    assert first[0].headers["X-Escalade-Delivery"].startswith(incident_id)
    second = sink.wait_for(3, timeout=15)[1:]
    assert sorted(r.json()["recipient"]["person"] for r in second) == ["bob", "carol"]
    fired = rungs(server, incident_id)
    opened_at = datetime.fromisoformat(str(fired[0]["at"]))
    climbed_at = datetime.fromisoformat(str(fired[1]["at"]))
    assert (climbed_at - opened_at).total_seconds() >= 2  # waited for escalate_after
    ack = server.client.post(f"/v1/incidents/{incident_id}/acknowledge", json={"by": "bob"})
    assert ack.status_code == 200 and ack.json()["incident"]["status"] == "acknowledged"
    time.sleep(3)  # longer than escalate_after: rung 3 would have fired by now
    assert len(sink.snapshot()) == 3
    kinds = [e["kind"] for e in server.timeline(incident_id)]
    assert kinds.count("rung.fired") == 2
    assert "incident.acknowledged" in kinds
    assert kinds.count("delivery.sent") == 3
    stamps = [datetime.fromisoformat(str(e["at"])) for e in server.timeline(incident_id)]
    assert stamps == sorted(stamps)


def test_sigkill_while_a_rung_is_pending_fires_it_once_after_restart(
    server: ServerProcess, sink: Sink
) -> None:
    incident_id = open_incident(server)
    sink.wait_for(1)
    server.kill()
    time.sleep(3)  # rung 2 falls due while nothing runs
    server.start()
    received = sink.wait_for(3, timeout=15)
    rung_two = [r for r in received[1:3]]
    assert sorted(r.json()["recipient"]["person"] for r in rung_two) == ["bob", "carol"]
    server.client.post(f"/v1/incidents/{incident_id}/acknowledge")
    time.sleep(1)
    fired = rungs(server, incident_id)
    assert [e["data"]["rung"] for e in fired] == [1, 2]  # type: ignore[index]
    ids = [r.headers["X-Escalade-Delivery"] for r in sink.snapshot()]
    assert len(ids) == len(set(ids)) == 3


def test_api_without_engine_and_a_separate_worker_process(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"SINK_URL": sink.url, "SINK_SECRET": "s3cret"}
    api = ServerProcess(database_url, policy, tmp_path / "api.log", env)
    api.start(30, "--no-engine")
    try:
        incident_id = open_incident(api)
        time.sleep(1)
        assert sink.snapshot() == []  # nothing delivers without an engine
        worker = api.spawn_worker()
        try:
            sink.wait_for(3, timeout=20)  # rung 1, then rung 2 after escalate_after
            assert [e["data"]["rung"] for e in rungs(api, incident_id)][:2] == [1, 2]  # type: ignore[index]
        finally:
            worker.terminate()
            assert worker.wait(timeout=15) == 0  # graceful stop on SIGTERM
    finally:
        api.stop()
