"""Engine-level routing of the inbox: queued signals routed into incidents per second.

Signals sent with `Prefer: respond-async` wait in the inbox until a worker routes
them, a pass at a time. This queues `--signals` of them spread over 50 groups
(so nearly every one joins an open incident, the steady state of a burst) and
times routing them all, for each pass size, without HTTP.

    .venv/bin/python bench/route.py [--postgres URL] [--signals N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from serve import reset_schema  # bench/serve.py: a fresh `bench` schema

from escalade.domain.signals import SignalIn
from escalade.engine.ingest import route_queued
from escalade.engine.service import Escalade
from escalade.storage.migrate import upgrade

POLICY = """
version: 1
organization: Bench
timezone: UTC
people:
  pat: {name: Pat, email: pat@bench.test}
tiers:
  sev4: {name: Low, ack_within: 1h, ladder: quiet}
ladders:
  quiet:
    rungs: [{notify: [person:pat], escalate_after: 1h}]
rules:
  - {id: load, match: {kind: load}, tier: sev4, type: other, group_by: [labels.g]}
default: {tier: sev4, type: other}
grouping: {window: 10m}
"""


def run(url: str, policy: Path, total: int, per_pass: int) -> float:
    service = Escalade(url, policy)
    upgrade(service.db)
    wire = [
        SignalIn(kind="load", value=0.5, labels={"g": f"g{i % 50}"}, summary="load")
        for i in range(total)
    ]
    for start in range(0, total, 1000):
        service.enqueue(service.accept_queued(wire[start : start + 1000]))
    started = time.perf_counter()
    routed = 0
    while True:
        n = route_queued(service.db, service.policy, datetime.now(UTC), per_pass).count
        if not n:
            break
        routed += n
    elapsed = time.perf_counter() - started
    service.close()
    assert routed == total, f"routed {routed} of {total}"
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL to measure too")
    parser.add_argument("--signals", type=int, default=20_000)
    args = parser.parse_args()
    print("| backend | signals a pass | routed signals/s |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as name:
        policy = Path(name) / "policy.yaml"
        policy.write_text(POLICY)
        for per_pass in (200, 1000):
            rate = run(f"sqlite:///{name}/bench-{per_pass}.db", policy, args.signals, per_pass)
            print(f"| SQLite | {per_pass} | {rate:,.0f} |")
            if args.postgres:
                rate = run(reset_schema(args.postgres), policy, args.signals, per_pass)
                print(f"| PostgreSQL | {per_pass} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
