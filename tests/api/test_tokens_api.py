"""Tokens over HTTP and the CLI: created once, listed without secrets, revoked,
last use recorded; and `escalade audit verify` from the command line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import update

from escalade.app import create_app
from escalade.cli import main
from escalade.settings import Settings
from escalade.storage.schema import timeline
from support.engines import Harness

ADMIN = {"Authorization": "Bearer admin-token"}
LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    service = harness.service()
    service.create_token("root", "admin", "admin-token")
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as c:
        yield c


def test_a_token_is_created_used_listed_and_revoked(client: TestClient) -> None:
    made = client.post("/v1/tokens", json={"name": "grafana", "scope": "ingest"}, headers=ADMIN)
    assert made.status_code == 201
    token, token_id = made.json()["token"], made.json()["id"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post("/v1/signals", json=LEAK, headers=bearer).status_code == 202
    listed = client.get("/v1/tokens", headers=ADMIN).json()["tokens"]
    [mine] = [t for t in listed if t["id"] == token_id]
    assert mine["scope"] == "ingest" and not mine["revoked"] and mine["last_used_at"]
    assert token not in str(listed) and "hash" not in str(listed)
    assert client.delete(f"/v1/tokens/{token_id}", headers=ADMIN).json()["revoked"] is True
    # Refused at once, though the verdict was cached a moment ago.
    assert client.post("/v1/signals", json=LEAK, headers=bearer).status_code == 401
    assert client.delete(f"/v1/tokens/{token_id}", headers=ADMIN).status_code == 404
    [mine] = [
        t for t in client.get("/v1/tokens", headers=ADMIN).json()["tokens"] if t["id"] == token_id
    ]
    assert mine["revoked"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scope": "root"}, "scope"),
        ({"scope": "viewer"}, "name"),
        ({"name": "x y", "scope": "viewer"}, "name"),
        ({"name": "x", "scope": "viewer", "extra": 1}, "extra"),
    ],
)
def test_a_bad_token_request_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    before = len(client.get("/v1/tokens", headers=ADMIN).json()["tokens"])
    response = client.post("/v1/tokens", json=body, headers=ADMIN)
    assert response.status_code == 422 and field in response.json()["message"]
    assert len(client.get("/v1/tokens", headers=ADMIN).json()["tokens"]) == before


def test_the_cli_lists_and_revokes_tokens(harness: Harness) -> None:
    service = harness.service()
    token_id, token = service.create_token("ci-bot", "viewer")
    runner, db = CliRunner(), ["--db", harness.database_url]
    listed = runner.invoke(main, ["token", "list", *db])
    assert listed.exit_code == 0 and token_id in listed.output and "viewer" in listed.output
    assert token not in listed.output
    assert runner.invoke(main, ["token", "revoke", token_id, *db]).exit_code == 0
    again = runner.invoke(main, ["token", "revoke", token_id, *db])
    assert again.exit_code == 1 and "no live token" in again.output
    assert "revoked" in runner.invoke(main, ["token", "list", *db]).output
    assert service.authenticate(token) is None


def test_audit_verify_from_the_cli_and_the_api(client: TestClient, harness: Harness) -> None:
    client.post("/v1/signals", json=LEAK, headers=ADMIN)
    runner, db = CliRunner(), ["--db", harness.database_url]
    ok = runner.invoke(main, ["audit", "verify", *db])
    assert ok.exit_code == 0 and ok.output.startswith("ok: 1 chains")
    assert client.get("/v1/audit/verify", headers=ADMIN).json()["ok"] is True
    service = client.app.state.escalade  # type: ignore[attr-defined]
    with service.db.begin() as conn:
        conn.execute(update(timeline).where(timeline.c.seq == 1).values(kind="forged"))
    broken = runner.invoke(main, ["audit", "verify", *db])
    assert broken.exit_code == 1 and "BROKEN" in broken.output and "edited" in broken.output
    report = client.get("/v1/audit/verify", headers=ADMIN).json()
    assert report["ok"] is False and report["breaks"][0]["seq"] == 1
