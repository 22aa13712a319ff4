"""Timer lateness with 100,000 pending escalations, and the memory it takes.

    .venv/bin/python bench/timers.py [--postgres URL] [--pending 100000] [--probes 1000]

Opens `--pending` incidents whose next rung is an hour away (so their escalation
timers stay pending), then, with the engine's worker running on the real clock,
opens `--probes` incidents at a steady rate whose next rung is 10 s away, and
measures how late each of those escalations fired (the rung's timeline entry
against its due time). Prints p50/p99 lateness and the worker process's peak RSS.
"""

from __future__ import annotations

import argparse
import io
import resource
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, text

from escalade.channels.registry import Senders
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.engine.worker import Worker
from escalade.storage.migrate import upgrade
from escalade.storage.schema import incidents, timeline

POLICY = """
version: 1
timezone: UTC
people:
  pat: {name: Pat, contacts: [quiet]}
channels:
  quiet: {type: console}
tiers:
  sev2: {name: High, ack_within: 1h, ladder: probe}
  sev4: {name: Low, ack_within: 4h, ladder: slow}
ladders:
  probe:
    rungs:
      - {notify: [person:pat], escalate_after: 10s}
      - {notify: [person:pat], escalate_after: 1h}
  slow:
    rungs:
      - {notify: [person:pat], escalate_after: 1h}
      - {notify: [person:pat], escalate_after: 1h}
rules:
  - {id: probe, match: {kind: probe}, tier: sev2, type: other, group_by: [labels.n]}
  - {id: bulk, match: {kind: bulk}, tier: sev4, type: other, group_by: [labels.n]}
default: {tier: sev4, type: other}
"""
ESCALATE_AFTER = timedelta(seconds=10)


def run(url: str, pending: int, probes: int, rate: float, tmp: Path) -> dict[str, float]:
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    service = Escalade(url, policy)
    upgrade(service.db)
    started = time.perf_counter()
    for start in range(0, pending, 1000):
        batch = [
            SignalIn(kind="bulk", labels={"n": str(i)})
            for i in range(start, min(start + 1000, pending))
        ]
        service.ingest(service.accept(batch))
    loaded_in = time.perf_counter() - started

    senders = Senders(console=io.StringIO())  # the console channel writes nowhere visible
    stop = threading.Event()
    worker = Worker(service.db, lambda: service.policy, service.clock, senders, service.wake)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    opened: list[tuple[str, datetime]] = []
    for i in range(probes):
        signal = SignalIn(kind="probe", labels={"n": f"p{i}"})
        [accepted] = service.ingest(service.accept([signal])).accepted
        assert accepted.incident_id is not None
        opened.append((accepted.incident_id, service.clock.now()))
        time.sleep(1 / rate)
    time.sleep(ESCALATE_AFTER.total_seconds() + 5)
    stop.set()
    service.wake.set()
    thread.join()
    senders.close()
    lateness = []
    with service.db.connect() as conn:
        rows = conn.execute(
            select(timeline.c.incident_id, timeline.c.at, timeline.c.data).where(
                timeline.c.kind == "rung.fired",
                timeline.c.incident_id.in_([i for i, _ in opened]),
            )
        ).all()
        opened_at = dict(
            conn.execute(
                select(incidents.c.id, incidents.c.opened_at).where(
                    incidents.c.id.in_([i for i, _ in opened])
                )
            ).all()
        )
    fired = {r.incident_id: r.at for r in rows if (r.data or {}).get("rung") == 2}
    missing = 0
    for incident_id, _ in opened:
        at = opened_at[incident_id]
        if incident_id not in fired:
            missing += 1
            continue
        lateness.append((fired[incident_id] - (at + ESCALATE_AFTER)).total_seconds())
    service.close()
    lateness.sort()
    return {
        "pending": pending,
        "load_seconds": loaded_in,
        "probes": len(opened),
        "missing": missing,
        "p50_ms": lateness[len(lateness) // 2] * 1000 if lateness else float("nan"),
        "p99_ms": lateness[int(len(lateness) * 0.99)] * 1000 if lateness else float("nan"),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="probe incidents per second")
    args = parser.parse_args()
    print("| backend | pending | probes | lateness p50 ms | p99 ms | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        backends = [("SQLite", f"sqlite:///{tmp}/timers.db")]
        if args.postgres:
            admin = create_engine(args.postgres)
            with admin.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench"))
            admin.dispose()
            backends.append(("PostgreSQL", f"{args.postgres}?options=-csearch_path%3Dbench"))
        for label, url in backends:
            r = run(url, args.pending, args.probes, args.rate, tmp)
            print(
                f"| {label} | {r['pending']:,} | {r['probes']} ({r['missing']:.0f} missing) | "
                f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_rss_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
