"""Limits, headers and errors that hold when clients misbehave."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from escalade.app import create_app
from escalade.domain.ratelimit import RateLimiter
from escalade.logs import KeyValueFormatter, scrub
from escalade.settings import Settings
from escalade.storage.schema import signals
from support.engines import Harness

ADMIN = {"Authorization": "Bearer admin-token"}
LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}


@pytest.fixture
def make_client(harness: Harness) -> Iterator[object]:
    service = harness.service()
    service.create_token("root", "admin", "admin-token")
    service.create_token("other", "admin", "other-token")
    base = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    opened: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        app = create_app(replace(base, **overrides), service)  # type: ignore[arg-type]
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def stored(client: TestClient) -> int:
    service = client.app.state.escalade  # type: ignore[attr-defined]
    with service.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(signals)).scalar_one())


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_body_bytes=1000)
    big = {**LEAK, "summary": "x" * 2000}
    response = client.post("/v1/signals", json=big, headers=ADMIN)
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert response.headers["x-content-type-options"] == "nosniff"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts as it reads
        yield b'{"kind": "privacy_leak", "summary": "'
        for _ in range(50):
            yield b"y" * 100
        yield b'"}'

    streamed = client.post("/v1/signals", content=chunks(), headers=ADMIN)
    assert streamed.status_code == 413
    token = client.post("/v1/tokens", content=b"{" + b" " * 2000 + b"}", headers=ADMIN)
    assert token.status_code == 413
    assert stored(client) == 0
    assert client.post("/v1/signals", json=LEAK, headers=ADMIN).status_code == 202


def test_a_key_over_its_rate_gets_429_with_retry_after(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(rate_limit=0.5, rate_burst=3)
    answers = [client.get("/v1/incidents", headers=ADMIN).status_code for _ in range(5)]
    assert answers[:3] == [200, 200, 200] and answers[3:] == [429, 429]
    limited = client.get("/v1/incidents", headers=ADMIN)
    assert limited.json()["error"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    # Another key has its own bucket; health checks are never limited.
    assert (
        client.get("/v1/incidents", headers={"Authorization": "Bearer other-token"}).status_code
        == 200
    )
    assert all(client.get("/healthz").status_code == 200 for _ in range(5))


def test_the_bucket_refills_with_time() -> None:
    limiter = RateLimiter(rate=2.0, burst=2.0)
    assert limiter.take("k", 0.0) is None and limiter.take("k", 0.0) is None
    wait = limiter.take("k", 0.0)
    assert wait == pytest.approx(0.5)
    assert limiter.retry_after_header(wait) == "1"
    assert limiter.take("k", 0.5) is None
    assert limiter.take("other", 0.5) is None


def test_every_answer_carries_the_security_headers(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(hsts_max_age=600)
    for response in (client.get("/healthz"), client.get("/v1/incidents"), client.get("/nope")):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["strict-transport-security"] == "max-age=600; includeSubDomains"
    assert "strict-transport-security" not in make_client(hsts_max_age=0).get("/healthz").headers


def test_an_unexpected_error_is_a_generic_500_and_the_log_keeps_the_secret_out(
    make_client,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    client = make_client()
    app: FastAPI = client.app  # type: ignore[assignment]

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("connect to postgresql://bob:hunter2@db failed, token esk_SECRET")

    with caplog.at_level(logging.ERROR, logger="escalade.api"):
        response = client.get("/boom", headers=ADMIN)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal" and body["error_id"] in body["message"]
    assert "hunter2" not in response.text and "esk_" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    [record] = [r for r in caplog.records if r.getMessage() == "request.failed"]
    line = KeyValueFormatter().format(record)
    assert body["error_id"] in line and "RuntimeError" in line
    assert "hunter2" not in line and "esk_SECRET" not in line


def test_log_lines_scrub_tokens_and_url_passwords() -> None:
    text = "Authorization: Bearer abc.def esk_AbC-12 postgresql://bob:hunter2@db/x http://h/p"
    assert scrub(text) == (
        "Authorization: Bearer [redacted] [redacted] postgresql://bob:[redacted]@db/x http://h/p"
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "privacy_leak", "value": 1' + b"0" * 400 + b"}",
        b'{"kind": "privacy_leak", "labels": {"a": ' + b"9" * 30 + b"}}",
        b'{"kind": "privacy_leak", "value": NaN}',
        b'{"kind": "privacy_leak", "value": 1e999}',
        b'{"kind": "privacy_leak", "summary": "\\ud800"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"kind": "privacy_leak", "subject": {"model": ' + b"1" * 30 + b"}}",
    ],
)
def test_odd_json_is_a_4xx_not_a_500(make_client, body: bytes) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    response = client.post(
        "/v1/signals", content=body, headers={**ADMIN, "content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert stored(client) <= 1


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [
        ("/v1/reviews", b'{"action": "x", "args": {"n": 1' + b"0" * 30 + b"}}", "64 bits"),
        ("/v1/reviews", b'{"action": "x", "args": {"n": NaN}}', "NaN"),
        ("/v1/reviews", b'{"action": "x", "context": {"n": 1e400}}', "out of range"),
        ("/v1/reviews", b'{"action": "x", "args": {"\\ud800": 1}}', "surrogates"),
        ("/v1/incidents/none/log", b'{"what": "\\udfff", "why": "y"}', "surrogates"),
    ],
)
def test_json_that_could_not_be_stored_is_a_422_before_any_handler(
    make_client,
    path: str,
    body: bytes,
    problem: str,  # type: ignore[no-untyped-def]
) -> None:
    client = make_client()
    response = client.post(
        path, content=body, headers={**ADMIN, "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert problem in response.json()["message"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ESCALADE_MAX_BODY_BYTES", "5MB"),
        ("ESCALADE_RATE_LIMIT", "-1"),
        ("ESCALADE_HSTS_MAX_AGE", "x"),
    ],
)
def test_a_malformed_limit_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_limits_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "ESCALADE_MAX_BODY_BYTES": "1000",
            "ESCALADE_RATE_LIMIT": "2.5",
            "ESCALADE_RATE_BURST": "10",
        }
    )
    assert (settings.max_body_bytes, settings.rate_limit, settings.rate_burst) == (1000, 2.5, 10.0)


def test_error_bodies_do_not_echo_tokens_or_rejected_values(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    secret = "esk_do-not-echo-me"
    assert (
        secret
        not in client.get("/v1/incidents", headers={"Authorization": f"Bearer {secret}"}).text
    )
    bad = client.post("/v1/tokens", json={"name": f"{secret} x", "scope": "admin"}, headers=ADMIN)
    assert bad.status_code == 422 and secret not in bad.text
    signal = client.post("/v1/signals", json={**LEAK, "value": secret}, headers=ADMIN)
    assert signal.status_code == 422 and secret not in signal.text
