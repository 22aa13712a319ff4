"""HTTP-level benchmarks: Escalade and Alertmanager side by side on this machine.

    .venv/bin/python bench/serve.py [--postgres URL] [--duration 10] [--workers 2]

Measures, with wrk (2 threads, 16 connections) against a real `escalade serve`:
- ingest, one signal per request and batches of 100 (SQLite, and PostgreSQL when
  --postgres is given);
- Alertmanager's `POST /api/v2/alerts`, one alert per request, in the same run;
- latency from a signal's 202 to the first notification arriving at an HTTP sink
  (webhook channel), p50/p99: right after the respond-async loads, unloaded
  (once nothing is queued or pending), and while wrk keeps half of the measured
  peak going; and the same for Alertmanager's webhook with group_wait 0.
Prints a Markdown table for docs/benchmarks.md, each line also as a ratio to
Alertmanager's line of the same run (rates to its alerts/s, latencies to its p99).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TOKEN = "bench-admin-token-0123456789abcdef"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

POLICY = """
version: 1
organization: Bench
timezone: UTC
people:
  pat: {name: Pat, email: pat@bench.test, contacts: [hook]}
channels:
  hook: {type: webhook, url: "${BENCH_SINK_URL}", timeout: 5s}
tiers:
  sev2: {name: High, ack_within: 1h, ladder: page}
  sev4: {name: Low, ack_within: 1h, ladder: quiet}
ladders:
  page:
    rungs: [{notify: [person:pat], escalate_after: 1h}]
  quiet:
    rungs: [{notify: [channel:hook], escalate_after: 1h}]
rules:
  - {id: probe, match: {kind: probe}, tier: sev2, type: other, group_by: [labels.n]}
  - {id: load, match: {kind: load}, tier: sev4, type: other, group_by: [labels.g]}
default: {tier: sev4, type: other}
grouping: {window: 10m}
"""

# wrk posts the same body on every request of a connection; `load` signals join
# one of 50 open incidents, so the steady state is routing and grouping, not opening.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(headers)s
local n = 0
request = function()
  n = n + 1
  %(body)s
  return wrk.format(nil, "%(path)s", nil, body)
end
%(delay)s
"""

ONE_SIGNAL = "local body = " + (
    '\'{"kind":"load","value":0.5,"labels":{"g":"g\' .. (n % 50) .. \'","env":"production"},'
    '"subject":{"model":"m1"},"summary":"load"}\''
)
ONE_ALERT = "local body = " + (
    '\'[{"labels":{"alertname":"Load","g":"g\' .. (n % 50) .. \'"},'
    '"annotations":{"summary":"load"}}]\''
)


def batch_body(size: int) -> str:
    """Lua that builds a body of `size` signals spread over the 50 groups."""
    return (
        "local parts = {}\n"
        f"  for i = 0, {size - 1} do\n"
        '    parts[#parts + 1] = \'{"kind":"load","value":0.5,"labels":{"g":"g\' '
        '.. ((n + i) % 50) .. \'"},"summary":"load"}\'\n'
        "  end\n"
        "  local body = '{\"signals\":[' .. table.concat(parts, ',') .. ']}'"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sink:
    """An HTTP receiver that timestamps what arrives."""

    arrivals: list[tuple[float, bytes]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0

    def start(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                at = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with sink.cond:
                    sink.arrivals.append((at, body))
                    sink.cond.notify_all()

            def log_message(self, *args: object) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, needle: bytes, timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, body in reversed(self.arrivals):
                    if needle in body:
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no notification with {needle!r}")
                self.cond.wait(left)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


@contextmanager
def escalade(
    db_url: str,
    sink: Sink,
    workers: int,
    tmp: Path,
    *,
    apart: bool = False,
    pids: list[int] | None = None,
) -> Iterator[str]:
    """`escalade serve` with its engine inside, or (`apart`) `serve --no-engine`
    beside one `escalade worker` process, the scale-out shape. `pids` receives
    the processes' ids, `serve` first."""
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    port = free_port()
    env = {
        **os.environ,
        "ESCALADE_DATABASE_URL": db_url,
        "ESCALADE_POLICY": str(policy),
        "ESCALADE_ADMIN_TOKEN": TOKEN,
        "BENCH_SINK_URL": sink.url,
        "ESCALADE_RATE_LIMIT": "0",
    }
    command = [str(VENV_BIN / "escalade"), "serve", "--port", str(port)]
    if apart:
        command.append("--no-engine")
    if workers > 1:
        command += ["--workers", str(workers)]
    processes = [
        subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    ]
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        if apart:
            worker = [str(VENV_BIN / "escalade"), "worker"]
            processes.append(
                subprocess.Popen(worker, env=env, stderr=subprocess.DEVNULL, start_new_session=True)
            )
            wait_alive(url)
        if pids is not None:
            pids.extend(process.pid for process in processes)
        yield url
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGCONT)  # in case a caller stopped it
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(30)


def wait_alive(url: str, timeout: float = 30.0) -> None:
    """Until a worker process beats: its start-up (imports, policy, a second
    of CPU) is not part of any measurement."""
    deadline = time.monotonic() + timeout
    auth = {"Authorization": f"Bearer {TOKEN}"}
    while time.monotonic() < deadline:
        if httpx.get(url + "/v1/workers", headers=auth, timeout=5).json()["alive"] >= 1:
            return
        time.sleep(0.1)
    raise TimeoutError("the worker did not start")


@contextmanager
def alertmanager(sink: Sink, tmp: Path) -> Iterator[str]:
    assert ALERTMANAGER, "install prometheus-alertmanager (make alertmanager)"
    config = tmp / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 0s\n"
        "  group_interval: 1s\n  repeat_interval: 1h\n"
        f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {sink.url}\n"
    )
    port, cluster = free_port(), free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--cluster.listen-address=127.0.0.1:{cluster}",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/-/ready")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def wrk(
    url: str,
    path: str,
    body: str,
    duration: float,
    tmp: Path,
    *,
    auth: bool,
    delay_ms: float = 0,
    queued: bool = False,
) -> float:
    """Requests per second wrk sustained (non-2xx answers make the run fail).

    `queued` sends `Prefer: respond-async`: 202 once durable in the inbox."""
    script = tmp / "load.lua"
    headers = f'wrk.headers["Authorization"] = "Bearer {TOKEN}"' if auth else ""
    if queued:
        headers += '\nwrk.headers["Prefer"] = "respond-async"'
    delay = f"delay = function() return {delay_ms} end" if delay_ms else ""
    script.write_text(WRK_SCRIPT % {"headers": headers, "body": body, "path": path, "delay": delay})
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{int(duration)}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def drained(url: str, started: float, *, pages: bool = False, timeout: float = 600.0) -> float:
    """Wait until the inbox is empty (and, with `pages`, no page is pending);
    the seconds since `started` when it was."""
    deadline = time.monotonic() + timeout
    wanted = (r"^escalade_inbox_depth (\d+)",)
    if pages:
        wanted += (r'^escalade_deliveries\{status="pending"\} (\d+)',)
    while time.monotonic() < deadline:
        metrics = httpx.get(url + "/metrics", timeout=30).text
        found = [re.search(line, metrics, re.MULTILINE) for line in wanted]
        assert all(found), f"not all of {wanted} in /metrics"
        if all(f.group(1) == "0" for f in found if f):
            return time.perf_counter() - started
        time.sleep(0.2)
    raise TimeoutError("the inbox did not drain" + (" or pages are pending" if pages else ""))


def queued_ingest(
    url: str, body: str, per_request: int, duration: float, tmp: Path
) -> tuple[float, float]:
    """Signals/s accepted with respond-async, and signals/s routed end to end
    (everything accepted, divided by the time until the inbox was empty)."""
    started = time.perf_counter()
    rate = wrk(url, "/v1/signals", body, duration, tmp, auth=True, queued=True) * per_request
    return rate, rate * duration / drained(url, started)


def escalade_latency(url: str, sink: Sink, samples: int) -> list[float]:
    """Seconds from sending a probe signal to its page arriving at the sink."""
    got = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for i in range(samples):
            marker = f"probe-{time.monotonic_ns()}-{i}"
            sent = time.perf_counter()
            answer = client.post(
                "/v1/signals", json={"kind": "probe", "labels": {"n": marker}, "summary": marker}
            )
            answer.raise_for_status()
            got.append(sink.wait_for(marker.encode()) - sent)
            time.sleep(0.01)
    return got


def alertmanager_latency(url: str, sink: Sink, samples: int) -> list[float]:
    got = []
    with httpx.Client(base_url=url) as client:
        for i in range(samples):
            marker = f"probe-{time.monotonic_ns()}-{i}"
            alert = [{"labels": {"alertname": "Probe", "n": marker}}]
            sent = time.perf_counter()
            client.post("/api/v2/alerts", json=alert).raise_for_status()
            got.append(sink.wait_for(marker.encode()) - sent)
            time.sleep(0.01)
    return got


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def under_load(
    measure: object, url: str, path: str, body: str, rate: float, tmp: Path, *, auth: bool
) -> list[float]:
    """Run `measure` while wrk keeps about `rate` requests/s going."""
    delay_ms = max(16 / rate * 1000, 0.1)
    load = threading.Thread(
        target=wrk, args=(url, path, body, 12, tmp), kwargs={"auth": auth, "delay_ms": delay_ms}
    )
    load.start()
    time.sleep(2)
    try:
        return measure()  # type: ignore[operator, no-any-return]
    finally:
        load.join()


def ms(values: list[float]) -> str:
    return f"{percentile(values, 0.5) * 1000:.1f} / {percentile(values, 0.99) * 1000:.1f}"


@dataclass(frozen=True)
class Row:
    """A line of the results: its text, and what it is compared by with
    Alertmanager's own line of the same run (a rate, or a latency's p99)."""

    name: str
    result: str
    rate: float | None = None  # per second
    p99: float | None = None  # seconds


def rate_row(name: str, rate: float, routed: float | None = None, unit: str = "signals/s") -> Row:
    text = f"{rate:,.0f}" if routed is None else f"{rate:,.0f} / {routed:,.0f}"
    return Row(name, f"{text} {unit}", rate=rate)


def latency_row(name: str, values: list[float]) -> Row:
    return Row(name, ms(values), p99=percentile(values, 0.99))


def against(row: Row, alertmanager: Row | None, latency: Row | None) -> str:
    """The row's ratio to Alertmanager's: its rate (the first figure, signals
    accepted) to Alertmanager's alerts/s, or its p99 to Alertmanager's p99."""
    if row.rate is not None and alertmanager is not None and alertmanager.rate:
        return f"{row.rate / alertmanager.rate:.2f}"
    if row.p99 is not None and latency is not None and latency.p99:
        return f"{row.p99 / latency.p99:.1f}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1, help="escalade serve --workers")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    assert shutil.which("wrk"), "install wrk (apt-get install wrk)"
    rows: list[Row] = []
    am_rate: Row | None = None
    am_latency: Row | None = None
    sink = Sink()
    sink.start()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if ALERTMANAGER:
            with alertmanager(sink, tmp) as am:
                peak = wrk(am, "/api/v2/alerts", ONE_ALERT, args.duration, tmp, auth=False)
                am_rate = rate_row("Alertmanager, one alert per request", peak, unit="alerts/s")
                quiet = alertmanager_latency(am, sink, args.samples)
                am_latency = latency_row("Alertmanager alert to webhook, p50 / p99 ms", quiet)
                rows += [am_rate, am_latency]
        backends = [("SQLite", f"sqlite:///{tmp}/bench.db")]
        if args.postgres:
            backends.append(("PostgreSQL", reset_schema(args.postgres)))
        for label, db_url in backends:
            with escalade(db_url, sink, args.workers, tmp) as url:
                one = wrk(url, "/v1/signals", ONE_SIGNAL, args.duration, tmp, auth=True)
                rows.append(rate_row(f"Escalade {label}, one signal per request", one))
                hundred = wrk(url, "/v1/signals", batch_body(100), args.duration, tmp, auth=True)
                rows.append(rate_row(f"Escalade {label}, batches of 100", hundred * 100))
                rows += queued_and_latency(url, sink, label, args.duration, args.samples, tmp)
                loaded = under_load(
                    lambda u=url: escalade_latency(u, sink, args.samples // 2),
                    url,
                    "/v1/signals",
                    ONE_SIGNAL,
                    one / 2,
                    tmp,
                    auth=True,
                )
                rows.append(latency_row(f"Escalade {label} at half peak, p50 / p99 ms", loaded))
            if label != "PostgreSQL":
                continue  # a worker process on SQLite has no wake-up but its poll
            with escalade(db_url, sink, args.workers, tmp, apart=True) as url:
                apart = f"{label}, serve --no-engine + 1 worker process"
                rows += queued_and_latency(url, sink, apart, args.duration, args.samples, tmp)
    print(
        f"| measurement ({args.duration:.0f} s wrk runs, 2 threads, 16 connections) | result "
        "| against Alertmanager (rates over its alerts/s; latencies over its p99) |"
    )
    print("|---|---|---|")
    for row in rows:
        print(f"| {row.name} | {row.result} | {against(row, am_rate, am_latency)} |")
    print(json.dumps({row.name: row.result for row in rows}), file=sys.stderr)


def queued_and_latency(
    url: str, sink: Sink, label: str, duration: float, samples: int, tmp: Path
) -> list[Row]:
    """respond-async ingest (1 and 100 per request), then signal-to-page right
    after the loads (their inbox routed), and again once settled (unloaded)."""
    rows = []
    for size, body in ((1, ONE_SIGNAL), (100, batch_body(100))):
        accepted, routed = queued_ingest(url, body, size, duration, tmp)
        name = f"Escalade {label}, respond-async, {size} per request: accepted / routed"
        rows.append(rate_row(name, accepted, routed))
    after = escalade_latency(url, sink, samples)
    name = f"Escalade {label} signal to notification right after the loads, p50 / p99 ms"
    rows.append(latency_row(name, after))
    settled(url)
    quiet = escalade_latency(url, sink, samples)
    rows.append(latency_row(f"Escalade {label} signal to notification, p50 / p99 ms", quiet))
    return rows


def settled(url: str, quiet: float = 2.0) -> None:
    """Until nothing is queued or waiting to be sent, and `quiet` seconds more:
    the unloaded state, after a load (whose pages, checkpoints and routing
    otherwise fall on the first probes)."""
    drained(url, time.perf_counter(), pages=True, timeout=120.0)
    time.sleep(quiet)


def reset_schema(url: str) -> str:
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench"))
    admin.dispose()
    return f"{url}?options=-csearch_path%3Dbench"


if __name__ == "__main__":
    main()
