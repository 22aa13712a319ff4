"""The ingest lane (api/lane.py): `POST /v1/signals` answered by uvicorn's protocol.

A real uvicorn server with `IngestProtocol` on a real socket, beside the same
app through the ASGI stack: the lane must answer exactly as the route does,
leave every refusal at the door to the stack, keep a connection's answers in
order, and never lose or half-write a signal.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from escalade.api.lane import IngestProtocol, Lane
from escalade.app import create_app
from escalade.engine.service import Escalade
from escalade.settings import Settings
from escalade.storage.migrate import upgrade
from escalade.storage.schema import inbox, signals
from support.policies import BASE, ENV
from support.server import free_port

INGEST = "lane-ingest-token"
VIEWER = "lane-viewer-token"
LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}


class CountingProtocol(IngestProtocol):
    """The lane, counting the answers it sent itself."""

    answered = 0

    def _send(self, *args: Any) -> None:
        CountingProtocol.answered += 1
        super()._send(*args)


class LaneServer:
    def __init__(self, app: FastAPI, service: Escalade, settings: Settings) -> None:
        self.app, self.service, self.settings = app, service, settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, port=self.port, log_level="warning", access_log=False, http=CountingProtocol
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LaneServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def client(self, token: str = INGEST) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})

    def count(self, table: Any) -> int:
        with self.service.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def lane(database_url: str, tmp_path: Path) -> Iterator[LaneServer]:
    yield from _lane(database_url, tmp_path)


def _lane(database_url: str, tmp_path: Path, **settings: Any) -> Iterator[LaneServer]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(BASE)
    service = Escalade(database_url, policy, env=ENV)
    upgrade(service.db)
    service.create_token("ingest", "ingest", INGEST)
    service.create_token("viewer", "viewer", VIEWER)
    config = Settings(database_url=database_url, policy=policy, run_engine=False, **settings)
    CountingProtocol.answered = 0
    try:
        with LaneServer(create_app(config, service), service, config) as server:
            yield server
    finally:
        service.close()


def test_the_lane_answers_as_the_route_does(lane: LaneServer) -> None:
    with lane.client() as client:
        routed = client.post("/v1/signals", json=LEAK)
        queued = client.post(
            "/v1/signals",
            json={"signals": [LEAK, {**LEAK, "id": "s-2"}]},
            headers={"Prefer": "respond-async"},
        )
    assert CountingProtocol.answered == 2
    # The same service through the ASGI stack, as TestClient drives it.
    with TestClient(create_app(lane.settings, lane.service)) as stack:
        stack.headers["Authorization"] = f"Bearer {INGEST}"
        expected_routed = stack.post("/v1/signals", json=LEAK)
        expected_queued = stack.post(
            "/v1/signals",
            json={"signals": [LEAK, {**LEAK, "id": "s-3"}]},
            headers={"Prefer": "respond-async"},
        )
    for got, expected in ((routed, expected_routed), (queued, expected_queued)):
        assert got.status_code == expected.status_code == 202
        assert _shape(got.json()) == _shape(expected.json())
        for name, value in expected.headers.items():
            if name not in {"date", "content-length"}:
                assert got.headers.get(name) == value, name
    assert routed.json()["signals"][0]["incident_id"]
    assert queued.headers["preference-applied"] == "respond-async"
    assert lane.count(signals) == 2 and lane.count(inbox) == 4  # nothing routed the inbox


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    """An answer without its generated ids."""
    return {
        "accepted": body["accepted"],
        "signals": [
            {k: (bool(v) if k in {"id", "incident_id"} else v) for k, v in s.items()}
            for s in body["signals"]
        ],
    }


def test_refusals_at_the_door_go_through_the_stack(lane: LaneServer) -> None:
    with lane.client() as client:
        assert (
            client.post("/v1/signals", json=LEAK, headers={"Authorization": ""}).status_code == 401
        )
        wrong = client.post("/v1/signals", json=LEAK, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        scope = client.post("/v1/signals", json=LEAK, headers={"Authorization": f"Bearer {VIEWER}"})
        assert scope.status_code == 403 and "viewer" in scope.json()["message"]

        def chunks() -> Iterator[bytes]:
            yield orjson.dumps(LEAK)

        streamed = client.post("/v1/signals", content=chunks())  # no Content-Length
        assert streamed.status_code == 202
    assert CountingProtocol.answered == 0  # every one of them answered by the stack
    assert lane.count(signals) == 1


def test_the_lane_refuses_a_bad_body_whole(lane: LaneServer) -> None:
    with lane.client() as client:
        bad = client.post("/v1/signals", json={"signals": [LEAK, {**LEAK, "kind": 7}]})
        broken = client.post("/v1/signals", content=b"{not json")
    assert CountingProtocol.answered == 2
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "signals[1].kind"
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
    assert bad.headers["x-content-type-options"] == "nosniff"
    assert lane.count(signals) == 0 and lane.count(inbox) == 0


def test_a_connection_gets_its_answers_in_order(lane: LaneServer) -> None:
    """Requests written back to back on one connection (pipelined): an ingest in
    the lane, then one for the stack, then another ingest while the first is
    still committing. Answers come in the order asked, each whole."""
    body = orjson.dumps(LEAK)
    post = (
        b"POST /v1/signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + INGEST.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip
    other = b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"  # the stack answers at once
    last = post.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1)
    with socket.create_connection(("127.0.0.1", lane.port), timeout=10) as raw:
        raw.sendall(post + other + last)
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"202", b"404", b"202"]
    assert lane.count(signals) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_commit_is_a_500_naming_an_error_id_only(
    lane: LaneServer, caplog: pytest.LogCaptureFixture
) -> None:
    with lane.service.db.begin() as conn:
        conn.execute(text("DROP TABLE inbox"))
    with lane.client() as client:
        failed = client.post("/v1/signals", json=LEAK, headers={"Prefer": "respond-async"})
        after = client.post("/v1/signals", json=LEAK)  # the connection is still good
    assert CountingProtocol.answered == 2
    assert failed.status_code == 500 and set(failed.json()) == {"error", "message", "error_id"}
    assert "inbox" not in failed.text and "SELECT" not in failed.text.upper()
    logged = [r for r in caplog.records if r.getMessage() == "request.failed"]
    assert [getattr(r, "error_id", None) for r in logged] == [failed.json()["error_id"]]
    assert after.status_code == 202


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failure_at_the_door_is_the_stacks_500_not_a_parser_error(lane: LaneServer) -> None:
    """A token not yet cached is looked up in the database; if that fails, the
    request goes to the stack, whose barrier answers 500 with an error id
    (an exception out of a parser callback would have been a 400)."""
    with lane.service.db.begin() as conn:
        conn.execute(text("DROP TABLE api_tokens"))
    with lane.client("a-token-nobody-has-used") as client:
        failed = client.post("/v1/signals", json=LEAK)
    assert failed.status_code == 500 and set(failed.json()) == {"error", "message", "error_id"}
    assert CountingProtocol.answered == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rate_and_size_limits_hold_in_the_lane(database_url: str, tmp_path: Path) -> None:
    for server in _lane(database_url, tmp_path, rate_limit=0.1, rate_burst=3, max_body_bytes=400):
        with server.client() as client:
            big = client.post("/v1/signals", json={**LEAK, "summary": "x" * 500})
            answers = [client.post("/v1/signals", json=LEAK) for _ in range(3)]
        assert big.status_code == 413  # by the stack, which counted it against the burst
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert int(answers[2].headers["retry-after"]) > 0
        assert CountingProtocol.answered == 2  # the two admitted; 413 and 429 by the stack
        assert server.count(signals) == 2


def test_the_202s_head_follows_uvicorns_date() -> None:
    """The lane builds its 202's headers once and again only when uvicorn's
    default headers are a new list (it renews `date` each second that way)."""
    lane = Lane(None, None, 1024, [(b"x-frame-options", b"DENY")])
    first = [(b"date", b"Mon, 07 Dec 2026 12:00:00 GMT"), (b"server", b"uvicorn")]
    head = lane.accepted_head(first, queued=True)
    assert head.startswith(b"HTTP/1.1 202 Accepted\r\ndate: Mon, 07 Dec 2026 12:00:00 GMT\r\n")
    assert b"preference-applied: respond-async\r\n" in head
    assert b"x-frame-options: DENY\r\n" in head and head.endswith(b"content-length: ")
    assert lane.accepted_head(first, queued=True) is head  # built once
    assert b"preference-applied" not in lane.accepted_head(first, queued=False)
    later = [(b"date", b"Mon, 07 Dec 2026 12:00:01 GMT"), (b"server", b"uvicorn")]
    assert b"12:00:01 GMT" in lane.accepted_head(later, queued=True)
