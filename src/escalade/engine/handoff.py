"""Handing a new incident's first pages straight to this process's sender.

A page normally waits in the outbox until a worker claims it: after the ingest
commit, the worker wakes, claims the row in a transaction of its own, commits,
and only then sends. That claim was about a third of the time from a signal to
its first page on PostgreSQL (docs/benchmarks.md). When the API process runs
its own worker, ingest writes the rows already claimed by that worker (the
lease `claim` would have taken, attempt counted) and, once committed, hands
them to its sender thread here. Every other worker sees an ordinary claimed
row, so nothing else changes: if this process dies, the lease runs out (or the
audit finds the worker stale) and another worker sends; a graceful stop gives
back what was not sent.

The queue is bounded: while the sender is behind, new pages are written
unclaimed and go the ordinary way, so no lease waits in memory for long.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from escalade.storage import deliveries
from escalade.storage.deliveries import Delivery, Lease


class Handoff:
    def __init__(self, worker_id: str, lease: timedelta, limit: int, wake: threading.Event):
        self._worker_id = worker_id
        self._lease = lease
        self._limit = limit
        self._wake = wake  # the sender's
        self._lock = threading.Lock()
        self._queue: list[Delivery] = []
        self._closed = False

    @property
    def worker_id(self) -> str:
        return self._worker_id

    def lease(self, now: datetime) -> Lease | None:
        """The lease for a transaction's messages, or None when they should go
        the ordinary way (the sender is behind, or stopping)."""
        with self._lock:
            if self._closed or len(self._queue) >= self._limit:
                return None
        return Lease(self._worker_id, now + self._lease)

    def give(self, handed: Sequence[Delivery]) -> bool:
        """Queue committed, leased deliveries for the sender. False when the
        handoff was closed meanwhile: the caller gives the leases back."""
        if not handed:
            return True
        with self._lock:
            if self._closed:
                return False
            self._queue.extend(handed)
        self._wake.set()
        return True

    def take(self) -> list[Delivery]:
        """Everything handed over so far, oldest first."""
        with self._lock:
            taken, self._queue = self._queue, []
        return taken

    def close(self) -> list[Delivery]:
        """Stop taking pages; what was handed over and never taken, to give back."""
        with self._lock:
            self._closed = True
            left, self._queue = self._queue, []
        return left


def lease_from(handoff: Handoff | None, now: datetime) -> Lease | None:
    """The lease for a transaction's messages: none without a handoff."""
    return handoff.lease(now) if handoff is not None else None


def hand_over(
    handoff: Handoff | None, db: Engine, handed: Sequence[Delivery], wake: threading.Event
) -> None:
    """Give the sender what a committed transaction wrote leased to it; if the
    handoff closed meanwhile (the worker is stopping), the claims go back to
    the outbox and `wake` rouses whoever sends them now."""
    if not handed or handoff is None or handoff.give(handed):
        return  # (without a handoff there was no lease, so nothing was handed)
    with db.begin() as conn:
        deliveries.release(conn, handoff.worker_id, [d.id for d in handed])
    wake.set()
