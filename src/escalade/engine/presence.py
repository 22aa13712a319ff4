"""A worker's heartbeat: its row in `workers`, refreshed by a thread of its own.

The beat runs apart from the work loop so that a slow pass (a batch of sends
to a receiver that times out) never looks like a dead worker; only a process
that is gone stops beating.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from escalade import __version__
from escalade.engine.clock import Clock
from escalade.storage import workers
from escalade.storage.workers import WorkerRow

log = logging.getLogger("escalade.worker")


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Heartbeat:
    def __init__(self, db: Engine, clock: Clock, worker_id: str, kind: str, every: float) -> None:
        self.db = db
        self.clock = clock
        self.every = every
        now = clock.now()
        self.row = WorkerRow(
            worker_id, kind, socket.gethostname(), os.getpid(), __version__, now, now, None
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="escalade-heartbeat", daemon=True)

    def beat(self) -> None:
        self.row = replace(self.row, beat_at=self.clock.now())
        with self.db.begin() as conn:
            workers.beat(conn, self.row)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and mark the worker stopped (its leases are already released)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            with self.db.begin() as conn:
                workers.stopped(conn, self.row.id, self.clock.now())
        except SQLAlchemyError:
            log.warning("worker.stop_unrecorded", exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except SQLAlchemyError:
                # The database may be restarting; the next beat tries again. A
                # long outage makes this worker look dead, which only hands its
                # leases to others sooner.
                log.warning("worker.heartbeat_failed", exc_info=True)


def listing(db: Engine, now: datetime, stale_after: timedelta) -> list[dict[str, Any]]:
    """Every engine process known to the database, with its status right now."""
    with db.connect() as conn:
        rows = workers.all_(conn)
    limit = stale_after.total_seconds()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "host": r.host,
            "pid": r.pid,
            "status": r.status(now, limit),
            "version": r.version,
            "started_at": r.started_at.isoformat(),
            "beat_at": r.beat_at.isoformat(),
            "stopped_at": r.stopped_at.isoformat() if r.stopped_at else None,
            "seconds_since_beat": round((now - r.beat_at).total_seconds(), 1),
        }
        for r in rows
    ]
