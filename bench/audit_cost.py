"""What the audit chain costs ingest: SQL statements per transaction and client
CPU per signal, which (unlike wall time) hold steady on a shared machine.

    .venv/bin/python bench/audit_cost.py [DATABASE_URL]

Run it on two checkouts (PYTHONPATH=other/src for the one without the chain)
and compare; docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/cost.db"
    service = Escalade(url, ROOT / "examples/policies/demo.yaml")
    upgrade(service.db)
    statements = 0

    @event.listens_for(service.db, "before_cursor_execute")
    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    wire = [
        SignalIn(
            kind="fairness",
            value=0.2,
            labels={"env": "production", "segment": f"s{i % 50}"},
            subject={"model": f"m{i % 20}"},
            summary="parity gap",
        )
        for i in range(3000)
    ]
    for batch, total in ((1, 1500), (100, 3000)):
        statements = 0
        started = time.process_time()
        for start in range(0, total, batch):
            service.ingest(service.accept(wire[start : start + batch]))
        cpu = time.process_time() - started
        print(
            f"batch {batch}: {statements / (total / batch):.1f} statements per transaction, "
            f"{cpu / total * 1e6:.0f} us client CPU per signal"
        )
    service.close()


if __name__ == "__main__":
    main()
