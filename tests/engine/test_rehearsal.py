"""An API process rehearses the ingest path at start-up (ingest.rehearse): the
first real signal finds its statements built, and nothing of the rehearsal
is kept or sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine.interfaces import CacheStats

from escalade.domain.signals import SignalIn
from escalade.storage.schema import (
    audit_heads,
    deliveries,
    incidents,
    rule_state,
    signals,
    timeline,
    timers,
)
from support.engines import Harness
from support.policies import BASE
from support.sink import Sink

TABLES = (incidents, signals, deliveries, timers, timeline, audit_heads, rule_state)


def test_a_rehearsal_keeps_nothing_and_pages_no_one(harness: Harness, sink: Sink) -> None:
    service = harness.service(text=BASE, env={"SINK_URL": sink.url})
    service.rehearse()
    with service.db.connect() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in TABLES
        }
    assert counts == dict.fromkeys(counts, 0)
    worker = harness.worker(service)
    worker.run_once()
    assert sink.received == []
    # The same path for real: a signal no rule names opens an incident and pages.
    service.ingest(service.accept([SignalIn(kind="unforeseen", summary="real")]))
    worker.run_once()
    assert len(sink.wait_for(1)) >= 1


@pytest.mark.parametrize("rehearsed", [False, True])
def test_after_a_rehearsal_the_first_signal_s_statements_are_built(
    harness: Harness, rehearsed: bool
) -> None:
    service = harness.service(text=BASE)
    if rehearsed:
        service.rehearse()
    built: list[tuple[CacheStats, str]] = []

    def note(_c: Any, _cur: Any, statement: str, _p: Any, context: Any, _many: bool) -> None:
        built.append((context.cache_hit, statement))

    event.listen(service.db, "after_cursor_execute", note)
    # A signal no rule names, as the rehearsal's: the policy's default routes it.
    # (Others share most statements; a different number of pages, for one, is
    # an INSERT of its own.)
    service.ingest(service.accept([SignalIn(kind="unforeseen", summary="first")]))
    event.remove(service.db, "after_cursor_execute", note)
    missed = sum(1 for s, _ in built if s is CacheStats.CACHE_MISS)
    assert (missed == 0) if rehearsed else (missed > 0), [
        (s.name, st[:60]) for s, st in built if s is CacheStats.CACHE_MISS
    ]
