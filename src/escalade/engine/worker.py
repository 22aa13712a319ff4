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

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from escalade.channels.base import Failed, Message, Retry, Sent
from escalade.channels.registry import Senders
from escalade.domain.effects import Effect, Record, TimerKind
from escalade.domain.escalation import TimerFired, apply
from escalade.domain.incidents import Incident
from escalade.domain.reviews import CALLBACK_CHANNEL
from escalade.engine import audit, reviews
from escalade.engine.clock import Clock
from escalade.engine.effects import persist
from escalade.engine.ingest import fire_condition
from escalade.engine.policies import LoadedPolicy
from escalade.engine.presence import Heartbeat, new_worker_id, stale_limit
from escalade.engine.service import Escalade
from escalade.engine.tuning import Tuning
from escalade.storage import deliveries, incidents, timeline, timers
from escalade.storage.deliveries import Delivery
from escalade.storage.wakeups import Listener, listen_url

log = logging.getLogger("escalade.worker")

MAX_ATTEMPTS = Tuning().max_attempts  # with the default backoff: about 25 minutes of trying


def backoff(
    attempt: int, retry_after: float | None, *, base: float = 1.0, cap: float = 300.0
) -> timedelta:
    """1 s, 2 s, 4 s ... capped at 5 min; a receiver's Retry-After wins if longer."""
    delay = min(base * 2.0 ** (attempt - 1), cap)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 3600.0))
    return timedelta(seconds=delay)


@dataclass
class Worker:
    db: Engine
    policy: Callable[[], LoadedPolicy]
    clock: Clock
    senders: Senders
    wake: threading.Event
    tuning: Tuning = field(default_factory=Tuning)
    worker_id: str = field(default_factory=new_worker_id)
    # Set when the worker is asked to stop: claimed deliveries not yet sent go back.
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def of(cls, escalade: Escalade, senders: Senders, tuning: Tuning) -> Worker:
        """The worker for a running service (the API process's or `escalade worker`)."""
        return cls(
            escalade.db, lambda: escalade.policy, escalade.clock, senders, escalade.wake, tuning
        )

    def run_for(self, escalade: Escalade, stop: threading.Event, kind: str) -> None:
        self.run(stop, kind=kind, listen=listen_url(escalade.database_url))

    @property
    def batch(self) -> int:
        return self.tuning.batch

    @property
    def poll(self) -> float:
        return self.tuning.poll

    def fire_due_timers(self, now: datetime) -> int:
        """Apply every due timer once, each in the transaction that deletes it."""
        loaded = self.policy()
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
            if persist(conn, effects, now):
                self.wake.set()
        log.info("timers.fired", extra={"count": len(due)})
        return len(due)

    def deliver_due(self, now: datetime) -> int:
        with self.db.begin() as conn:
            claimed = deliveries.claim(
                conn, now, self.batch, timedelta(seconds=self.tuning.lease), self.worker_id
            )
        loaded = self.policy()
        for done, delivery in enumerate(claimed):
            if self.stopping.is_set():
                # Graceful stop: what was not attempted goes back for another worker.
                rest = [d.id for d in claimed[done:]]
                with self.db.begin() as conn:
                    deliveries.release(conn, rest)
                log.info("worker.claims_released", extra={"count": len(rest)})
                return done
            self._deliver(loaded, delivery)
        return len(claimed)

    def _deliver(self, loaded: LoadedPolicy, delivery: Delivery) -> None:
        policy = loaded.policy
        if delivery.channel == CALLBACK_CHANNEL:
            sender = self.senders.callback
        else:
            sender = self.senders.for_channel(policy, delivery.channel)
        person = policy.people.get(delivery.person) if delivery.person else None
        payload = delivery.payload
        if sender is None:
            result: Sent | Retry | Failed = Failed(
                "review callbacks are off: ESCALADE_CALLBACK_SECRET is not set"
                if delivery.channel == CALLBACK_CHANNEL
                else f"channel {delivery.channel!r} is not in the running policy"
            )
        else:
            message = Message(
                delivery_id=delivery.id,
                attempt=delivery.attempts,
                incident_id=delivery.incident_id,
                channel=delivery.channel,
                person=delivery.person,
                person_name=person.name if person else None,
                address=person.email if person else None,
                target=delivery.target,
                subject=payload["subject"],
                text=payload["text"],
                data=payload.get("data", {}),
            )
            result = sender.send(message)
        now = self.clock.now()
        data = {
            "delivery_id": delivery.id,
            "channel": delivery.channel,
            "person": delivery.person,
            "attempt": delivery.attempts,
        }
        with self.db.begin() as conn:
            if isinstance(result, Sent):
                deliveries.mark_delivered(conn, delivery.id, now)
                kind, data["detail"] = "delivery.sent", result.detail
            elif isinstance(result, Retry) and delivery.attempts < self.tuning.max_attempts:
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
        log.info(kind, extra=data)

    def next_wake(self, now: datetime) -> float:
        with self.db.connect() as conn:
            candidates = [t for t in (timers.next_due(conn), deliveries.next_due(conn)) if t]
        if not candidates:
            return self.poll
        return max(0.0, min(self.poll, (min(candidates) - now).total_seconds()))

    def run_once(self) -> int:
        now = self.clock.now()
        return self.fire_due_timers(now) + self.deliver_due(now)

    def audit(self, now: datetime) -> audit.AuditReport:
        return audit.run(
            self.db,
            now,
            stale_after=stale_limit(self.tuning.heartbeat, self.tuning.stale_after),
            grace=timedelta(seconds=max(self.tuning.audit_every, self.tuning.poll)),
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
        listener = Listener(listen, self.wake.set) if listen else None
        try:
            heartbeat.start()
            if listener is not None:
                listener.start()
            self._loop(stop)
        finally:
            if listener is not None:
                listener.stop()
            heartbeat.stop()
        log.info("worker.stopped", extra={"worker_id": self.worker_id})

    def _loop(self, stop: threading.Event) -> None:
        next_audit = 0.0
        while not stop.is_set():
            self.wake.clear()
            try:
                if time.monotonic() >= next_audit:
                    self.audit(self.clock.now())
                    next_audit = time.monotonic() + self.tuning.audit_every
                worked = self.run_once()
            except (SQLAlchemyError, OSError):
                # The database may be restarting; timers and deliveries wait in
                # their tables, so trying again later loses nothing.
                log.exception("worker.pass_failed")
                stop.wait(self.poll)
                continue
            if worked:
                continue
            # Work another worker holds a row lock on reads as due now; a short
            # floor keeps this loop from spinning until that worker commits.
            self.wake.wait(max(self.next_wake(self.clock.now()), min(0.05, self.poll)))
