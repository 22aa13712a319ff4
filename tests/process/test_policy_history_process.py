"""Policy history through a running server: reloads become versions, the CLI reads them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.policies import BASE, ENV
from support.server import TOKEN, ServerProcess


def cli(server: ServerProcess, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "escalade.cli", *args, "--url", server.url, "--token", TOKEN],
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def test_two_reloads_are_two_versions_with_authors_and_diffs(
    database_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(BASE)
    server = ServerProcess(database_url, policy, tmp_path / "server.log", dict(ENV))
    server.start()
    try:
        policy.write_text(BASE.replace("ack_within: 5m", "ack_within: 3m"))
        assert server.client.post("/v1/policy/reload").status_code == 200
        policy.write_text("version: 1\nrules: [")  # broken: refused, not a version
        assert server.client.post("/v1/policy/reload").status_code == 422
        policy.write_text(BASE.replace("ack_within: 4h", "ack_within: 2h"))
        assert server.client.post("/v1/policy/reload").status_code == 200

        versions = server.client.get("/v1/policy/versions").json()["versions"]
        assert [v["version"] for v in versions] == [3, 2, 1]
        assert [v["author"] for v in versions] == ["bootstrap-admin", "bootstrap-admin", "startup"]
        assert [(v["added"], v["removed"]) for v in versions] == [
            (2, 2),
            (1, 1),
            (len(BASE.splitlines()), 0),
        ]
        current = server.client.get("/v1/policy/versions/current").json()
        assert current["digest"] == server.client.get("/v1/policy").json()["digest"]

        # An incident resolved now whose action item was closed by version 2.
        signal = {"kind": "privacy_leak", "summary": "window too long"}
        opened = server.client.post("/v1/signals", json=signal).json()
        incident_id = opened["signals"][0]["incident_id"]
        path = f"/v1/incidents/{incident_id}"
        item = {"title": "Shorten sev1", "owner": "alice", "due_at": "2099-01-01T00:00:00Z"}
        added = server.client.post(f"{path}/action-items", json={**item, "by": "bob"})
        assert added.status_code == 200, added.text
        item_id = added.json()["incident"]["action_items"][-1]["id"]
        closed = server.client.post(
            f"{path}/action-items/{item_id}",
            json={"state": "done", "policy_version": "2", "by": "bob"},
        )
        assert closed.status_code == 200, closed.text
        assert server.client.post(f"{path}/resolve", json={"by": "bob"}).status_code == 200
        learning = server.client.get("/v1/metrics/learning")
        assert learning.status_code == 200 and learning.json() == {
            "policy_versions": 3,
            "policy_updates_following_incidents": 1,
            "resolved_incidents": 1,
            "incidents_followed_by_policy_update": 1,
            "rate": 1.0,
        }
        # Since version 3 went live, version 2 is outside the window: it followed nothing.
        since = {"since": versions[0]["activated_at"]}
        windowed = server.client.get("/v1/metrics/learning", params=since)
        assert windowed.status_code == 200 and windowed.json() == {
            "policy_versions": 1,
            "policy_updates_following_incidents": 0,
            "resolved_incidents": 1,
            "incidents_followed_by_policy_update": 0,
            "rate": 0.0,
        }

        history = cli(server, "policy", "history").splitlines()
        assert [line.split()[0] for line in history] == ["v3", "v2", "v1"]
        last = cli(server, "policy", "diff")
        assert "-  sev1: {name: Critical, ack_within: 3m" in last
        assert "+  sev1: {name: Critical, ack_within: 3m" not in last
        assert "ack_within: 2h" in last
        both = cli(server, "policy", "diff", "1", "3")
        assert "+  sev4: {name: Low, ack_within: 2h" in both and "policy.yaml (1)" in both
        local = tmp_path / "next.yaml"
        local.write_text(BASE)
        preview = cli(server, "policy", "diff", "current", str(local))
        assert "-  sev4: {name: Low, ack_within: 2h" in preview
        assert "+  sev4: {name: Low, ack_within: 4h" in preview and "next.yaml (" in preview
    finally:
        server.stop()
