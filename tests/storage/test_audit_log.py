"""The timeline's hash chains on SQLite and PostgreSQL: written by the engine,
checked by `verify`, broken by any edit, deletion or reordering done in SQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update

from conftest import FakeClock
from escalade.domain.effects import Record
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.storage import timeline as timeline_store
from escalade.storage.database import connect
from escalade.storage.migrate import upgrade
from escalade.storage.schema import audit_heads, timeline
from support.engines import Harness

LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}


def incident_with_history(service: Escalade) -> str:
    [accepted] = service.ingest(service.accept([SignalIn.model_validate(LEAK)])).accepted
    assert accepted.incident_id
    service.acknowledge(accepted.incident_id, "alice", "looking")
    service.resolve(accepted.incident_id, "alice", "fixed")
    return accepted.incident_id


def entry_ids(service: Escalade, incident_id: str) -> list[int]:
    with service.db.connect() as conn:
        rows = conn.execute(
            select(timeline.c.id).where(timeline.c.incident_id == incident_id).order_by("id")
        )
        return [r.id for r in rows]


def test_the_engine_writes_chains_that_verify(harness: Harness) -> None:
    service = harness.service()
    incident_id = incident_with_history(service)
    report = service.verify_audit()
    assert report["ok"] and report["breaks"] == []
    assert report["entries"] == len(entry_ids(service, incident_id)) >= 4
    assert service.verify_audit(incident_id)["chains"] == 1


def test_an_edited_entry_is_detected(harness: Harness) -> None:
    service = harness.service()
    incident_id = incident_with_history(service)
    target = entry_ids(service, incident_id)[2]
    with service.db.begin() as conn:
        conn.execute(update(timeline).where(timeline.c.id == target).values(actor="mallory"))
    report = service.verify_audit()
    assert not report["ok"]
    [found] = report["breaks"]
    assert found["entry_id"] == target and "edited" in found["problem"]


def test_a_deleted_entry_is_detected(harness: Harness) -> None:
    service = harness.service()
    incident_id = incident_with_history(service)
    target = entry_ids(service, incident_id)[1]
    with service.db.begin() as conn:
        conn.execute(delete(timeline).where(timeline.c.id == target))
    [found] = service.verify_audit()["breaks"]
    assert found["seq"] == 3 and "expected seq 2" in found["problem"]


def test_a_deleted_tail_is_detected(harness: Harness) -> None:
    service = harness.service()
    incident_id = incident_with_history(service)
    target = entry_ids(service, incident_id)[-1]
    with service.db.begin() as conn:
        conn.execute(delete(timeline).where(timeline.c.id == target))
    [found] = service.verify_audit()["breaks"]
    assert "tail deleted" in found["problem"]


def test_a_whole_deleted_timeline_is_detected_through_its_head(harness: Harness) -> None:
    service = harness.service()
    incident_id = incident_with_history(service)
    with service.db.begin() as conn:
        conn.execute(delete(timeline).where(timeline.c.incident_id == incident_id))
    [found] = service.verify_audit()["breaks"]
    assert found["incident_id"] == incident_id and "tail deleted" in found["problem"]


def test_reordered_entries_are_detected(harness: Harness) -> None:
    service = harness.service()
    incident_id = incident_with_history(service)
    first, second = entry_ids(service, incident_id)[1:3]
    with service.db.begin() as conn:
        columns = [timeline.c[c] for c in ("at", "kind", "actor", "data", "seq", "prev_hash")]
        a = conn.execute(select(*columns, timeline.c.hash).where(timeline.c.id == first)).one()
        b = conn.execute(select(*columns, timeline.c.hash).where(timeline.c.id == second)).one()
        # Swap the two rows' contents (ids stay): the second seq moves first.
        conn.execute(update(timeline).where(timeline.c.id == first).values(seq=-1))
        conn.execute(update(timeline).where(timeline.c.id == second).values(**a._asdict()))
        conn.execute(update(timeline).where(timeline.c.id == first).values(**b._asdict()))
    [found] = service.verify_audit()["breaks"]
    assert found["entry_id"] == first and "reordered" in found["problem"]


def test_two_writers_to_one_incident_never_fork_the_chain(harness: Harness) -> None:
    service = harness.service()
    incident_id = incident_with_history(service)
    start = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        engine = connect(service.database_url)
        try:
            for i in range(40):
                record = Record(incident_id, start + timedelta(seconds=i), "note", name, {"i": i})
                with engine.begin() as conn:
                    timeline_store.append(conn, [record])
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = service.verify_audit(incident_id)
    assert report["ok"], report
    with service.db.connect() as conn:
        seqs = conn.execute(
            select(timeline.c.seq).where(timeline.c.incident_id == incident_id).order_by("seq")
        ).scalars()
        head = conn.execute(
            select(audit_heads.c.seq).where(audit_heads.c.incident_id == incident_id)
        ).scalar_one()
    assert list(seqs) == list(range(1, head + 1))
    assert head == report["entries"]


def test_the_migration_chains_entries_written_before_it(
    database_url: str, clock: FakeClock
) -> None:
    engine = connect(database_url)
    upgrade(engine, "0008")  # the revision before the audit chain
    with engine.begin() as conn:
        for n, incident in enumerate(["inc-a", "inc-b", "inc-a", "inc-a", "inc-b"]):
            conn.execute(
                text(
                    "INSERT INTO timeline (incident_id, at, kind, actor, data) "
                    "VALUES (:i, :at, 'note', 'amy', :data)"
                ),
                {"i": incident, "at": clock.at + timedelta(seconds=n), "data": f'{{"n": {n}}}'},
            )
    upgrade(engine)
    with engine.connect() as conn:
        report = timeline_store.verify_report(conn)
        heads = dict(conn.execute(select(audit_heads.c.incident_id, audit_heads.c.seq)).all())
        total = conn.execute(select(func.count()).select_from(timeline)).scalar_one()
    engine.dispose()
    assert report == {"ok": True, "chains": 2, "entries": 5, "breaks": []}
    assert heads == {"inc-a": 3, "inc-b": 2} and total == 5
