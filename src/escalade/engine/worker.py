"""The worker: fires due timers and delivers the outbox.

Only `run` reads the clock and sleeps; each pass takes `now` and does a bounded
amount of work, so tests and drills drive it step by step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from escalade.channels.base import Failed, Message, Retry, Sent
from escalade.channels.registry import Senders
from escalade.domain.effects import Effect, Record, TimerKind
from escalade.domain.escalation import TimerFired, apply
from escalade.domain.incidents import Incident
from escalade.domain.reviews import CALLBACK_CHANNEL
from escalade.engine import reviews
from escalade.engine.clock import Clock
from escalade.engine.effects import persist
from escalade.engine.ingest import fire_condition
from escalade.engine.policies import LoadedPolicy
from escalade.storage import deliveries, incidents, timeline, timers
from escalade.storage.deliveries import Delivery

log = logging.getLogger("escalade.worker")

MAX_ATTEMPTS = 12  # with the backoff below: about 25 minutes of trying
LEASE = timedelta(seconds=60)


def backoff(attempt: int, retry_after: float | None) -> timedelta:
    """1 s, 2 s, 4 s ... capped at 5 min; a receiver's Retry-After wins if longer."""
    delay = min(2.0 ** (attempt - 1), 300.0)
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
    batch: int = 200
    poll: float = 1.0

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
            claimed = deliveries.claim(conn, now, self.batch, LEASE)
        loaded = self.policy()
        for delivery in claimed:
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
            elif isinstance(result, Retry) and delivery.attempts < MAX_ATTEMPTS:
                at = now + backoff(delivery.attempts, result.retry_after)
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

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set: work, then sleep until the next due item or a wake-up."""
        log.info("worker.started")
        while not stop.is_set():
            self.wake.clear()
            try:
                worked = self.run_once()
            except (SQLAlchemyError, OSError):
                # The database may be restarting; timers and deliveries wait in
                # their tables, so trying again later loses nothing.
                log.exception("worker.pass_failed")
                stop.wait(self.poll)
                continue
            if worked:
                continue
            self.wake.wait(self.next_wake(self.clock.now()))
        log.info("worker.stopped")
