"""Ingest hands a new incident's pages, already claimed, to its process's sender."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import FakeClock
from escalade.domain.effects import Notify
from escalade.domain.signals import SignalIn
from escalade.engine.handoff import Handoff
from escalade.engine.service import Escalade
from escalade.engine.worker import DELIVERY_SLICE
from escalade.storage import deliveries
from escalade.storage.schema import deliveries as delivery_rows
from support.engines import Harness
from support.policies import BASE
from support.sink import Sink

PAGES_ONLY = BASE.replace("roles: [incident_lead, legal_liaison], ", "").replace(
    "role:legal_liaison", "person:carol"
)
LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}
LEASE = timedelta(seconds=60)


def handing(service: Escalade, worker_id: str = "w-own", limit: int = 10) -> Handoff:
    service.handoff = Handoff(worker_id, LEASE, limit, threading.Event())
    return service.handoff


def open_one(service: Escalade, key: str = "a") -> str:
    wire = [SignalIn.model_validate({**LEAK, "dedup_key": key})]
    [accepted] = service.ingest(service.accept(wire)).accepted
    return str(accepted.incident_id)


def rows(service: Escalade) -> list[tuple[str | None, int, str]]:
    with service.db.connect() as conn:
        found = conn.execute(
            select(delivery_rows.c.claimed_by, delivery_rows.c.attempts, delivery_rows.c.status)
        )
        return [(r.claimed_by, r.attempts, r.status) for r in found]


def test_the_page_is_written_claimed_and_handed_to_the_own_sender(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=PAGES_ONLY)
    handoff = handing(service)
    wire = [SignalIn.model_validate(LEAK)]
    result = service.ingest(service.accept(wire))
    assert not result.due_now  # nothing for any other worker: no wake-up, no NOTIFY
    [page] = handoff.take()
    assert (page.person, page.attempts, page.incident_id) == (
        "alice",
        1,
        result.accepted[0].incident_id,
    )
    assert rows(service) == [("w-own", 1, "pending")]
    with service.db.begin() as conn:  # another worker finds it claimed
        assert deliveries.claim(conn, clock.now(), 10, LEASE, "w-other") == []
    clock.advance(seconds=61)  # until the lease runs out
    with service.db.begin() as conn:
        [again] = deliveries.claim(conn, clock.now(), 10, LEASE, "w-other")
    assert (again.id, again.attempts) == (page.id, 2)


def test_a_sender_that_is_behind_gets_nothing_more_the_pages_go_the_ordinary_way(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=PAGES_ONLY)
    handoff = handing(service, limit=1)
    open_one(service, "a")
    assert len(rows(service)) == 1
    wire = [SignalIn.model_validate({**LEAK, "dedup_key": "b"})]
    assert service.ingest(service.accept(wire)).due_now  # the queue is full: wake a worker
    assert sorted(rows(service), key=str) == sorted(
        [("w-own", 1, "pending"), (None, 0, "pending")], key=str
    )
    assert len(handoff.take()) == 1


def test_a_stopped_worker_gets_nothing_the_pages_go_the_ordinary_way(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=PAGES_ONLY)
    handing(service).close()
    result = service.ingest(service.accept([SignalIn.model_validate(LEAK)]))
    assert result.due_now and result.handed == ()
    assert rows(service) == [(None, 0, "pending")]


def test_a_handoff_closed_between_commit_and_give_releases_the_pages(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=PAGES_ONLY)

    class ClosesAtGive(Handoff):
        def give(self, handed):  # type: ignore[no-untyped-def]
            self.close()
            return super().give(handed)

    service.handoff = ClosesAtGive("w-own", LEASE, 10, threading.Event())
    result = service.ingest(service.accept([SignalIn.model_validate(LEAK)]))
    assert len(result.handed) == 1
    assert rows(service) == [(None, 0, "pending")]  # given back, attempt not counted
    assert service.wake.is_set()


def test_a_key_already_in_the_outbox_is_not_handed_over(harness: Harness, clock: FakeClock) -> None:
    service = harness.service(text=PAGES_ONLY)
    note = Notify("inc_1", 1, "hook", "alice", "alice@example.com", "page", "s", "t")
    lease = deliveries.Lease("w-own", clock.now() + LEASE)
    with service.db.begin() as conn:
        [first] = deliveries.enqueue(conn, [note, note], clock.now(), lease)
        assert deliveries.enqueue(conn, [note], clock.now(), lease) == []
    assert first.id == note.idempotency_key
    assert rows(service) == [("w-own", 1, "pending")]


def test_the_worker_sends_what_was_handed_over_once(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    worker.handoff = handing(service, worker.worker_id)
    incident_id = open_one(service)
    assert worker.send_handed(clock.now()) == 1
    assert worker.deliver_due(clock.now()) == 0  # nothing left to claim
    assert worker.send_handed(clock.now()) == 0
    [page] = sink.wait_for(1)
    assert page.json()["incident_id"] == incident_id
    assert rows(service) == [(None, 1, "delivered")]
    timeline = service.incident(incident_id)["timeline"]
    assert [e["kind"] for e in timeline].count("delivery.sent") == 1


def test_pages_handed_over_and_not_sent_go_back_when_the_worker_stops(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=PAGES_ONLY)
    worker = harness.worker(service)
    worker.handoff = handing(service, worker.worker_id)
    open_one(service)
    assert rows(service) == [(worker.worker_id, 1, "pending")]
    worker._give_back_handed()
    assert rows(service) == [(None, 0, "pending")]  # claimable now, attempt not counted
    assert service.handoff.lease(clock.now()) is None  # and no more are handed over


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # sends apart: PostgreSQL
def test_a_running_worker_registers_its_handoff_and_sends_through_it(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_for, args=(service, stop, "serve"))
    thread.start()
    try:
        for _ in range(500):
            if service.handoff is not None:
                break
            stop.wait(0.01)
        assert service.handoff is worker.handoff is not None
        assert service.queued == worker.inbox_arrived  # queued signals: the linger-aware wake
        incident_id = open_one(service)
        [page] = sink.wait_for(1)
        assert page.json()["incident_id"] == incident_id
    finally:
        stop.set()
        worker.wake.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert service.handoff is None  # unregistered on stop
    assert service.queued == service.wake.set
    assert rows(service) == [(None, 1, "delivered")]
    assert len(sink.snapshot()) == 1


def test_the_worker_hands_what_it_routes_and_fires_to_its_own_sender(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    worker.handoff = Handoff(worker.worker_id, LEASE, 10, threading.Event())
    service.enqueue(service.accept_queued([SignalIn.model_validate(LEAK)]))  # respond-async
    worker.route_inbox(clock.now())
    clock.advance(seconds=1)  # past the router's linger
    assert worker.route_inbox(clock.now()) == 1
    [alice] = worker.handoff.take()
    assert alice.person == "alice"
    assert rows(service) == [(worker.worker_id, 1, "pending")]
    clock.advance(minutes=5)  # rung 2 is due
    assert worker.fire_due_timers(clock.now()) > 0
    rung_two = worker.handoff.take()
    # Rung 2 pages bob and carol, and alice again.
    assert sorted(str(d.person) for d in rung_two) == ["alice", "bob", "carol"]
    assert worker._send_claimed([alice, *rung_two], clock.now() + DELIVERY_SLICE) == 4
    assert worker.deliver_due(clock.now()) == 0  # nothing was left unclaimed
    people = sorted(r.json()["recipient"]["person"] for r in sink.wait_for(4))
    assert people == ["alice", "alice", "bob", "carol"]
    assert {r[2] for r in rows(service)} == {"delivered"}
