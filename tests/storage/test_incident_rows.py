"""Incidents and timeline entries as written on SQLite and PostgreSQL: a batch
of changed incidents goes back in one call (one statement over arrays on
PostgreSQL), only where each row still holds the version it was read at; a
batch of entries keeps its order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from escalade.domain.effects import Record
from escalade.domain.incidents import Incident, IncidentStatus
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.storage import incidents as store
from escalade.storage import timeline as timeline_store
from escalade.storage.schema import timeline
from support.engines import Harness


def two_incidents(service: Escalade) -> list[Incident]:
    wire = [
        SignalIn(kind="privacy_leak", subject={"model": model}, summary="PII")
        for model in ("chat-v2", "chat-v3")
    ]
    ids = [a.incident_id for a in service.ingest(service.accept(wire)).accepted]
    assert len(set(ids)) == 2 and all(ids)
    with service.db.connect() as conn:
        found = [store.get(conn, str(i)) for i in ids]
    assert all(found)
    return [i for i in found if i is not None]


def test_changed_incidents_go_back_whole(harness: Harness) -> None:
    service = harness.service()
    first, second = two_incidents(service)
    at = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    changed = [
        replace(
            first,
            status=IncidentStatus.ACKNOWLEDGED,
            acknowledged_at=at,
            acknowledged_by="alice",
            title="PII in chat-v2: é",
            facts={"records": 12},
            version=first.version + 1,
        ),
        replace(second, last_signal_at=at + timedelta(minutes=5), signal_count=7, version=9),
    ]
    with service.db.begin() as conn:
        store.save(conn, [(changed[0], first.version), (changed[1], second.version)])
        store.save(conn, [])
    with service.db.connect() as conn:
        assert [store.get(conn, i.id) for i in changed] == changed


def test_a_stale_version_fails_the_whole_save(harness: Harness) -> None:
    service = harness.service()
    first, second = two_incidents(service)
    fresh = replace(first, title="changed", version=first.version + 1)
    stale = replace(second, title="changed too", version=second.version + 1)
    with pytest.raises(store.StaleIncident), service.db.begin() as conn:
        store.save(conn, [(fresh, first.version), (stale, second.version - 1)])
    with service.db.connect() as conn:
        assert [store.get(conn, i.id) for i in (first, second)] == [first, second]


def test_entries_of_several_chains_keep_their_order(harness: Harness) -> None:
    service = harness.service()
    first, second = two_incidents(service)
    at = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    records = [
        Record(incident.id, at + timedelta(seconds=n), "note", "alice", {"n": n, "text": "ü"})
        for n, incident in enumerate((first, second, first, second, first))
    ]
    with service.db.begin() as conn:
        timeline_store.append(conn, records)
    with service.db.connect() as conn:
        rows = conn.execute(
            select(timeline.c.incident_id, timeline.c.data)
            .where(timeline.c.kind == "note")
            .order_by(timeline.c.id)
        ).all()
    assert [(r.incident_id, r.data["n"]) for r in rows] == [
        (r.incident_id, r.data["n"]) for r in records
    ]
    assert service.verify_audit()["ok"]


def test_an_entry_at_a_naive_time_is_refused(harness: Harness) -> None:
    service = harness.service()
    first, _ = two_incidents(service)
    naive = Record(first.id, datetime(2026, 11, 23, 11, 0), "note", "alice")
    # SQLite's column type refuses it (through SQLAlchemy); PostgreSQL's arrays, before.
    refused = (ValueError, StatementError)
    with pytest.raises(refused, match="naive datetime"), service.db.begin() as conn:
        timeline_store.append(conn, [naive])
