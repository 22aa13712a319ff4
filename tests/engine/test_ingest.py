import pytest
from sqlalchemy import create_engine, event, func, select, text

from conftest import FakeClock
from escalade.domain.signals import SignalIn
from escalade.storage.schema import deliveries, incidents, signals, timers
from support.engines import Harness


def send(service, *wire: dict):  # type: ignore[no-untyped-def]
    batch = service.accept([SignalIn.model_validate(w) for w in wire])
    return service.ingest(batch).accepted


def count(service, table) -> int:  # type: ignore[no-untyped-def]
    with service.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}


def test_a_signal_opens_an_incident_with_its_first_rung_queued(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    [accepted] = send(service, LEAK)
    assert accepted.incident_id
    shown = service.incident(accepted.incident_id)
    assert shown is not None
    assert shown["tier"] == "sev1" and shown["status"] == "triggered"
    assert [e["kind"] for e in shown["timeline"]] == ["incident.opened", "rung.fired"]
    # alice holds the schedule (paged), and alice and carol are told their roles
    assert count(service, deliveries) == 3
    assert count(service, timers) == 2  # the next rung and the ack window


def test_signals_of_one_group_join_within_the_window_and_open_a_new_one_after(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    first, second = send(service, LEAK, {**LEAK, "summary": "again"})
    assert first.incident_id == second.incident_id
    clock.advance(minutes=29)
    [third] = send(service, LEAK)
    assert third.incident_id == first.incident_id
    clock.advance(minutes=31)
    [fourth] = send(service, LEAK)
    assert fourth.incident_id != first.incident_id
    shown = service.incident(first.incident_id)
    assert shown is not None and shown["signal_count"] == 3


def attached(shown: dict) -> list[dict]:  # type: ignore[type-arg]
    return [e["data"] for e in shown["timeline"] if e["kind"] == "signal.attached"]


def test_signals_joining_in_one_pass_share_one_timeline_entry(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    [first] = send(service, LEAK)
    clock.advance(minutes=1)
    wire = [{**LEAK, "id": f"j-{i}", "summary": f"PII {i}", "value": i} for i in range(5)]
    joined = send(service, *wire)
    assert {a.incident_id for a in joined} == {first.incident_id}
    shown = service.incident(str(first.incident_id))
    assert shown is not None and shown["signal_count"] == 6
    assert len(shown["signals"]) == 6  # every signal is still stored on its own
    assert attached(shown) == [
        {
            "signal_id": "j-4",
            "summary": "PII 4",
            "value": 4,
            "count": 5,
            "signal_ids": ["j-0", "j-1", "j-2", "j-3", "j-4"],
        }
    ]
    assert shown["last_signal_at"] == clock.now().isoformat()
    report = service.verify_audit()
    assert report["ok"] and report["breaks"] == []


def test_opening_incidents_looks_up_no_audit_head_joining_one_locks_its_head(
    harness: Harness, clock: FakeClock
) -> None:
    """A timeline this transaction begins has no head to lock: no statement for it."""
    service = harness.service()
    statements: list[str] = []
    event.listen(service.db, "before_cursor_execute", lambda *a: statements.append(a[2]))
    [first] = send(service, LEAK)
    heads_read = [s for s in statements if s.lstrip().startswith("SELECT") and "audit_heads" in s]
    assert heads_read == []
    statements.clear()
    clock.advance(minutes=1)
    [again] = send(service, LEAK)  # joins: its chain's head is locked and moved
    assert again.incident_id == first.incident_id
    assert any(s.lstrip().startswith("SELECT") and "audit_heads" in s for s in statements)
    assert service.verify_audit()["ok"]


def test_the_first_signal_of_a_pass_opens_and_the_rest_of_its_group_join(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    other = {**LEAK, "subject": {"model": "other"}}
    wire = [{**LEAK, "id": "a-0"}, other, {**LEAK, "id": "a-1"}, {**LEAK, "id": "a-2"}]
    a0, b, a1, a2 = send(service, *wire)
    assert a0.incident_id == a1.incident_id == a2.incident_id != b.incident_id
    shown = service.incident(str(a0.incident_id))
    assert shown is not None and shown["signal_count"] == 3
    kinds = [e["kind"] for e in shown["timeline"]]
    assert kinds == ["incident.opened", "rung.fired", "signal.attached"]
    assert attached(shown)[0]["signal_ids"] == ["a-1", "a-2"]
    alone = service.incident(str(b.incident_id))
    assert alone is not None and alone["signal_count"] == 1 and attached(alone) == []
    assert count(service, timers) == 4  # per incident: the next rung and the ack window
    assert service.verify_audit()["ok"]


def test_a_dedup_key_joins_its_open_incident_whatever_the_window(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    keyed = {**LEAK, "dedup_key": "alert-7"}
    [first] = send(service, keyed)
    clock.advance(hours=5)  # far past the 30-minute grouping window
    [later] = send(service, keyed)
    assert later.incident_id == first.incident_id
    assert first.incident_id
    service.resolve(first.incident_id, "alice")
    [after] = send(service, keyed)
    assert after.incident_id != first.incident_id


def test_other_groups_open_their_own_incidents(harness: Harness, clock: FakeClock) -> None:
    service = harness.service()
    a, b = send(service, LEAK, {**LEAK, "subject": {"model": "other"}})
    assert a.incident_id != b.incident_id


def test_resolved_incident_is_not_joined(harness: Harness, clock: FakeClock) -> None:
    service = harness.service()
    [first] = send(service, LEAK)
    assert first.incident_id
    service.resolve(first.incident_id, "alice")
    [again] = send(service, LEAK)
    assert again.incident_id != first.incident_id


def test_posting_the_same_signal_id_twice_stores_it_once(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    [a] = send(service, {**LEAK, "id": "client-1"})
    [b] = send(service, {**LEAK, "id": "client-1"})
    assert not a.duplicate and b.duplicate and b.incident_id == a.incident_id
    c, d = send(service, {**LEAK, "id": "client-2"}, {**LEAK, "id": "client-2"})
    assert not c.duplicate and d.duplicate
    assert count(service, signals) == 2


def test_silenced_signal_is_recorded_but_pages_nobody(harness: Harness, clock: FakeClock) -> None:
    service = harness.service()
    [s] = send(service, {**LEAK, "subject": {"model": "canary"}})
    assert s.incident_id is None and s.silenced_by == "canary under test"
    assert service.signal(s.id) is not None
    assert count(service, incidents) == 0 and count(service, deliveries) == 0


def test_a_batch_is_one_transaction(harness: Harness) -> None:
    service = harness.service()
    wire = [{**LEAK, "subject": {"model": f"m{i % 10}"}} for i in range(200)]
    accepted = send(service, *wire)
    assert len({a.incident_id for a in accepted}) == 10
    assert count(service, signals) == 200


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has no server
def test_ingest_survives_the_database_dropping_its_connections(
    harness: Harness, database_url: str
) -> None:
    """A PostgreSQL restart (here: the service's pooled connection terminated)
    costs no accepted signal: the ingest that meets the dead connection tries
    once more on a fresh one."""
    service = harness.service()
    send(service, LEAK)
    with service.db.connect() as conn:  # the pooled connection the next ingest will use
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killer = create_engine(database_url)
    with killer.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    killer.dispose()
    [again] = send(service, {**LEAK, "id": "after-restart"})
    assert again.incident_id and not again.duplicate
    queued = service.enqueue(service.accept_queued([SignalIn.model_validate({**LEAK, "id": "q"})]))
    assert queued.accepted[0].id == "q"
    assert count(service, signals) == 2
