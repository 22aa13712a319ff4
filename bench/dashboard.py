"""Dashboard page times: how long the server takes to render each main page.

Builds a database with many incidents (the reference policy, distinct models so
each signal opens its own incident), signs in, and times each page in-process
(Starlette's TestClient, no network), reporting the median and p95 of repeated
requests.

    .venv/bin/python bench/dashboard.py [--incidents N] [--repeat R]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from escalade.app import create_app
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.settings import Settings
from escalade.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "SMTP_HOST": "127.0.0.1",
    "OPS_HOOK_URL": "http://127.0.0.1:9/h",
    "OPS_HOOK_SECRET": "s",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/s",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        policy = ROOT / "examples/policies/reference.yaml"
        service = Escalade(url, policy, env=ENV)
        upgrade(service.db)
        kinds = ("privacy_leak", "user_report", "error_rate")
        wire = [
            SignalIn(
                kind=kinds[i % 3],
                subject={"system": "s", "model": f"m{i}"},
                summary=f"incident {i}",
            )
            for i in range(args.incidents)
        ]
        for start in range(0, len(wire), 500):
            service.ingest(service.accept(wire[start : start + 500]))
        one = service.list_incidents(limit=1)[0]["id"]
        service.create_token("bench", "admin", "bench-token")
        settings = Settings(database_url=url, policy=policy, run_engine=False, secret_key="b")
        app = create_app(settings, service)
        with TestClient(app, base_url="https://testserver") as client:
            page = client.get("/ui/signin").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf
            client.post("/ui/signin", data={"csrf": csrf.group(1), "token": "bench-token"})
            print(f"{args.incidents} incidents, SQLite, {args.repeat} requests per page")
            for path in (
                "/ui/incidents",
                "/ui/incidents?status=open&tier=sev1",
                f"/ui/incidents/{one}",
                f"/ui/incidents/{one}/live",
                "/ui/reviews",
                "/ui/oncall",
                "/ui/policy",
                "/ui/metrics",
                "/ui/audit",
            ):
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                times.sort()
                p95 = times[int(len(times) * 0.95) - 1]
                print(f"  {path:45s} median {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms")


if __name__ == "__main__":
    main()
