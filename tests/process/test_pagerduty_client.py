"""The maintained PagerDuty client from PyPI (`pagerduty`) pointed at Escalade.

The client speaks only https, as PagerDuty does, so Escalade runs under uvicorn
with a certificate from a throwaway CA (trustme) that the client trusts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pagerduty
import pytest

from support.peers import POLICY, TLSServer, create_integration
from support.server import TOKEN, ServerProcess
from support.sink import Sink

pytestmark = pytest.mark.process


@pytest.fixture
def tls(database_url: str, tmp_path: Path, sink: Sink) -> Iterator[TLSServer]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    process = ServerProcess(database_url, policy, tmp_path / "server.log", {"SINK_URL": sink.url})
    server = TLSServer(process, tmp_path)
    server.start()
    yield server
    server.stop()
    process.stop()


def incidents(tls: TLSServer) -> list[dict[str, Any]]:
    with httpx.Client(
        base_url=tls.url, verify=tls.context, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        found: list[dict[str, Any]] = client.get("/v1/incidents").json()["incidents"]
        return found


def test_trigger_acknowledge_resolve_as_against_pagerduty(tls: TLSServer) -> None:
    key = create_integration(tls.server, "pagerduty", "ml-monitor")
    events = pagerduty.EventsApiV2Client(key, base_url=tls.url, verify=tls.context)
    details = {"metric": "demographic_parity_diff", "value": 0.14, "threshold": 0.10}
    dedup = events.trigger(
        "Fairness breach: parity gap 0.14 > 0.10 on credit-v7",
        "ml-monitor.prod.example.com",
        dedup_key="model:credit-v7/fairness",
        severity="critical",
        payload={"class": "fairness_drift", "component": "credit-v7", "group": "lending"},
        custom_details=details,
        links=[{"href": "https://dash.example.com/fairness", "text": "Fairness dashboard"}],
    )
    assert dedup == "model:credit-v7/fairness"
    (opened,) = incidents(tls)
    assert opened["status"] == "triggered" and opened["tier"] == "sev1"
    assert opened["title"].startswith("Fairness breach")

    assert events.trigger("again", "ml-monitor", dedup_key=dedup) == dedup  # joins the open alert
    assert events.acknowledge(dedup) == dedup
    (acked,) = incidents(tls)
    assert (acked["id"], acked["status"], acked["signal_count"]) == (
        opened["id"],
        "acknowledged",
        2,
    )

    events.resolve(dedup)
    assert incidents(tls)[0]["status"] == "resolved"
    events.resolve(dedup)  # a resolved key: accepted and dropped, as PagerDuty does

    generated = events.trigger("Toxicity rate up", "chat-monitor")  # no dedup key given
    assert len(generated) == 32
    statuses = sorted(i["status"] for i in incidents(tls))
    assert statuses == ["resolved", "triggered"]

    with pytest.raises(pagerduty.HttpError) as refused:
        events.trigger("x" * 1025, "ml-monitor")
    assert refused.value.response.status_code == 400
    assert "payload.summary" in refused.value.response.text
    events.close()


def test_a_revoked_key_is_refused(tls: TLSServer) -> None:
    key = create_integration(tls.server, "pagerduty", "old-monitor")
    with httpx.Client(
        base_url=tls.url, verify=tls.context, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as admin:
        (made,) = admin.get("/v1/integrations").json()["integrations"]
        assert admin.delete(f"/v1/integrations/{made['id']}").status_code == 204
    events = pagerduty.EventsApiV2Client(key, base_url=tls.url, verify=tls.context)
    with pytest.raises(pagerduty.HttpError) as refused:
        events.trigger("late", "old-monitor")
    assert refused.value.response.json()["errors"] == ["Invalid routing key"]
    events.close()
