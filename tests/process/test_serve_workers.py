"""`escalade serve --workers N`: several API processes on one port, as
docs/operations.md deploys them, each answering ingest in its lane
(api/lane.py, loaded by import string), with a separate `escalade worker`."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from support.peers import POLICY  # drift signals route to `drift`, grouped by model
from support.server import ServerProcess
from support.sink import Sink

pytestmark = pytest.mark.process


def test_api_processes_accept_in_their_lanes_and_a_worker_routes_it_all(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"SINK_URL": sink.url, "ESCALADE_WORKER_POLL": "0.2"}
    server = ServerProcess(database_url, policy, tmp_path / "serve.log", env)
    server.start(60, "--workers", "2", "--no-engine")
    accepted: list[str] = []
    failures: list[str] = []

    def send(model: str) -> None:
        token = server.client.headers["Authorization"]
        with httpx.Client(base_url=server.url, headers={"Authorization": token}) as client:
            for i in range(25):
                body = {"kind": "drift", "subject": {"model": model}, "summary": f"{model} {i}"}
                answer = client.post("/v1/signals", json=body, headers={"Prefer": "respond-async"})
                if answer.status_code != 202:
                    failures.append(f"{answer.status_code} {answer.text}")
                    return
                accepted.extend(s["id"] for s in answer.json()["signals"])

    worker = None
    try:
        senders = [threading.Thread(target=send, args=(f"m{n}",)) for n in range(4)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        assert not failures and len(accepted) == 100
        queued = server.client.get(f"/v1/signals/{accepted[0]}").json()
        assert queued["routed"] is False  # no engine in the API processes
        worker = server.spawn_worker()
        deadline = time.monotonic() + 60
        while not all(server.client.get(f"/v1/signals/{i}").json()["routed"] for i in accepted):
            assert time.monotonic() < deadline, server.log.read_text()[-3000:]
            time.sleep(0.2)
        listed = server.client.get("/v1/incidents", params={"limit": 50}).json()["incidents"]
        assert sorted(i["signal_count"] for i in listed) == [25, 25, 25, 25]  # one a model
        pages = sink.wait_for(4, timeout=30)  # one page per incident
        assert {p.json()["incident_id"] for p in pages} == {i["id"] for i in listed}
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        server.stop()
