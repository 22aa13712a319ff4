"""Several workers on one database: claims, leases, heartbeats, the audit pass."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, event, func, select, text
from sqlalchemy.exc import IntegrityError

from conftest import FakeClock
from escalade.cli import main
from escalade.domain.effects import SetTimer, TimerKind
from escalade.domain.signals import SignalIn
from escalade.engine import ingest
from escalade.engine.effects import persist
from escalade.engine.ingest import ROUTER_LOCK, TAKE_ROUTER_LOCK
from escalade.engine.presence import listing
from escalade.engine.tuning import Tuning, TuningError
from escalade.engine.worker import Worker, backoff
from escalade.storage import deliveries, inbox, wakeups, workers
from escalade.storage.database import connect
from escalade.storage.schema import deliveries as delivery_rows
from escalade.storage.schema import inbox as inbox_rows
from escalade.storage.schema import signals, timers
from escalade.storage.workers import WorkerRow
from support.databases import fresh_database
from support.engines import Harness
from support.policies import BASE
from support.sink import Sink

LEAK = {"kind": "privacy_leak", "summary": "PII"}
PAGES_ONLY = BASE.replace("roles: [incident_lead, legal_liaison], ", "").replace(
    "role:legal_liaison", "person:carol"
)


def open_many(service, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    wire = [
        SignalIn.model_validate(
            {"kind": "privacy_leak", "summary": "PII", "dedup_key": f"leak-{i}"}
        )
        for i in range(n)
    ]
    return [str(a.incident_id) for a in service.ingest(service.accept(wire)).accepted]


def rung_steps(service, incident_id: str) -> list[int]:  # type: ignore[no-untyped-def]
    timeline = service.incident(incident_id)["timeline"]
    return [e["data"]["step"] for e in timeline if e["kind"] == "rung.fired"]


def small_batches(worker: Worker) -> Worker:
    worker.tuning = Tuning(batch=3, route_batch=3)
    return worker


def drain(worker: Worker, now_of: FakeClock, start: threading.Barrier) -> None:
    start.wait()
    while worker.fire_due_timers(now_of.now()) + worker.deliver_due(now_of.now()):
        pass


def test_two_workers_racing_on_the_same_due_timers_fire_each_once(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    env = {"SINK_URL": sink.url}
    first, second = (
        harness.service(text=PAGES_ONLY, env=env),
        harness.service(text=PAGES_ONLY, env=env),
    )
    racers = [small_batches(harness.worker(first)), small_batches(harness.worker(second))]
    ids = open_many(first, 12)
    clock.advance(minutes=5)  # every incident's rung-2 timer is due
    start = threading.Barrier(2)
    threads = [threading.Thread(target=drain, args=(w, clock, start)) for w in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for incident_id in ids:
        assert rung_steps(first, incident_id) == [1, 2]
    # rung 1: alice; rung 2: alice, bob, carol -> 4 messages per incident, each once
    counts = sink.by_key()
    assert len(counts) == 4 * len(ids)
    assert set(counts.values()) == {1}


def test_a_dead_workers_leases_are_retaken_when_its_heartbeat_goes_stale(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    survivor = harness.worker(service)
    open_many(service, 3)
    now = clock.now()
    with service.db.begin() as conn:
        workers.beat(conn, WorkerRow("dead", "worker", "h", 1, "0", now, now, None))
        held = deliveries.claim(conn, now, 100, timedelta(minutes=10), "dead")
    assert len(held) == 3
    assert survivor.deliver_due(clock.now()) == 0  # leased to the dead worker
    clock.advance(seconds=20)
    assert survivor.audit(clock.now()).released == 0  # not stale yet
    clock.advance(seconds=20)
    report = survivor.audit(clock.now())
    assert report.released == 3
    assert survivor.deliver_due(clock.now()) == 3
    assert len(sink.by_key()) == 3
    # The dead worker's attempt still counts: it may have reached the receiver.
    with service.db.connect() as conn:
        attempts = {r.attempts for r in conn.execute(select(delivery_rows))}
    assert attempts == {2}


def test_an_expired_lease_is_retaken_without_any_heartbeat(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    survivor = harness.worker(service)
    open_many(service, 2)
    with service.db.begin() as conn:
        deliveries.claim(conn, clock.now(), 100, timedelta(seconds=60), "vanished")
    assert survivor.deliver_due(clock.advance(seconds=59)) == 0
    assert survivor.deliver_due(clock.advance(seconds=2)) == 2


def test_stopping_hands_back_claims_that_were_not_attempted(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    open_many(service, 4)
    worker.stopping.set()
    assert worker.deliver_due(clock.now()) == 0
    with service.db.connect() as conn:
        rows = list(conn.execute(select(delivery_rows)))
    assert [(r.status, r.attempts, r.lease_until, r.claimed_by) for r in rows] == [
        ("pending", 0, None, None)
    ] * 4
    assert sink.snapshot() == []
    other = harness.worker(service)
    assert other.deliver_due(clock.now()) == 4


def test_the_audit_pass_restores_a_lost_escalation_timer_and_it_fires(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    lost, acked = open_many(service, 2)
    worker.run_once()
    service.acknowledge(acked, "alice")
    with service.db.begin() as conn:
        conn.execute(delete(timers).where(timers.c.kind == "ladder"))
    clock.advance(minutes=6)
    worker.run_once()
    assert rung_steps(service, lost) == [1]  # nothing left to make it climb
    report = worker.audit(clock.now())
    assert (report.restored, report.late) == (1, 0)
    assert worker.audit(clock.now()).restored == 0  # restored once, not twice
    worker.run_once()
    assert rung_steps(service, lost) == [1, 2]
    assert rung_steps(service, acked) == [1]
    kinds = [e["kind"] for e in service.incident(lost)["timeline"]]
    assert kinds.count("audit.timer_restored") == 1


def test_the_audit_pass_puts_a_future_rung_back_at_its_own_time(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    [incident_id] = open_many(service, 1)
    with service.db.begin() as conn:
        conn.execute(delete(timers).where(timers.c.kind == "ladder"))
    clock.advance(minutes=1)
    assert worker.audit(clock.now()).restored == 1
    clock.advance(minutes=3)
    worker.run_once()
    assert rung_steps(service, incident_id) == [1]  # due 5 minutes after opening
    clock.advance(minutes=1)
    worker.run_once()
    assert rung_steps(service, incident_id) == [1, 2]


def test_audit_counts_timers_left_waiting_past_the_grace(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": "http://127.0.0.1:9"})
    worker = harness.worker(service)
    open_many(service, 2)
    clock.advance(minutes=10)
    report = worker.audit(clock.now())
    # each incident's rung-2 and ack-window timers fell due at 10:05 and wait still
    assert report.late == 4 and report.oldest_late == clock.now() - timedelta(minutes=5)


def test_a_running_worker_beats_and_is_listed_then_marked_stopped(
    harness: Harness, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    worker.tuning = Tuning(poll=0.05, heartbeat=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"kind": "worker"})
    thread.start()
    try:
        seen: list[dict[str, object]] = []
        for _ in range(200):
            seen = listing(service.db, service.clock.now(), timedelta(seconds=30))
            if seen:
                break
            stop.wait(0.05)
        assert [(w["id"], w["status"], w["kind"]) for w in seen] == [
            (worker.worker_id, "alive", "worker")
        ]
    finally:
        stop.set()
        thread.join(timeout=30)
    [row] = listing(service.db, service.clock.now(), timedelta(seconds=30))
    assert row["status"] == "stopped" and row["stopped_at"] is not None


@pytest.mark.postgres
def test_a_commit_that_leaves_work_due_wakes_listeners_in_other_processes(
    tmp_path: Path,
) -> None:
    """PostgreSQL only: on SQLite one process runs the engine and wakes it in memory."""
    with fresh_database("postgres", tmp_path) as database_url:
        listen_for_one_notify(database_url)


def listen_for_one_notify(database_url: str) -> None:
    woke = threading.Event()
    listener = wakeups.Listener(database_url, woke.set)
    listener.start()
    engine = connect(database_url)
    try:
        assert listener.listening.wait(20)
        with engine.begin() as conn:
            wakeups.notify(conn)
            # Nothing before the commit. (NOTIFY is per database: another suite
            # running on the same database at the same time can wake it.)
            assert not woke.wait(0.2)
        assert woke.wait(20)
    finally:
        engine.dispose()
        listener.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_commit_that_leaves_only_messages_due_wakes_only_the_senders(
    harness: Harness, database_url: str
) -> None:
    """A new incident's page with no timer due now: the NOTIFY says `send`, so
    other workers' senders look and their loops (inbox, timers) stay asleep;
    a timer due now wakes the loops."""
    service = harness.service(text=PAGES_ONLY)
    loop, sender = threading.Event(), threading.Event()
    listener = wakeups.Listener(database_url, loop.set, on_send=sender.set)
    listener.start()
    try:
        assert listener.listening.wait(20)
        assert service.ingest(service.accept([SignalIn.model_validate(LEAK)])).due_now
        assert sender.wait(20)
        assert not loop.is_set()
        now = datetime.now(UTC)
        with service.db.begin() as conn:
            persist(conn, [SetTimer("inc_x", TimerKind.LADDER, 1, now)], now)
        assert loop.wait(20)
    finally:
        listener.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_queued_signals_wake_the_workers_inbox_hook_not_the_loop(
    harness: Harness, database_url: str
) -> None:
    service = harness.service()
    loop, queued = threading.Event(), threading.Event()
    listener = wakeups.Listener(database_url, loop.set, on_inbox=queued.set)
    listener.start()
    try:
        assert listener.listening.wait(20)
        service.enqueue(service.accept_queued([SignalIn.model_validate({"kind": "drift"})]))
        assert queued.wait(20)
        named = SignalIn.model_validate({"kind": "drift", "id": "named-1"})
        queued.clear()
        service.enqueue(service.accept_queued([named]))  # looked up first: the other path
        assert queued.wait(20)
        assert not loop.is_set()
    finally:
        listener.stop()


def test_a_worker_waiting_out_the_routers_linger_is_not_woken_again_by_more_signals(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    worker = harness.worker(service)
    worker.inbox_arrived()
    assert worker.wake.is_set()  # idle: look at once
    worker.wake.clear()
    service.enqueue(service.accept_queued([SignalIn.model_validate({"kind": "drift"})]))
    assert worker.route_inbox(clock.now()) == 0  # one waiting: linger for more
    worker.inbox_arrived()
    assert not worker.wake.is_set()  # the pass after the linger takes them too
    clock.advance(seconds=1)
    assert worker.route_inbox(clock.now()) == 1
    worker.inbox_arrived()
    assert worker.wake.is_set()


def test_the_routers_linger_grows_with_slow_passes_up_to_a_cap() -> None:
    tuning = Tuning(route_linger=0.02)
    assert tuning.linger_after(0.0) == 0.02  # quick passes: the configured wait
    assert tuning.linger_after(0.03) == pytest.approx(0.12)  # four passes' time
    assert tuning.linger_after(5.0) == 0.25  # never longer than the cap
    assert Tuning(route_linger=1.0).linger_after(0.03) == 1.0  # a longer setting wins


def test_after_a_slow_routing_pass_a_lone_queued_signal_waits_longer(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    worker = harness.worker(service)
    ticks = iter([10.0, 10.05, 20.0, 20.0])  # the next pass takes 50 ms
    worker.stopwatch = lambda: next(ticks)
    service.enqueue(service.accept_queued([SignalIn.model_validate({"kind": "drift"})]))
    assert worker.route_inbox(clock.now()) == 0  # lingers for more
    clock.advance(seconds=0.03)
    assert worker.route_inbox(clock.now()) == 1  # after route_linger (20 ms)
    service.enqueue(service.accept_queued([SignalIn.model_validate({"kind": "drift"})]))
    assert worker.route_inbox(clock.now()) == 0
    clock.advance(seconds=0.1)
    assert worker.route_inbox(clock.now()) == 0  # four times 50 ms: not yet
    clock.advance(seconds=0.11)
    assert worker.route_inbox(clock.now()) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_queueing_generated_ids_is_one_statement_that_wakes_the_workers(
    harness: Harness, database_url: str
) -> None:
    """Fresh ids need no look-up: the append and the NOTIFY go as one statement,
    its own transaction, and the rows are there when the wake-up comes."""
    service = harness.service()
    woke = threading.Event()
    listener = wakeups.Listener(database_url, woke.set)
    listener.start()
    statements: list[str] = []
    event.listen(service.db, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        assert listener.listening.wait(20)
        batch = service.accept_queued([SignalIn.model_validate({"kind": "drift"})] * 3)
        queued = service.enqueue(batch)
        assert woke.wait(20)
    finally:
        listener.stop()
    assert queued.due_now and [a.id for a in queued.accepted] == [r["id"] for r in batch]
    assert len(statements) == 1 and "pg_notify" in statements[0]
    with service.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox_rows)).scalar_one() == 3


def test_backoff_and_tuning_come_from_settings() -> None:
    assert backoff(3, None, base=0.05, cap=0.15) == timedelta(seconds=0.15)
    assert backoff(2, None, base=0.05, cap=1.0) == timedelta(seconds=0.1)
    assert backoff(1, 2.0, base=0.05, cap=1.0) == timedelta(seconds=2)
    tuning = Tuning.from_env({"ESCALADE_RETRY_BASE": "0.1", "ESCALADE_WORKER_POLL": "2"})
    assert (tuning.retry_base, tuning.poll, tuning.lease) == (0.1, 2.0, 60.0)
    with pytest.raises(TuningError, match="ESCALADE_DELIVERY_LEASE"):
        Tuning.from_env({"ESCALADE_DELIVERY_LEASE": "soon"})
    with pytest.raises(TuningError, match="greater than 0"):
        Tuning.from_env({"ESCALADE_WORKER_POLL": "0"})
    # A worker is presumed dead after `stale_after`, never before three missed beats.
    assert Tuning(heartbeat=5, stale_after=30).presumed_dead_after == timedelta(seconds=30)
    assert Tuning(heartbeat=20, stale_after=30).presumed_dead_after == timedelta(seconds=60)


def test_the_audit_pass_leaves_an_exhausted_ladder_alone(
    harness: Harness, clock: FakeClock, sink: Sink
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": sink.url})
    worker = harness.worker(service)
    [incident_id] = open_many(service, 1)
    for _ in range(6):
        clock.advance(minutes=10)
        worker.run_once()
    assert service.incident(incident_id)["ladder"]["exhausted"]  # type: ignore[index]
    assert worker.audit(clock.now()).restored == 0


def test_escalade_workers_lists_heartbeats_and_names_a_bad_knob(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=PAGES_ONLY, env={"SINK_URL": "http://127.0.0.1:9"})
    now = datetime.now(UTC)
    with service.db.begin() as conn:
        workers.beat(conn, WorkerRow("w-live", "worker", "h", 7, "1", now, now, None))
        old = now - timedelta(minutes=5)
        workers.beat(conn, WorkerRow("w-gone", "worker", "h", 8, "1", old, old, None))
    runner = CliRunner()
    result = runner.invoke(main, ["workers", "--db", harness.database_url, "--json"])
    assert result.exit_code == 0, result.output
    listed = {w["id"]: w["status"] for w in orjson.loads(result.output)}
    assert listed == {"w-live": "alive", "w-gone": "stale"}
    bad = runner.invoke(
        main, ["workers", "--db", harness.database_url], env={"ESCALADE_WORKER_POLL": "soon"}
    )
    assert bad.exit_code == 2 and "ESCALADE_WORKER_POLL" in bad.output


def test_queued_signals_route_in_order_once_and_one_router_at_a_time(
    harness: Harness, database_url: str
) -> None:
    service = harness.service()
    wire = [
        SignalIn.model_validate({"kind": "privacy_leak", "summary": f"leak {i}", "id": f"q-{i}"})
        for i in range(7)
    ]
    queued = service.enqueue(service.accept_queued(wire))
    assert queued.due_now and not any(a.duplicate for a in queued.accepted)
    worker = small_batches(harness.worker(service))
    worker.stopwatch = lambda: 0.0  # passes that take no time: the linger stays the default
    if database_url.startswith("postgresql"):
        # Another process routing holds the router lock: this worker routes nothing.
        with service.db.begin() as held:
            assert held.execute(text(f"SELECT {TAKE_ROUTER_LOCK}"), {"k": ROUTER_LOCK}).scalar()
            assert worker.route_inbox(service.clock.now()) == 0
    now = service.clock.now()
    assert [worker.route_inbox(now) for _ in range(3)] == [3, 3, 0]  # a batch, a batch, wait
    assert worker.next_wake(now) == pytest.approx(0.02)  # the default linger
    later = service.clock.advance(seconds=0.01)
    assert worker.route_inbox(later) == 0 and worker.next_wake(later) == pytest.approx(0.01)
    assert worker.route_inbox(service.clock.advance(seconds=0.01)) == 1
    assert worker.route_inbox(service.clock.now()) == 0
    incident_ids = {service.signal(f"q-{i}")["incident_id"] for i in range(7)}  # type: ignore[index]
    assert len(incident_ids) == 1  # one group: the first opened it, the rest joined in order
    (incident_id,) = incident_ids
    shown = service.incident(str(incident_id))
    assert [s["summary"] for s in shown["signals"]] == [f"leak {i}" for i in range(7)]  # type: ignore[index]
    # One timeline entry per pass for the signals that joined in it.
    joined = [e["data"] for e in shown["timeline"] if e["kind"] == "signal.attached"]  # type: ignore[index]
    assert [e.get("signal_ids", [e["signal_id"]]) for e in joined] == [
        ["q-1", "q-2"],
        ["q-3", "q-4", "q-5"],
        ["q-6"],
    ]
    assert shown["signal_count"] == 7 and service.verify_audit()["ok"]  # type: ignore[index]
    again = service.enqueue(service.accept_queued(wire[:2]))
    assert [a.duplicate for a in again.accepted] == [True, True] and not again.due_now


@pytest.mark.postgres
def test_the_router_lock_is_per_schema(tmp_path: Path, clock: FakeClock) -> None:
    """PostgreSQL's advisory locks belong to the database: keyed by schema, a
    router in one schema never holds up another schema's."""
    with (
        fresh_database("postgres", tmp_path) as other_url,
        fresh_database("postgres", tmp_path) as url,
    ):
        harness = Harness(url, tmp_path, clock)
        other = connect(other_url)
        try:
            service = harness.service()
            worker = harness.worker(service)
            worker.tuning = Tuning(route_batch=1)  # a lone signal is a batch: no linger
            service.enqueue(service.accept_queued([SignalIn.model_validate(LEAK)]))
            with other.begin() as held:  # the other schema's router, mid-pass
                assert held.execute(text(f"SELECT {TAKE_ROUTER_LOCK}"), {"k": ROUTER_LOCK}).scalar()
                assert worker.route_inbox(clock.now()) == 1
        finally:
            other.dispose()
            harness.close()


@pytest.mark.postgres
def test_two_routers_at_once_still_route_each_signal_once(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router lock spares work; it is not what keeps routing exactly once.
    During a rolling upgrade across the release that keyed it by schema, an
    old and a new router each hold their own lock and may take the same rows:
    the second to write meets the first's signal ids and rolls back whole."""
    monkeypatch.setattr(ingest, "_router_lock", lambda conn: True)  # locks that do not meet
    with fresh_database("postgres", tmp_path) as url:
        harness = Harness(url, tmp_path, clock)
        try:
            routed_by_two(harness)
        finally:
            harness.close()


def routed_by_two(harness: Harness) -> None:
    service = harness.service()
    wire = [SignalIn.model_validate({**LEAK, "summary": f"leak {i}"}) for i in range(3)]
    service.enqueue(service.accept_queued(wire))
    first, second = harness.worker(service), harness.worker(service)
    first.tuning = second.tuning = Tuning(route_batch=3)  # all three are a batch: no linger
    took, deleting = threading.Event(), threading.Event()

    @event.listens_for(service.db, "before_cursor_execute")
    def pause(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        name = threading.current_thread().name
        if name == "second" and statement.startswith("SELECT seq, body"):
            took.set()  # the second router has read the rows the first holds
        if name == "first" and statement.startswith("DELETE FROM inbox"):
            deleting.set()
            assert took.wait(10)

    outcome: dict[str, object] = {}

    def route(worker: Worker) -> None:
        try:
            outcome[threading.current_thread().name] = worker.route_inbox(service.clock.now())
        except Exception as exc:  # the outcome under test
            outcome[threading.current_thread().name] = exc

    one = threading.Thread(target=route, args=(first,), name="first")
    one.start()
    assert deleting.wait(10)
    two = threading.Thread(target=route, args=(second,), name="second")
    two.start()
    one.join(20)
    two.join(20)
    assert outcome["first"] == 3
    assert isinstance(outcome["second"], IntegrityError), outcome  # rolled back whole
    with service.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(signals)).scalar() == 3
        assert conn.execute(select(func.count()).select_from(inbox_rows)).scalar() == 0
        (incident_id,) = conn.execute(select(signals.c.incident_id).distinct()).scalars()
    assert service.incident(str(incident_id))["signal_count"] == 3  # type: ignore[index]


def test_a_generated_id_skips_the_routers_look_up_a_named_one_does_not(
    harness: Harness, database_url: str
) -> None:
    """Only an id the sender named can be a re-post. One that got past the
    queue's check (a race between API processes) is still routed once."""
    service = harness.service()
    generated, named = service.accept_queued(
        [SignalIn(kind="privacy_leak"), SignalIn(kind="privacy_leak", id="n-1")]
    )
    assert generated.get("fresh") and not named.get("fresh")
    service.enqueue([generated, named])
    shown = service.signal(generated["id"])
    assert shown is not None and shown["routed"] is False and "fresh" not in shown
    worker = harness.worker(service)
    worker.tuning = Tuning(route_batch=2)
    assert worker.route_inbox(service.clock.now()) == 2
    with service.db.begin() as conn:  # the same named signal, queued again behind the check
        inbox.append(conn, [named])
    worker.route_inbox(service.clock.now())  # one waiting: it lingers first
    assert worker.route_inbox(service.clock.advance(seconds=1)) == 1
    with service.db.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(signals)).scalar_one()
    assert stored == 2 and service.signal("n-1")["routed"] is True  # type: ignore[index]
    # Stored as queued, less the router's mark: the same form as routing at once.
    routed = service.signal(generated["id"])
    assert routed is not None and "fresh" not in routed
    expected = {k: v for k, v in generated.items() if k != "fresh"}
    assert {k: routed[k] for k in expected} == expected
