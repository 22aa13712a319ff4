"""The backlog gauges: each queue's size and how late its oldest due item is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from escalade.domain.signals import SignalIn
from escalade.engine.backlog import backlog, overdue
from escalade.storage import workers
from escalade.storage.workers import WorkerRow
from support.engines import Harness

LEAK = {"kind": "privacy_leak", "summary": "PII in output"}
STALE = timedelta(seconds=30)
T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def test_overdue_counts_only_what_is_past_due() -> None:
    assert overdue(T0, None) == 0.0
    assert overdue(T0, T0) == 0.0
    assert overdue(T0, T0 + timedelta(seconds=5)) == 0.0
    assert overdue(T0, T0 - timedelta(seconds=90)) == 90.0


def test_an_idle_deployment_has_nothing_waiting(harness: Harness) -> None:
    service = harness.service()
    found = backlog(service.db, service.clock.now(), STALE)
    assert (found.incidents_open, found.timers_pending, found.inbox_depth) == (0, 0, 0)
    assert (found.timers_overdue, found.inbox_oldest, found.deliveries_overdue) == (0, 0, 0)
    assert found.deliveries == {"pending": 0, "delivered": 0, "failed": 0}
    assert found.workers == {"alive": 0, "stale": 0, "stopped": 0}


def test_with_no_worker_running_every_lag_grows_with_the_clock(harness: Harness) -> None:
    service = harness.service()
    opened = service.clock.now()
    service.ingest(service.accept([SignalIn.model_validate(LEAK)]))
    queued = service.clock.advance(seconds=10)
    service.enqueue(service.accept_queued([SignalIn.model_validate(LEAK)]))

    now = service.clock.advance(seconds=20)
    found = backlog(service.db, now, STALE)
    assert found.incidents_open == 1 and found.timers_pending >= 1
    assert found.timers_overdue == 0  # rung 2 is due 5 minutes after the page
    assert found.deliveries["pending"] >= 1
    assert found.deliveries_overdue == (now - opened).total_seconds()  # rung 1's pages, unsent
    assert (found.inbox_depth, found.inbox_oldest) == (1, (now - queued).total_seconds())

    later = service.clock.advance(minutes=5, seconds=30)
    found = backlog(service.db, later, STALE)
    assert found.timers_overdue == (later - opened - timedelta(minutes=5)).total_seconds()
    assert found.deliveries_overdue == (later - opened).total_seconds()


def test_engine_processes_are_counted_by_heartbeat(harness: Harness) -> None:
    service = harness.service()
    now = service.clock.now()
    rows = [
        WorkerRow("w-alive", "worker", "h", 1, "1", now, now - timedelta(seconds=5), None),
        WorkerRow("w-late", "worker", "h", 2, "1", now, now - timedelta(seconds=29), None),
        WorkerRow("w-stale", "worker", "h", 3, "1", now, now - timedelta(seconds=31), None),
        WorkerRow("w-done", "worker", "h", 4, "1", now, now, now - timedelta(seconds=1)),
    ]
    with service.db.begin() as conn:
        for row in rows:
            workers.beat(conn, row)
    assert backlog(service.db, now, STALE).workers == {"alive": 2, "stale": 1, "stopped": 1}
    with service.db.begin() as conn:
        workers.stopped(conn, "w-alive", now)  # a graceful shutdown
    assert backlog(service.db, now, STALE).workers == {"alive": 1, "stale": 1, "stopped": 2}


def test_the_service_reads_the_backlog_at_most_once_a_second(harness: Harness) -> None:
    """`/metrics` is public and unlimited: a loop of requests reads once a second."""
    service = harness.service()
    statements: list[str] = []

    @event.listens_for(service.reader, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    first = service.backlog(STALE)
    read = len(statements)
    assert read > 0 and first.inbox_depth == 0
    service.enqueue(service.accept_queued([SignalIn.model_validate(LEAK)]))
    assert service.backlog(STALE) is first and len(statements) == read  # the same second
    service.clock.advance(seconds=1)
    assert service.backlog(STALE).inbox_depth == 1 and len(statements) == 2 * read
