import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from conftest import FakeClock
from escalade.channels.signing import verify
from escalade.domain.signals import SignalIn
from escalade.storage import deliveries as deliveries_store
from escalade.storage.schema import deliveries
from support.engines import Harness
from support.policies import BASE
from support.sink import Sink

# Role briefs at opening are tested elsewhere; here the sink should see pages only.
PAGES_ONLY = BASE.replace("roles: [incident_lead, legal_liaison], ", "").replace(
    "role:legal_liaison", "person:carol"
)
LEAK = {"kind": "privacy_leak", "subject": {"model": "chat-v2"}, "summary": "PII"}


def open_one(service) -> str:  # type: ignore[no-untyped-def]
    [a] = service.ingest(service.accept([SignalIn.model_validate(LEAK)])).accepted
    return str(a.incident_id)


def kinds(service, incident_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["kind"] for e in service.incident(incident_id)["timeline"]]


def test_due_timer_fires_once_and_delivers_signed_webhooks(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    incident_id = open_one(service)
    worker.run_once()
    [first] = sink.wait_for(1)
    body = first.json()
    assert body["recipient"]["person"] == "alice" and body["incident_id"] == incident_id
    assert verify(
        "s3cret",
        first.headers["X-Escalade-Timestamp"],
        first.body,
        first.headers["X-Escalade-Signature"],
        now=float(first.headers["X-Escalade-Timestamp"]),
    )
    clock.advance(minutes=4)
    assert worker.fire_due_timers(clock.now()) == 0
    clock.advance(minutes=1)
    worker.run_once()
    assert worker.fire_due_timers(clock.now()) == 0  # the rung-1 timer is gone
    people = sorted(r.json()["recipient"]["person"] for r in sink.wait_for(4)[1:])
    assert people == ["alice", "bob", "carol"]
    assert kinds(service, incident_id).count("rung.fired") == 2


def test_acknowledged_incident_climbs_no_further(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    incident_id = open_one(service)
    worker.run_once()
    service.acknowledge(incident_id, "alice")
    clock.advance(minutes=60)
    worker.run_once()
    assert len(sink.snapshot()) == 1
    assert kinds(service, incident_id).count("rung.fired") == 1


def test_failed_delivery_is_retried_with_backoff_and_every_attempt_is_on_the_timeline(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    sink.fail_next = [500, 429]
    incident_id = open_one(service)
    worker.run_once()  # 500
    worker.run_once()  # not yet due again
    clock.advance(seconds=1)
    worker.run_once()  # 429
    clock.advance(seconds=2)
    worker.run_once()  # 200
    assert len(sink.wait_for(1)) == 1
    attempts = [k for k in kinds(service, incident_id) if k.startswith("delivery.")]
    assert attempts == ["delivery.retrying", "delivery.retrying", "delivery.sent"]


def test_permanent_failure_is_recorded_not_retried_and_the_ladder_climbs(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    sink.fail_next = [404]
    incident_id = open_one(service)
    worker.run_once()
    clock.advance(minutes=1)
    worker.deliver_due(clock.now())
    entries = kinds(service, incident_id)
    assert next(k for k in entries if k.startswith("delivery.")) == "delivery.failed"
    # Nobody on rung 1 was reached: the contact is recorded and the ladder climbs now.
    assert entries.index("contact.unreachable") < entries.index("incident.escalated")
    with service.db.connect() as conn:
        statuses = dict(conn.execute(select(deliveries.c.id, deliveries.c.status)).all())
    assert statuses[f"{incident_id}/1/alice/hook"] == "failed"


def test_two_workers_racing_fire_each_timer_once(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    incidents = []
    for i in range(20):
        wire = {**LEAK, "subject": {"model": f"m{i}"}}
        [a] = service.ingest(service.accept([SignalIn.model_validate(wire)])).accepted
        incidents.append(a.incident_id)
    clock.advance(minutes=5)
    workers = [harness.worker(service) for _ in range(2)]
    fired: list[int] = []
    barrier = threading.Barrier(2)

    def race(w) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        total = 0
        while (n := w.fire_due_timers(clock.now())) > 0:
            total += n
        fired.append(total)

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(fired) == 40  # 20 ladder timers + 20 ack windows, each exactly once
    for incident_id in incidents:
        assert kinds(service, incident_id).count("rung.fired") == 2


class Ticking(FakeClock):
    """Simulated time that moves `step` each time it is read: a slow receiver."""

    step = timedelta(milliseconds=40)

    def now(self) -> datetime:
        self.at += self.step
        return self.at


def pages(service) -> list[tuple[str, int, str | None]]:  # type: ignore[no-untyped-def]
    """Every message's (status, attempts, holder), in a fixed order."""
    with service.db.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.status, deliveries.c.attempts, deliveries.c.claimed_by)
        ).all()
    return sorted((tuple(r) for r in rows), key=str)


def test_a_pass_sends_for_a_slice_then_hands_the_rest_back_for_due_timers(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    for n in range(3):
        service.ingest(service.accept([SignalIn.model_validate({**LEAK, "dedup_key": f"{n}"})]))
    worker = harness.worker(service)
    worker.clock = Ticking(clock.now())
    assert worker.deliver_due(clock.now()) == 1  # the slice ran out after the first send
    assert pages(service) == [("delivered", 1, None), ("pending", 0, None), ("pending", 0, None)]
    assert worker.deliver_due(worker.clock.now()) == 1
    assert worker.deliver_due(worker.clock.now()) == 1
    assert len(sink.wait_for(3)) == 3


class Slow(Ticking):
    step = timedelta(milliseconds=2)


@pytest.mark.parametrize("before_timers", [False, True])
def test_a_pass_that_fires_timers_stops_sending_when_the_next_one_falls_due(
    harness: Harness, clock: FakeClock, sink: Sink, before_timers: bool
) -> None:
    """Where one loop sends and fires timers (SQLite), a backlog of pages must not
    hold a rung back for the whole slice: the pass ends when the next timer is due."""
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    for n in range(10):
        service.ingest(service.accept([SignalIn.model_validate({**LEAK, "dedup_key": f"{n}"})]))
    # The first rung's timers fall due in 5 minutes; stand 20 ms short of that.
    worker = harness.worker(service)
    worker.clock = Slow(clock.now() + timedelta(minutes=5, milliseconds=-20))
    sent = worker.deliver_due(worker.clock.now(), before_timers=before_timers)
    if not before_timers:
        assert sent == 10  # 100 ms of sending at a few ms a page: the whole backlog
        return
    assert 1 <= sent < 10
    # What was sent is recorded; the rest is given back, its attempt not counted.
    assert pages(service) == [("delivered", 1, None)] * sent + [("pending", 0, None)] * (10 - sent)
    assert worker.fire_due_timers(worker.clock.now()) == 20  # 10 rungs, 10 ack windows


def test_a_worker_gives_back_only_the_claims_it_still_holds(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    """A claim whose lease ran out and that another worker took is not the first
    worker's to hand back: the second's lease and attempt count stand."""
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    open_one(service)
    with service.db.begin() as conn:
        [page] = deliveries_store.claim(conn, clock.now(), 10, timedelta(seconds=30), "first")
    later = clock.now() + timedelta(minutes=1)  # the first lease has run out
    with service.db.begin() as conn:
        [again] = deliveries_store.claim(conn, later, 10, timedelta(seconds=30), "second")
        deliveries_store.release(conn, "first", [page.id])
    assert again.id == page.id
    assert pages(service) == [("pending", 2, "second")]
    with service.db.begin() as conn:
        deliveries_store.release(conn, "second", [page.id])
    assert pages(service) == [("pending", 1, None)]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: one loop
def test_a_receiver_that_hangs_does_not_hold_back_the_next_rung(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    """A running worker on PostgreSQL sends on a thread of its own: while alice's
    page hangs at the receiver, the escalation to rung 2 fires on time."""
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    sink.stall_next = [4.0]  # alice's page: no answer for 4 s (the channel waits 10 s)
    incident_id = open_one(service)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: claimed(service) == 1, "the sender takes alice's page")
        clock.advance(minutes=5)  # rung 2 is due
        worker.wake.set()
        wait_until(lambda: kinds(service, incident_id).count("rung.fired") == 2, "rung 2")
        assert sink.refused == []  # alice's page is still hanging at the receiver
    finally:
        stop.set()
        worker.wake.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def claimed(service) -> int:  # type: ignore[no-untyped-def]
    with service.db.connect() as conn:
        return len(conn.execute(select(deliveries.c.id).where(deliveries.c.attempts > 0)).all())


def wait_until(check, what: str, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_rung_fired_late_shows_in_the_escalation_lateness_metric(
    harness: Harness, clock: FakeClock
) -> None:
    """The accountability figure: how far past its due time a rung fired."""
    service = harness.service()  # sev1's ladder: rung 2 due 5 minutes after opening
    since = clock.now()
    open_one(service)
    clock.advance(minutes=5, seconds=7)  # no worker ran in between
    assert harness.worker(service).fire_due_timers(clock.now()) >= 1  # rung 2, the ack window
    found = service.incident_metrics(since=since)["all"]
    assert found.worst_escalation_lateness == timedelta(seconds=7)
