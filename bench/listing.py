"""Incident list and detail latency with 1,000,000 incidents stored.

    .venv/bin/python bench/listing.py [--postgres URL] [--incidents 1000000]

Writes the incidents straight into the table (the shape ingest writes, a year of
history, 2 % still open), starts `escalade serve` on the database and times the
list (first page, open only, one tier, a deep page) and the detail endpoints over
HTTP. Prints p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, insert, text

from escalade.domain.incidents import Incident, IncidentStatus, LadderPosition
from escalade.engine.service import Escalade
from escalade.storage.incidents import to_row
from escalade.storage.migrate import upgrade
from escalade.storage.schema import incidents

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import TOKEN, free_port, wait_http

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TIERS = ("sev1", "sev2", "sev4")


def fill(url: str, total: int) -> str:
    """Insert `total` incidents; the id of one in the middle, for the detail query."""
    engine = create_engine(url)
    start = datetime(2025, 11, 23, tzinfo=UTC)
    step = timedelta(days=365) / total
    template = Incident(
        id="",
        title="Fairness gap on segment b",
        tier="sev2",
        type="fairness",
        rule_id="fairness-breach",
        group_key="",
        status=IncidentStatus.RESOLVED,
        opened_at=start,
        last_signal_at=start,
        ladder=LadderPosition("standard", 1, 0, 1, False),
        subject={"model": "m1", "system": "support-bot"},
        summary="parity gap 0.14 on production",
        roles={"incident_lead": "alice"},
    )
    middle = ""
    with engine.begin() as conn:
        for chunk in range(0, total, 10_000):
            rows = []
            for i in range(chunk, min(chunk + 10_000, total)):
                at = start + step * i
                open_ = i % 50 == 0
                incident = replace(
                    template,
                    id=f"inc_bench{i:09d}",
                    group_key=f"fairness-breach|m{i % 97}|s{i % 13}",
                    tier=TIERS[i % 3],
                    status=IncidentStatus.TRIGGERED if open_ else IncidentStatus.RESOLVED,
                    opened_at=at,
                    last_signal_at=at,
                    resolved_at=None if open_ else at + timedelta(minutes=40),
                    acknowledged_at=at + timedelta(minutes=3),
                )
                rows.append(to_row(incident))
            conn.execute(insert(incidents), rows)
            if chunk <= total // 2 < chunk + 10_000:
                middle = f"inc_bench{total // 2:09d}"
    engine.dispose()
    return middle


def timed(client: httpx.Client, path: str, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    samples.sort()
    return samples[len(samples) // 2] * 1000, samples[int(len(samples) * 0.95)] * 1000


def run(url: str, total: int, repeat: int, tmp: Path) -> list[tuple[str, float, float]]:
    policy = tmp / "policy.yaml"
    policy.write_text((ROOT / "examples/policies/demo.yaml").read_text())
    service = Escalade(url, policy)
    upgrade(service.db)
    service.close()
    started = time.perf_counter()
    middle = fill(url, total)
    print(f"  wrote {total:,} incidents in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    port = free_port()
    env = {
        **os.environ,
        "ESCALADE_DATABASE_URL": url,
        "ESCALADE_POLICY": str(policy),
        "ESCALADE_ADMIN_TOKEN": TOKEN,
    }
    process = subprocess.Popen(
        [str(VENV_BIN / "escalade"), "serve", "--port", str(port), "--no-engine"],
        env=env,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", timeout=120)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            deep = client.get("/v1/incidents", params={"limit": 50}).json()["next_before"]
            queries = [
                ("list, first page of 50", "/v1/incidents?limit=50"),
                ("list, open only", "/v1/incidents?status=open&limit=50"),
                ("list, one tier", "/v1/incidents?tier=sev1&limit=50"),
                ("list, next page", f"/v1/incidents?limit=50&before={quote(deep)}"),
                ("detail", f"/v1/incidents/{middle}"),
            ]
            return [(name, *timed(client, path, repeat)) for name, path in queries]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        backends = [("SQLite", f"sqlite:///{tmp}/listing.db")]
        if args.postgres:
            admin = create_engine(args.postgres)
            with admin.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench"))
            admin.dispose()
            backends.append(("PostgreSQL", f"{args.postgres}?options=-csearch_path%3Dbench"))
        print(f"| backend | query ({args.incidents:,} incidents) | p50 ms | p95 ms |")
        print("|---|---|---|---|")
        for label, url in backends:
            for query, p50, p95 in run(url, args.incidents, args.repeat, tmp):
                print(f"| {label} | {query} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
