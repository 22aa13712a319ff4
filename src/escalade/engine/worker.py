"""The worker: fires due timers and delivers the outbox.

Only `run` reads the clock and sleeps; each pass takes `now` and does a bounded
amount of work, so tests and drills drive it step by step.

Many workers may run against one PostgreSQL database: timers and deliveries
are claimed with `FOR UPDATE SKIP LOCKED`, a NOTIFY after each commit that
leaves work due wakes them (polling is the fallback), each beats a heartbeat,
and on SIGTERM a worker finishes the send in hand and hands back the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from escalade.channels.base import Failed, Message, Result, Retry, Sent
from escalade.channels.registry import Senders
from escalade.domain.effects import Effect, Record, TimerKind
from escalade.domain.escalation import CannotEscalate, Escalate, TimerFired, apply
from escalade.domain.incidents import IllegalTransition, Incident, IncidentStatus
from escalade.domain.policy import Policy, Throttle
from escalade.domain.reviews import CALLBACK_CHANNEL
from escalade.engine import audit, exercises, reviews
from escalade.engine.acklinks import AckLinks
from escalade.engine.clock import Clock
from escalade.engine.effects import persist, persist_leased
from escalade.engine.forwarding import pagerduty_follow_ups
from escalade.engine.handoff import Handoff, hand_over, lease_from
from escalade.engine.ingest import fire_condition, is_exercise, route_queued
from escalade.engine.policies import LoadedPolicy
from escalade.engine.presence import Heartbeat, new_worker_id
from escalade.engine.service import Escalade
from escalade.engine.tuning import Tuning
from escalade.storage import deliveries, inbox, incidents, timeline, timers
from escalade.storage.deliveries import Delivery
from escalade.storage.wakeups import Listener, listen_url

EXERCISE_LABEL = "[EXERCISE]"
log = logging.getLogger("escalade.worker")

MAX_ATTEMPTS = 12  # channels outside the policy (review callbacks); policy channels say


def _climbs(incident: Incident, payload: dict[str, Any]) -> bool:
    """Whether a failed page belongs to the rung the incident is waiting on."""
    return (
        incident.status is IncidentStatus.TRIGGERED
        and not incident.ladder.exhausted
        and not payload.get("tag")
        and payload.get("step") == incident.ladder.step
    )


def backoff(
    attempt: int, retry_after: float | None, *, base: float = 1.0, cap: float = 300.0
) -> timedelta:
    """1 s, 2 s, 4 s ... capped at 5 min; a receiver's Retry-After wins if longer."""
    delay = min(base * 2.0 ** (attempt - 1), cap)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 3600.0))
    return timedelta(seconds=delay)


# How long one pass of sending may last before unattempted claims go back.
DELIVERY_SLICE = timedelta(milliseconds=100)
# Where the loop both sends and fires timers (SQLite), the least a pass sends
# for when a timer falls due sooner: a rung waits no longer than this and one
# message, and a storm of due timers still leaves the backlog of pages a share.
TIMER_SLICE = timedelta(milliseconds=10)


@dataclass
class Worker:
    db: Engine
    policy: Callable[[], LoadedPolicy]
    clock: Clock
    senders: Senders
    wake: threading.Event
    ack_links: AckLinks | None = None
    tuning: Tuning = field(default_factory=Tuning)
    reader: Engine | None = None  # for the audit's scans (no write lock on SQLite)
    worker_id: str = field(default_factory=new_worker_id)
    # Set when the worker is asked to stop: claimed deliveries not yet sent go back.
    stopping: threading.Event = field(default_factory=threading.Event)
    _scheduled_for: str = field(default="", init=False)  # policy digest drills were set for
    _inbox_seen: datetime | None = field(default=None, init=False)  # inbox found non-empty
    _route_took: float = field(default=0.0, init=False)  # seconds the last routing pass took
    # What times a routing pass (Tuning.linger_after): seconds, monotonic.
    stopwatch: Callable[[], float] = field(default=time.perf_counter, repr=False)
    _send_wake: threading.Event = field(default_factory=threading.Event, init=False)
    # Pages ingest in this process wrote already claimed by this worker (run_for).
    handoff: Handoff | None = field(default=None, init=False)

    @classmethod
    def of(cls, escalade: Escalade, senders: Senders, tuning: Tuning) -> Worker:
        """The worker for a running service (the API process's or `escalade worker`)."""
        return cls(
            escalade.db,
            lambda: escalade.policy,
            escalade.clock,
            senders,
            escalade.wake,
            ack_links=escalade.ack_links,
            tuning=tuning,
            reader=escalade.reader,
        )

    def run_for(self, escalade: Escalade, stop: threading.Event, kind: str) -> None:
        """Run as the worker of the service in this process: where sending has a
        thread of its own, the service's ingest hands new pages straight to it."""
        if self._sends_apart:
            self.handoff = Handoff(
                self.worker_id,
                timedelta(seconds=self.tuning.lease),
                self.tuning.batch,
                self._send_wake,
            )
            escalade.handoff = self.handoff
        escalade.queued = self.inbox_arrived
        try:
            self.run(stop, kind=kind, listen=listen_url(escalade.database_url))
        finally:
            escalade.handoff = None
            escalade.queued = escalade.wake.set

    @property
    def batch(self) -> int:
        return self.tuning.batch

    @property
    def poll(self) -> float:
        return self.tuning.poll

    def fire_due_timers(self, now: datetime) -> int:
        """Apply every due timer once, each in the transaction that deletes it."""
        loaded = self.policy()
        if loaded.digest != self._scheduled_for:
            with self.db.begin() as conn:
                exercises.schedule(conn, loaded.policy, now)
            self._scheduled_for = loaded.digest
        with self.db.begin() as conn:
            due = timers.claim_due(conn, now, self.batch)
            if not due:
                return 0
            state: dict[str, Incident] = {}
            read_versions: dict[str, int] = {}
            effects: list[Effect] = []
            for timer in due:
                if timer.kind is TimerKind.CONDITION:
                    if fire_condition(conn, loaded, timer, now):
                        self.wake.set()
                    continue
                if timer.kind is TimerKind.REVIEW:
                    if reviews.fire(conn, loaded, timer, now):
                        self.wake.set()
                    continue
                if timer.kind is TimerKind.EXERCISE:
                    if exercises.fire(conn, loaded, timer, now):
                        self.wake.set()
                    continue
                incident = state.get(timer.incident_id)
                if incident is None:
                    incident = incidents.get(conn, timer.incident_id, lock=True)
                    if incident is None:
                        continue
                    read_versions[incident.id] = incident.version
                event = TimerFired(timer.kind, timer.step, timer.tag)
                outcome = apply(loaded.policy, incident, event, now, loaded.catalogue)
                state[incident.id] = outcome.incident
                effects.extend(outcome.effects)
            timers.remove(conn, [t.key for t in due])
            incidents.save(
                conn,
                [(i, read_versions[k]) for k, i in state.items() if i.version != read_versions[k]],
            )
            effects.extend(pagerduty_follow_ups(conn, loaded.policy, effects))
            lease = lease_from(self.handoff, now)
            due_now, handed = persist_leased(conn, effects, now, lease=lease)
            if due_now:
                self.wake.set()
        hand_over(self.handoff, self.db, handed, self.wake)
        log.info("timers.fired", extra={"count": len(due)})
        return len(due)

    def deliver_due(self, now: datetime, *, before_timers: bool = False) -> int:
        """Send due deliveries for at most `DELIVERY_SLICE` (and at least one), then
        hand the rest back. In `run_once` (drills, tests, and `run` on SQLite) the
        same pass fires the timers, which a backlog of messages must not hold
        back: `before_timers` ends the slice when the next timer falls due (after
        `TIMER_SLICE` at the least, so a storm of timers leaves pages a share).
        In `run` on PostgreSQL, where a thread of its own sends, short passes
        keep claims well inside their lease."""
        with self.db.begin() as conn:
            claimed = deliveries.claim(
                conn, now, self.batch, timedelta(seconds=self.tuning.lease), self.worker_id
            )
            next_timer = timers.next_due(conn) if before_timers and claimed else None
        until = now + DELIVERY_SLICE
        if next_timer is not None:
            until = min(until, max(next_timer, now + TIMER_SLICE))
        return self._send_claimed(claimed, until)

    def _send_claimed(self, claimed: list[Delivery], until: datetime) -> int:
        """Send claimed deliveries until `until` (at least one); give back the rest."""
        loaded = self.policy()
        for done, delivery in enumerate(claimed):
            stopping = self.stopping.is_set()
            if stopping or (done and self.clock.now() >= until):
                # What was not attempted goes back: for another worker on a graceful
                # stop, for this loop's next pass (after due timers) otherwise.
                rest = [d.id for d in claimed[done:]]
                with self.db.begin() as conn:
                    deliveries.release(conn, self.worker_id, rest)
                log.info(
                    "worker.claims_released",
                    extra={"count": len(rest), "reason": "stop" if stopping else "slice"},
                )
                return done
            self._deliver(loaded, delivery)
        return len(claimed)

    def send_handed(self, now: datetime) -> int:
        """Send the pages ingest handed over (already claimed by this worker)."""
        if self.handoff is None:
            return 0
        handed = self.handoff.take()
        return self._send_claimed(handed, now + DELIVERY_SLICE) if handed else 0

    def _deliver(self, loaded: LoadedPolicy, delivery: Delivery) -> None:
        policy = loaded.policy
        channel = policy.channels.get(delivery.channel)
        now = self.clock.now()
        data: dict[str, Any] = {
            "delivery_id": delivery.id,
            "channel": delivery.channel,
            "person": delivery.person,
            "attempt": delivery.attempts,
        }
        if channel is not None and channel.throttle is not None:
            until = self._throttled_until(channel.throttle, delivery, now)
            if until is not None:
                with self.db.begin() as conn:
                    deliveries.defer(conn, delivery.id, until)
                    data["until"] = until.isoformat()
                    timeline.append(
                        conn, [Record(delivery.incident_id, now, "delivery.throttled", data=data)]
                    )
                log.info("delivery.throttled", extra=data)
                return
        result = self._send(policy, delivery, now)
        now = self.clock.now()
        attempts = channel.attempts if channel is not None else MAX_ATTEMPTS
        with self.db.begin() as conn:
            if isinstance(result, Sent):
                deliveries.mark_delivered(conn, delivery.id, now)
                kind, data["detail"] = "delivery.sent", result.detail
            elif isinstance(result, Retry) and delivery.attempts < attempts:
                at = now + backoff(
                    delivery.attempts,
                    result.retry_after,
                    base=self.tuning.retry_base,
                    cap=self.tuning.retry_cap,
                )
                deliveries.mark_retry(conn, delivery.id, at, result.error)
                kind, data["error"], data["retry_at"] = (
                    "delivery.retrying",
                    result.error,
                    at.isoformat(),
                )
            else:
                deliveries.mark_failed(conn, delivery.id, result.error)
                kind, data["error"] = "delivery.failed", result.error
            timeline.append(conn, [Record(delivery.incident_id, now, kind, data=data)])
            if kind == "delivery.failed" and delivery.channel != CALLBACK_CHANNEL:
                self._after_failure(conn, loaded, delivery, now)
        log.info(kind, extra=data)

    def _send(self, policy: Policy, delivery: Delivery, now: datetime) -> Result:
        if delivery.channel == CALLBACK_CHANNEL:
            sender = self.senders.callback
        else:
            sender = self.senders.for_channel(policy, delivery.channel)
        if sender is None:
            return Failed(
                "review callbacks are off: ESCALADE_CALLBACK_SECRET is not set"
                if delivery.channel == CALLBACK_CHANNEL
                else f"channel {delivery.channel!r} is not in the running policy"
            )
        person = policy.people.get(delivery.person) if delivery.person else None
        payload = delivery.payload
        data = payload.get("data", {})
        ack_url = None
        # Pages about an incident carry a link that acknowledges it as the recipient.
        if self.ack_links is not None and "incident" in data and "pagerduty" not in data:
            ack_url = self.ack_links.url(delivery.incident_id, delivery.person, now)
        text, subject = payload["text"], payload["subject"]
        if is_exercise(delivery.incident_id):
            # Every message of a live drill says so, on every channel.
            subject = f"{EXERCISE_LABEL} {subject}"
            text = f"{EXERCISE_LABEL} This is a drill, not a real incident. {text}"
            data = {**data, "exercise": True}
        if self.ack_links is not None and data.get("feedback") and policy.feedback is not None:
            ttl = policy.feedback.expires.as_timedelta()
            link = self.ack_links.feedback_url(delivery.incident_id, delivery.person, now, ttl)
            text = f"{text}\nRate it here: {link}"
            data = {**data, "feedback_url": link}
        message = Message(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            incident_id=delivery.incident_id,
            channel=delivery.channel,
            person=delivery.person,
            person_name=person.name if person else None,
            address=person.email if person else None,
            target=delivery.target,
            subject=subject,
            text=text,
            data=data,
            ack_url=ack_url,
        )
        return sender.send(message)

    def _throttled_until(
        self, throttle: Throttle, delivery: Delivery, now: datetime
    ) -> datetime | None:
        """When this contact may get its next message, or None when it may now."""
        per = timedelta(seconds=throttle.per.seconds)
        with self.db.connect() as conn:
            sent = deliveries.sent_to(
                conn, delivery.channel, delivery.person, delivery.target, now - per
            )
        if len(sent) < throttle.max:
            return None
        return sent[len(sent) - throttle.max] + per

    def _after_failure(
        self, conn: Connection, loaded: LoadedPolicy, delivery: Delivery, now: datetime
    ) -> None:
        """Nothing is dropped silently: hand over to the fallback channel, or record the
        contact as unreachable and, when nobody on the rung was reached, climb now."""
        policy = loaded.policy
        channel = policy.channels.get(delivery.channel)
        tried = {*delivery.payload.get("tried", []), delivery.channel}
        data: dict[str, Any] = {
            "delivery_id": delivery.id,
            "person": delivery.person,
            "target": delivery.target,
        }
        fallback = channel.fallback if channel is not None else None
        if fallback is not None and fallback not in tried and fallback in policy.channels:
            new_id = deliveries.fallback(conn, delivery, fallback, now)
            data |= {"from": delivery.channel, "to": fallback, "fallback_id": new_id}
            timeline.append(
                conn, [Record(delivery.incident_id, now, "delivery.fallback", data=data)]
            )
            self.wake.set()
            return
        data["tried"] = sorted(tried)
        records = [Record(delivery.incident_id, now, "contact.unreachable", data=data)]
        timeline.append(conn, records)
        log.warning("contact.unreachable", extra=data)
        incident = incidents.get(conn, delivery.incident_id, lock=True)
        if incident is None or not _climbs(incident, delivery.payload):
            return
        reached = deliveries.delivered_payloads(conn, incident.id)
        step = delivery.payload.get("step")
        if any(p.get("step") == step and not p.get("tag") for _, p in reached):
            return
        who = delivery.person or delivery.target
        event = Escalate(by="escalade", note=f"nobody on the rung was reached ({who} unreachable)")
        try:
            outcome = apply(policy, incident, event, now, loaded.catalogue)
        except (CannotEscalate, IllegalTransition):
            return
        incidents.save(conn, [(outcome.incident, incident.version)])
        if persist(conn, outcome.effects, now):
            self.wake.set()

    def next_wake(self, now: datetime, *, sending: bool = True) -> float:
        """Seconds until there is work: queued signals, a due timer, and (unless a
        thread of its own sends) a due delivery; at most the poll interval."""
        with self.db.connect() as conn:
            if inbox.waiting(conn, 1):
                return self._route_in(now)
            candidates = [timers.next_due(conn), deliveries.next_due(conn) if sending else None]
        return self._until(now, [t for t in candidates if t])

    def next_send(self, now: datetime) -> float:
        """Seconds until a delivery is due, at most the poll interval."""
        with self.db.connect() as conn:
            due = deliveries.next_due(conn)
        return self._until(now, [due] if due else [])

    def _until(self, now: datetime, candidates: list[datetime]) -> float:
        if not candidates:
            return self.poll
        return max(0.0, min(self.poll, (min(candidates) - now).total_seconds()))

    def route_inbox(self, now: datetime) -> int:
        """Route signals queued by `Prefer: respond-async` requests into incidents:
        a batch as soon as one is waiting, fewer once the first has waited
        `route_linger` (a pass's cost hardly depends on its size)."""
        # A look without the write lock first: most passes find the inbox empty.
        batch = self.tuning.route_batch
        with (self.reader or self.db).connect() as conn:
            waiting = inbox.waiting(conn, batch)
        if not waiting:
            self._inbox_seen = None
            return 0
        if self._inbox_seen is None:
            self._inbox_seen = now
        if waiting < batch and self._route_in(now) > 0:
            return 0
        self._inbox_seen = None
        started = self.stopwatch()
        routed = route_queued(self.db, self.policy(), now, batch, lease_from(self.handoff, now))
        self._route_took = self.stopwatch() - started
        hand_over(self.handoff, self.db, routed.handed, self.wake)
        if routed.due_now:
            self.wake.set()
        if routed.count:
            log.info("inbox.routed", extra={"count": routed.count})
        return routed.count

    def inbox_arrived(self) -> None:
        """Signals were queued: wake the loop, unless it is already waiting out
        the router's linger for the inbox (the pass after it takes them too).
        Under a stream of queued requests that spares a pass, and its queries,
        for every group commit of every API process."""
        if self._inbox_seen is None:
            self.wake.set()

    def _route_in(self, now: datetime) -> float:
        """Seconds until the inbox's lingering signals are to be routed."""
        if self._inbox_seen is None:
            return 0.0
        waited = (now - self._inbox_seen).total_seconds()
        return max(0.0, self.tuning.linger_after(self._route_took) - waited)

    def run_once(self, *, sending: bool = True) -> int:
        """One pass: route the inbox, fire due timers, and (unless a thread of its
        own sends) send due deliveries. How much was done."""
        now = self.clock.now()
        worked = self.route_inbox(now) + self.fire_due_timers(now)
        return worked + self.deliver_due(now, before_timers=True) if sending else worked

    def audit(self, now: datetime) -> audit.AuditReport:
        return audit.run(
            self.db,
            now,
            stale_after=self.tuning.presumed_dead_after,
            grace=timedelta(seconds=max(self.tuning.audit_every, self.tuning.poll)),
            reader=self.reader,
        )

    def run(
        self, stop: threading.Event, *, kind: str = "worker", listen: str | None = None
    ) -> None:
        """Loop until `stop` is set: work, then sleep until the next due item or a wake-up.

        `listen` is the database URL to LISTEN on (PostgreSQL only). On `stop`
        the send in hand finishes, unsent claims go back, the heartbeat row is
        marked stopped.
        """
        self.stopping = stop
        log.info("worker.started", extra={"worker_id": self.worker_id, "kind": kind})
        heartbeat = Heartbeat(self.db, self.clock, self.worker_id, kind, self.tuning.heartbeat)
        listener = (
            Listener(
                listen, self.wake.set, on_send=self._send_wake.set, on_inbox=self.inbox_arrived
            )
            if listen
            else None
        )
        # The audit scans every open incident, and a receiver may answer only at
        # its timeout: on threads of their own neither holds up a due timer.
        auditor = threading.Thread(target=self._audit_loop, args=(stop,), name="escalade-audit")
        threads = [auditor]
        if self._sends_apart:
            threads.append(
                threading.Thread(target=self._send_loop, args=(stop,), name="escalade-send")
            )
        try:
            heartbeat.start()
            if listener is not None:
                listener.start()
            for thread in threads:
                thread.start()
            self._loop(stop)
        finally:
            self._send_wake.set()
            if listener is not None:
                listener.stop()
            for thread in threads:
                if thread.is_alive():
                    thread.join(timeout=30)  # the send in hand finishes
            self._give_back_handed()
            heartbeat.stop()
        log.info("worker.stopped", extra={"worker_id": self.worker_id})

    def _give_back_handed(self) -> None:
        """On stop: pages handed over and never sent go back to the outbox."""
        if self.handoff is None:
            return
        left = [d.id for d in self.handoff.close()]
        if not left:
            return
        try:
            with self.db.begin() as conn:
                deliveries.release(conn, self.worker_id, left)
        except SQLAlchemyError:
            # Their lease runs out instead, and another worker sends them then.
            log.exception("worker.release_failed")
            return
        log.info("worker.claims_released", extra={"count": len(left), "reason": "stop"})

    def _audit_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.audit(self.clock.now())
            except (SQLAlchemyError, OSError):
                log.exception("audit.pass_failed")
            stop.wait(self.tuning.audit_every)

    @property
    def _sends_apart(self) -> bool:
        """Whether sending runs on a thread of its own: on PostgreSQL, where two
        writers do not wait for each other. SQLite has one writer, and its busy
        wait is no queue: a sender committing an attempt after every message
        starved the timers (p99 2.1 s late behind a backlog of 100,000 pages), so
        there the loop sends too, for one `DELIVERY_SLICE` a pass."""
        return self.db.dialect.name == "postgresql"

    def _loop(self, stop: threading.Event) -> None:
        """Route the inbox, fire due timers, and send unless a sender thread does."""
        apart = self._sends_apart
        while not stop.is_set():
            self.wake.clear()
            # Whatever woke this loop (a commit, a NOTIFY) may have left a message
            # to send, and what this pass fires will: the sender looks too.
            self._send_wake.set()
            try:
                worked = self.run_once(sending=not apart)
            except (SQLAlchemyError, OSError):
                # The database may be restarting; timers and deliveries wait in
                # their tables, so trying again later loses nothing.
                log.exception("worker.pass_failed")
                stop.wait(self.poll)
                continue
            if worked:
                continue
            # Work another worker holds a row lock on reads as due now: a short
            # pause keeps this loop from spinning until that worker commits. Work
            # due later is waited for exactly, or a rung would fire up to the
            # pause late.
            wait = self.next_wake(self.clock.now(), sending=not apart)
            self.wake.wait(wait if wait > 0 else min(0.05, self.poll))

    def _send_loop(self, stop: threading.Event) -> None:
        """Send what ingest handed over, then due deliveries, until `stop`; woken
        by the main loop and by the handoff."""
        while not stop.is_set():
            self._send_wake.clear()
            try:
                sent = self.send_handed(self.clock.now()) + self.deliver_due(self.clock.now())
            except (SQLAlchemyError, OSError):
                log.exception("worker.send_failed")
                stop.wait(self.poll)
                continue
            if sent:
                continue
            wait = self.next_send(self.clock.now())
            self._send_wake.wait(wait if wait > 0 else min(0.05, self.poll))
