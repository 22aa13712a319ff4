"""Real Alertmanager (Debian's package) notifying a real Escalade process.

Alertmanager is configured with a `webhook_configs` receiver and a
`pagerduty_configs` receiver (`routing_key`, Events v2), both pointing at
Escalade. (Alertmanager 0.25 posts the v1 `service_key` shape to PagerDuty's
fixed v1 address whatever `url` says, so that shape is tested over HTTP in
tests/api/test_integrations_api.py.) Alerts posted to Alertmanager's API become incidents;
resolving them in Alertmanager resolves the incidents here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.peers import POLICY, Alertmanager, create_integration, wait_for
from support.server import ServerProcess
from support.sink import Sink

pytestmark = pytest.mark.process


CONFIG = """
route:
  receiver: webhook
  group_by: [alertname, model]
  group_wait: 100ms
  group_interval: 300ms
  repeat_interval: 1h
  routes:
    - {receiver: pagerduty, matchers: ['via="pagerduty"']}
receivers:
  - name: webhook
    webhook_configs:
      - url: "{url}/v1/integrations/alertmanager"
        http_config: {authorization: {credentials: "{am_key}"}}
  - name: pagerduty
    pagerduty_configs:
      - {routing_key: "{pd_key}", url: "{url}/v2/enqueue"}
"""


@pytest.fixture
def server(database_url: str, tmp_path: Path, sink: Sink) -> Iterator[ServerProcess]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    proc = ServerProcess(database_url, policy, tmp_path / "server.log", {"SINK_URL": sink.url})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def alertmanager(server: ServerProcess, tmp_path: Path) -> Iterator[Alertmanager]:
    config = (
        CONFIG.replace("{url}", server.url)
        .replace("{am_key}", create_integration(server, "alertmanager", "prod-alertmanager"))
        .replace("{pd_key}", create_integration(server, "pagerduty", "alertmanager-pd"))
    )
    am = Alertmanager(config, tmp_path / "alertmanager")
    yield am
    am.stop()


def alert(name: str, via: str, *, ends: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": name, "model": "fraud-v3", "kind": "drift", "via": via},
        "annotations": {"summary": f"{name}: PSI 0.31 on txn_amount"},
        "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus.example:9090/graph",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


def incidents(server: ServerProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = server.client.get("/v1/incidents").json()["incidents"]
    return found


def one_incident(server: ServerProcess, status: str, title: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        for i in incidents(server):
            if i["status"] == status and title in (i["title"] or ""):
                return i
        return None

    found = wait_for(check, f"a {status} incident titled {title!r}")
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize("via", ["webhook", "pagerduty"])
def test_alerts_open_incidents_and_resolving_them_in_alertmanager_resolves_them(
    server: ServerProcess, alertmanager: Alertmanager, via: str
) -> None:
    name = f"DriftHigh_{via}"
    alertmanager.post_alerts([alert(name, via)])
    # The webhook keeps the alert's summary; PagerDuty's receivers send
    # Alertmanager's default description, "[FIRING:1] <group labels> ...".
    title = f"{name}: PSI" if via == "webhook" else "[FIRING:1]"
    opened = one_incident(server, "triggered", title)
    detail = server.client.get(f"/v1/incidents/{opened['id']}").json()
    (signal,) = detail["signals"]
    if via == "webhook":
        assert signal["kind"] == "drift"
        assert signal["labels"]["model"] == "fraud-v3"
        assert len(signal["details"]["fingerprint"]) == 16
        assert signal["details"]["group_key"].endswith(f'{{alertname="{name}", model="fraud-v3"}}')
    else:
        assert signal["summary"].startswith("[FIRING:1]")
        group = signal["details"]["custom_details"]
        assert group  # Alertmanager's firing/resolved details
        # Alertmanager's dedup key is the SHA-256 of the group key.
        assert len(signal["dedup_key"].rsplit(":", 1)[-1]) == len(hashlib.sha256().hexdigest())
    alertmanager.post_alerts([alert(name, via, ends=datetime.now(UTC) - timedelta(seconds=1))])
    resolved = one_incident(server, "resolved", title)
    assert resolved["id"] == opened["id"]
    assert resolved["resolved_by"].startswith("integration:")
