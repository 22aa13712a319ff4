"""Engine-level ingest throughput: signals committed per second.

Measures the ingest use-case directly (routing, grouping, one transaction per
batch), without HTTP, to show what group commit buys. HTTP-level figures and
the comparison with Alertmanager belong to the scale-out benchmarks.

    .venv/bin/python bench/ingest.py [--postgres URL] [--signals N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent


def run(url: str, total: int, batch: int) -> float:
    service = Escalade(url, ROOT / "examples/policies/demo.yaml")
    upgrade(service.db)
    wire = [
        SignalIn(
            kind="fairness",
            value=0.2,
            labels={"env": "production", "segment": f"s{i % 50}"},
            subject={"model": f"m{i % 20}"},
            summary="parity gap",
        )
        for i in range(total)
    ]
    started = time.perf_counter()
    for start in range(0, total, batch):
        service.ingest(service.accept(wire[start : start + batch]))
    elapsed = time.perf_counter() - started
    service.close()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL to measure too")
    parser.add_argument("--signals", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    heading = f"signals/s (median of {args.repeat})"
    print(f"{'backend':<10} {'batch':>6} {heading:>28}")
    for batch in (1, 100):
        rates = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                rates.append(run(f"sqlite:///{tmp}/bench.db", args.signals, batch))
        print(f"{'sqlite':<10} {batch:>6} {statistics.median(rates):>28,.0f}")
        if args.postgres:
            rates = []
            for _ in range(args.repeat):
                admin = create_engine(args.postgres)
                with admin.begin() as conn:
                    conn.execute(text("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench"))
                admin.dispose()
                rates.append(
                    run(f"{args.postgres}?options=-csearch_path%3Dbench", args.signals, batch)
                )
            print(f"{'postgres':<10} {batch:>6} {statistics.median(rates):>28,.0f}")


if __name__ == "__main__":
    main()
