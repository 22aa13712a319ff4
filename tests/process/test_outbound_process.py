"""The real server process, configured from the environment: a Slack page carries a
signed ack link, a plain HTTP client uses it, and PagerDuty hears the acknowledgement."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server import ServerProcess
from support.sink import Sink

pytestmark = pytest.mark.process

PUBLIC = "https://escalade.example.test"
POLICY = """
version: 1
people:
  alice: {name: Alice, contacts: [slack]}
channels:
  slack: {type: slack, url: "${SINK_URL}/slack"}
  pd: {type: pagerduty, url: "${SINK_URL}/pd", routing_key: 0123456789abcdef0123456789abcdef}
tiers:
  sev2: {name: High, ack_within: 30m, ladder: one}
ladders:
  one:
    rungs:
      - {notify: [person:alice, channel:pd], escalate_after: 30m}
rules:
  - {id: leak, match: {kind: privacy_leak}, tier: sev2, type: privacy}
default: {tier: sev2}
"""


@pytest.fixture
def server(database_url: str, tmp_path: Path, sink: Sink) -> Iterator[ServerProcess]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {
        "SINK_URL": sink.url,
        "ESCALADE_SECRET_KEY": "process-link-key",
        "ESCALADE_PUBLIC_URL": PUBLIC,
        "ESCALADE_ACK_LINK_TTL": "1h",
    }
    proc = ServerProcess(database_url, policy, tmp_path / "server.log", env)
    proc.start()
    yield proc
    proc.stop()


def test_an_ack_link_from_slack_acknowledges_and_pagerduty_follows(
    server: ServerProcess, sink: Sink
) -> None:
    response = server.client.post("/v1/signals", json={"kind": "privacy_leak", "summary": "PII"})
    assert response.status_code == 202, response.text
    incident_id = response.json()["signals"][0]["incident_id"]
    pages = {r.path: r.json() for r in sink.wait_for(2)}
    assert pages["/pd"]["event_action"] == "trigger" and pages["/pd"]["dedup_key"] == incident_id
    [button] = pages["/slack"]["blocks"][-1]["elements"]
    assert button["url"].startswith(f"{PUBLIC}/v1/ack/")
    path = button["url"].removeprefix(PUBLIC)
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:  # no bearer token
        assert anonymous.get("/v1/incidents").status_code == 401
        confirm = anonymous.get(path, headers={"Accept": "text/html"})
        assert confirm.status_code == 200 and "Acknowledge" in confirm.text
        done = anonymous.post(path)
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "alice"
    follow_up = sink.wait_for(3)[2].json()
    assert follow_up == {
        "routing_key": "0123456789abcdef0123456789abcdef",
        "event_action": "acknowledge",
        "dedup_key": incident_id,
    }
    deadline = time.monotonic() + 10  # the worker records the send just after it
    while (kinds := [e["kind"] for e in server.timeline(incident_id)]).count("delivery.sent") < 3:
        assert time.monotonic() < deadline, kinds
        time.sleep(0.05)
    assert "incident.acknowledged" in kinds
