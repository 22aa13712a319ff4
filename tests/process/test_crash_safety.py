"""Crash safety through real processes: SIGKILL at random, racing workers,
a channel that stays down, a broken policy reload.

Topology as in production: one API process (`serve --no-engine`) and separate
`escalade worker` processes on one database, on SQLite and on PostgreSQL.
Time is compressed through the worker's knobs (docs/configuration.md).
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from escalade.storage.schema import incidents, timeline
from support.server import ServerProcess
from support.sink import Sink

pytestmark = pytest.mark.process

POLICY = """
version: 1
people:
  alice: {name: Alice, contacts: [hook]}
  bob:   {name: Bob, contacts: [hook]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook", secret: "${SINK_SECRET}"}
tiers:
  sev1: {name: Critical, ack_within: 1h, ladder: fast}
ladders:
  fast:
    rungs:
      - {notify: [person:alice], escalate_after: 1s}
      - {notify: [person:bob], escalate_after: 1s}
rules:
  - {id: leak, match: {kind: privacy_leak}, tier: sev1, type: privacy}
default: {tier: sev1}
"""

FAST = {
    "ESCALADE_WORKER_POLL": "0.2",
    "ESCALADE_HEARTBEAT_INTERVAL": "0.5",
    "ESCALADE_WORKER_STALE_AFTER": "5",
    "ESCALADE_AUDIT_INTERVAL": "1",
    "ESCALADE_DELIVERY_LEASE": "30",
    "ESCALADE_WORKER_BATCH": "20",
}
SEED = 20261123
KILLS = 8  # with restarts, about half a minute of chaos


class Cluster:
    """One API process and named worker processes on one database."""

    def __init__(self, database_url: str, tmp_path: Path, sink: Sink, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.policy = tmp_path / "policy.yaml"
        self.policy.write_text(POLICY)
        full = {"SINK_URL": sink.url, "SINK_SECRET": "s3cret", **FAST, **env}
        self.api = ServerProcess(database_url, self.policy, tmp_path / "cluster.log", full)
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def start_api(self) -> None:
        self.api.start(60, "--no-engine")

    def start_worker(self, name: str) -> None:
        self.workers[name] = self.api.spawn_worker()

    def kill(self, name: str) -> None:
        if name == "api":
            self.api.kill()
            return
        proc = self.workers[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def restart(self, name: str) -> None:
        if name == "api":
            self.start_api()
        else:
            self.start_worker(name)

    def close(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.api.stop()

    def ladder_steps(self) -> dict[str, list[int]]:
        """For each incident in the database, the steps of its fired rungs, in order."""
        engine = create_engine(self.database_url)
        with engine.connect() as conn:
            steps: dict[str, list[int]] = {r.id: [] for r in conn.execute(select(incidents.c.id))}
            rows = conn.execute(
                select(timeline.c.incident_id, timeline.c.data)
                .where(timeline.c.kind == "rung.fired")
                .order_by(timeline.c.id)
            )
            for r in rows:
                steps[r.incident_id].append(int(r.data["step"]))
        engine.dispose()
        return steps


@pytest.fixture
def cluster(database_url: str, tmp_path: Path, sink: Sink) -> Iterator[Cluster]:
    c = Cluster(database_url, tmp_path, sink, {})
    yield c
    c.close()


def expected_keys(steps: dict[str, list[int]]) -> set[str]:
    """Rung 1 pages alice, rung 2 pages bob; the webhook's delivery id is the key."""
    return {f"{i}/1/alice/hook" for i in steps} | {f"{i}/2/bob/hook" for i in steps}


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Streamer(threading.Thread):
    """Posts one signal at a time and remembers every one answered 202."""

    def __init__(
        self, cluster: Cluster, rng: random.Random, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(name="signal-streamer", daemon=True)
        self.cluster = cluster
        self.rng = rng
        self.headers = headers or {}
        self.stop = threading.Event()
        self.accepted: list[str] = []
        self.refused = 0

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.cluster.api.url, timeout=10) as client:
            client.headers.update(self.cluster.api.client.headers)
            client.headers.update(self.headers)
            while not self.stop.is_set():
                n += 1
                body = {"kind": "privacy_leak", "summary": f"leak {n}", "dedup_key": f"s-{n}"}
                try:
                    response = client.post("/v1/signals", json=body)
                except httpx.TransportError:
                    self.refused += 1  # the API is down: the client would retry later
                else:
                    if response.status_code == 202:
                        self.accepted.append(response.json()["signals"][0]["id"])
                    else:
                        self.refused += 1
                self.stop.wait(self.rng.uniform(0.02, 0.08))


@pytest.mark.parametrize("prefer", ["", "respond-async"], ids=["routed", "queued"])
def test_sigkill_at_random_loses_no_accepted_signal_no_timer_and_sends_each_key_once(
    cluster: Cluster, sink: Sink, prefer: str
) -> None:
    """Answered 202 means durable: routed at once, or (respond-async) queued in the
    inbox for the workers, who may be killed while they route it."""
    rng = random.Random(SEED)
    cluster.start_api()
    for name in ("w1", "w2"):
        cluster.start_worker(name)
    streamer = Streamer(cluster, random.Random(SEED + 1), {"Prefer": prefer} if prefer else {})
    streamer.start()
    kills = {"api": 0, "w1": 0, "w2": 0}
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.3, 1.5))
        victim = rng.choice(sorted(kills))
        cluster.kill(victim)
        kills[victim] += 1
        time.sleep(rng.uniform(0.0, 0.6))
        cluster.restart(victim)
    streamer.stop.set()
    streamer.join(timeout=30)
    assert len(streamer.accepted) > 20

    # Every signal answered 202 is stored and attached to an incident (a queued
    # one once the workers have routed it).
    def routed(signal_id: str) -> bool:
        found = cluster.api.client.get(f"/v1/signals/{signal_id}")
        assert found.status_code == 200, signal_id
        return bool(found.json()["incident_id"])

    wait_until(lambda: all(routed(s) for s in streamer.accepted), 60, "every signal routed")

    # Every incident climbs its whole ladder: each rung fires exactly once.
    def settled() -> bool:
        return all(s == [1, 2] for s in cluster.ladder_steps().values())

    wait_until(settled, 90, "every ladder to finish")
    steps = cluster.ladder_steps()
    assert len(steps) >= len(streamer.accepted)

    # Each notification reaches the sink; de-duplicated by key, exactly once.
    want = expected_keys(steps)
    wait_until(lambda: set(sink.by_key()) >= want, 90, "every notification")
    counts = sink.by_key()
    assert set(counts) == want
    # A worker killed between a send and its record resends that one message:
    # at most one duplicate per worker kill, and never a different key.
    duplicates = sum(c - 1 for c in counts.values())
    assert duplicates <= kills["w1"] + kills["w2"], (duplicates, kills)


def test_two_worker_processes_racing_on_the_same_due_timers_fire_each_once(
    cluster: Cluster, sink: Sink
) -> None:
    cluster.start_api()
    for n in range(15):
        body = {"kind": "privacy_leak", "summary": "race", "dedup_key": f"race-{n}"}
        assert cluster.api.client.post("/v1/signals", json=body).status_code == 202
    time.sleep(1.5)  # every rung-2 timer is due; no worker has run yet
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    wait_until(lambda: all(s == [1, 2] for s in cluster.ladder_steps().values()), 60, "both rungs")
    want = expected_keys(cluster.ladder_steps())
    wait_until(lambda: set(sink.by_key()) >= want, 60, "every notification")
    time.sleep(1)  # a second sender of any key would show by now
    counts = sink.by_key()
    assert set(counts) == want and set(counts.values()) == {1}
    listed = cluster.api.client.get("/v1/workers").json()
    assert listed["alive"] == 2
    # SIGTERM: a graceful stop, recorded in the worker's heartbeat row.
    cluster.workers["w1"].terminate()
    assert cluster.workers["w1"].wait(timeout=30) == 0
    statuses = sorted(w["status"] for w in cluster.api.client.get("/v1/workers").json()["workers"])
    assert statuses == ["alive", "stopped"]


OUTAGE_POLICY = """
version: 1
people:
  alice: {name: Alice, contacts: [hook]}
  bob:   {name: Bob, contacts: [hook]}
  carol: {name: Carol, contacts: [dead]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook", secret: "${SINK_SECRET}", attempts: 50}
  dead:
    type: webhook
    url: "${SINK_URL}/dead"
    secret: "${SINK_SECRET}"
    attempts: 4
    fallback: hook
tiers:
  sev1: {name: Critical, ack_within: 1h, ladder: fast}
ladders:
  fast:
    rungs:
      - {notify: [person:alice, person:carol], escalate_after: 1s}
      - {notify: [person:bob], escalate_after: 1s}
default: {tier: sev1}
"""

# Minutes compressed: the 5-minute retry cap becomes 0.4 s, so a 4-second outage
# spans as many retries as a ten-minute one does with the defaults.
COMPRESSED = {
    "ESCALADE_RETRY_BASE": "0.05",
    "ESCALADE_RETRY_CAP": "0.4",
}


def test_a_channel_down_for_minutes_delivers_everything_after_it_recovers(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    cluster = Cluster(database_url, tmp_path, sink, COMPRESSED)
    cluster.policy.write_text(OUTAGE_POLICY)
    sink.down_until["/hook"] = float("inf")  # the receiver is down...
    sink.down_until["/dead"] = float("inf")  # ...and this one never comes back
    try:
        cluster.start_api()
        cluster.start_worker("w1")
        for n in range(6):
            body = {"kind": "outage", "summary": "down", "dedup_key": f"down-{n}"}
            assert cluster.api.client.post("/v1/signals", json=body).status_code == 202
        steps = cluster.ladder_steps()

        # The outage lasts until each incident's pages have been refused three
        # times (as many retries as minutes of real outage), however long a slow
        # machine takes to start the processes; then the receiver comes back.
        def retried_everywhere() -> bool:
            keys = sink.refused_by_key("/hook")
            return all(
                sum(n for key, n in keys.items() if key.startswith(f"{i}/")) >= 3 for i in steps
            )

        wait_until(retried_everywhere, 60, "three refused pages per incident in the outage")
        with sink.lock:
            sink.down_until["/hook"] = time.time()
        # Carol's own channel never recovers: after its 4 attempts her page goes
        # to the fallback channel, which delivers once it is back.
        want = (
            {f"{i}/1/alice/hook" for i in steps}
            | {f"{i}/2/bob/hook" for i in steps}
            | {f"{i}/1/carol/dead/fallback:hook" for i in steps}
        )
        wait_until(lambda: set(sink.by_key()) >= want, 60, "the notifications after recovery")
        assert {r.path for r in sink.refused} == {"/hook", "/dead"}
        counts = sink.by_key()
        assert set(counts) == want and set(counts.values()) == {1}
        timelines = {i: cluster.api.timeline(i) for i in steps}
        for entries in timelines.values():
            kinds = [e["kind"] for e in entries]
            assert kinds.count("delivery.failed") == 1  # carol's own channel, recorded
            assert kinds.count("delivery.fallback") == 1
            assert kinds.count("delivery.retrying") >= 3
        metrics = cluster.api.client.get("/metrics").text
        assert f'escalade_deliveries{{status="failed"}} {len(steps)}' in metrics
        assert 'escalade_deliveries{status="pending"} 0' in metrics
    finally:
        cluster.close()


BROKEN = "version: 1\npeople: {alice: {name: [unclosed\n"


def test_a_broken_policy_reload_keeps_the_old_policy_running_in_every_process(
    cluster: Cluster, sink: Sink
) -> None:
    cluster.start_api()
    cluster.start_worker("w1")
    # The worker is up (and handles SIGHUP) once its heartbeat shows.
    wait_until(lambda: cluster.api.client.get("/v1/workers").json()["alive"] == 1, 30, "w1")
    before = cluster.api.client.get("/v1/policy").json()["digest"]
    cluster.policy.write_text(BROKEN)
    refused = cluster.api.client.post("/v1/policy/reload")
    assert refused.status_code == 422
    assert "policy.yaml:" in str(refused.json())
    assert cluster.api.proc is not None
    cluster.api.proc.send_signal(signal.SIGHUP)
    cluster.workers["w1"].send_signal(signal.SIGHUP)
    time.sleep(1)
    assert cluster.api.proc.poll() is None and cluster.workers["w1"].poll() is None
    assert cluster.api.client.get("/v1/policy").json()["digest"] == before
    assert cluster.api.log.read_text().count("policy NOT reloaded") >= 2  # API and worker
    # The old policy still routes, escalates and delivers.
    body = {"kind": "privacy_leak", "summary": "after the bad reload", "dedup_key": "late"}
    response = cluster.api.client.post("/v1/signals", json=body)
    assert response.status_code == 202
    incident_id = response.json()["signals"][0]["incident_id"]
    want = {f"{incident_id}/1/alice/hook", f"{incident_id}/2/bob/hook"}
    wait_until(lambda: set(sink.by_key()) >= want, 30, "the old policy's pages")
