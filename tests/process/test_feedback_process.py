"""Responder feedback through the real server: the request arrives at the participant's
webhook with a signed link, and the form behind it records the rating without a token."""

from __future__ import annotations

import re
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
  alice: {name: Alice, contacts: [hook]}
  bob: {name: Bob, contacts: [hook]}
teams:
  oncall: {members: [alice, bob]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook"}
tiers:
  sev2: {name: High, ack_within: 30m, ladder: one}
ladders:
  one:
    rungs: [{notify: [team:oncall], escalate_after: 30m}]
rules:
  - {id: leak, match: {kind: privacy_leak}, tier: sev2, type: privacy}
default: {tier: sev2}
feedback: {expires: 2d}
"""


@pytest.fixture
def server(database_url: str, tmp_path: Path, sink: Sink) -> Iterator[ServerProcess]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {
        "SINK_URL": sink.url,
        "ESCALADE_SECRET_KEY": "process-feedback-key",
        "ESCALADE_PUBLIC_URL": PUBLIC,
    }
    proc = ServerProcess(database_url, policy, tmp_path / "server.log", env)
    proc.start()
    yield proc
    proc.stop()


def test_the_link_in_the_request_records_a_rating_without_a_token(
    server: ServerProcess, sink: Sink
) -> None:
    response = server.client.post("/v1/signals", json={"kind": "privacy_leak", "summary": "PII"})
    incident_id = response.json()["signals"][0]["incident_id"]
    sink.wait_for(2)  # alice and bob paged
    for verb in ("acknowledge", "resolve"):
        done = server.client.post(f"/v1/incidents/{incident_id}/{verb}", json={"by": "alice"})
        assert done.status_code == 200, done.text
    [request] = [r.json() for r in sink.wait_for(3)[2:]]
    assert request["recipient"]["person"] == "alice"
    assert request["subject"].startswith("[feedback]")
    link = re.search(r"Rate it here: (\S+)", request["text"])
    assert link is not None and link.group(1).startswith(f"{PUBLIC}/v1/feedback/")
    path = link.group(1).removeprefix(PUBLIC)
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        form = anonymous.get(path)
        assert form.status_code == 200 and 'name="rating"' in form.text
        sent = anonymous.post(
            path,
            content="rating=4&comment=the+second+page+came+fast",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert sent.status_code == 200 and "Thank you" in sent.text
        forged = anonymous.post(path[:-3] + "AAA", json={"rating": 5})
        assert forged.status_code == 403
        ack_link_path = path.replace("/v1/feedback/", "/v1/ack/")
        assert anonymous.post(ack_link_path).status_code == 403  # a feedback link cannot ack
    shown = server.client.get(f"/v1/incidents/{incident_id}").json()
    assert shown["feedback"] == [
        {"person": "alice", "rating": 4, "comment": "the second page came fast"}
    ]
    metrics = server.client.get("/v1/metrics/feedback", params={"by": "team"}).json()
    assert metrics["groups"]["oncall"]["responses"] == 1
    bob = server.client.post(
        f"/v1/incidents/{incident_id}/feedback", json={"rating": 3, "by": "bob"}
    )
    assert bob.status_code == 403 and bob.json()["error"] == "not_a_participant"
