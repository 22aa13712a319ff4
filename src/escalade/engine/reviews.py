"""Review requests in, decisions out: one transaction per step, like incidents.

A review's timers, outbox rows and timeline entries live in the same tables as an
incident's, keyed by the review id, so the worker fires and delivers them with the
same crash safety. A review that ends in a way its policy wants an incident for
raises a signal in the same transaction (see `domain.reviews.incident_signal`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from escalade.domain import reviews as core
from escalade.domain.effects import Record
from escalade.domain.reviews import Review, ReviewRefused, ReviewRequestIn, Step
from escalade.engine.effects import persist
from escalade.engine.ingest import ingest_in
from escalade.engine.policies import LoadedPolicy
from escalade.storage import incidents, timeline
from escalade.storage import reviews as store
from escalade.storage.timers import DueTimer

log = logging.getLogger("escalade.reviews")


class ReviewNotFound(LookupError):
    def __init__(self, review_id: str) -> None:
        super().__init__(f"no review {review_id!r}")
        self.review_id = review_id


class IdempotencyConflict(ValueError):
    """The idempotency key was used before for a different action or arguments."""


@dataclass(frozen=True, slots=True)
class Requested:
    review: Review
    created: bool
    due_now: bool


def request(
    db: Engine,
    loaded: LoadedPolicy,
    wire: ReviewRequestIn,
    *,
    review_id: str,
    requested_by: str,
    now: datetime,
) -> Requested:
    """Store and route a request; the same idempotency key returns the first one."""
    if wire.idempotency_key:
        with db.connect() as conn:
            existing = store.by_idempotency_key(conn, requested_by, wire.idempotency_key)
        if existing is not None:
            return Requested(_same_request(existing, wire), created=False, due_now=False)
    try:
        with db.begin() as conn:
            incident = store.open_incident_for(conn, wire.subject)
            step = core.open_review(
                loaded.policy,
                wire,
                review_id=review_id,
                requested_by=requested_by,
                incident_id=incident.id if incident else None,
                roles=incident.roles if incident else {},
                now=now,
            )
            store.insert(conn, step.review)
            due = _carry_out(conn, loaded, step, now)
    except IntegrityError:
        # A concurrent request with the same key won the insert: answer with its review.
        if not wire.idempotency_key:
            raise
        with db.connect() as conn:
            existing = store.by_idempotency_key(conn, requested_by, wire.idempotency_key)
        if existing is None:
            raise
        return Requested(_same_request(existing, wire), created=False, due_now=False)
    return Requested(step.review, created=True, due_now=due)


def answer(
    db: Engine,
    loaded: LoadedPolicy,
    review_id: str,
    *,
    person: str,
    approve: bool,
    edited_args: Mapping[str, Any] | None,
    comment: str | None,
    now: datetime,
) -> tuple[Review, bool]:
    """Apply a reviewer's answer; raises ReviewNotFound or ReviewRefused."""
    try:
        with db.begin() as conn:
            review = store.get(conn, review_id, lock=True)
            if review is None:
                raise ReviewNotFound(review_id)
            step = core.answer(
                loaded.policy,
                review,
                person=person,
                approve=approve,
                edited_args=edited_args,
                comment=comment,
                now=now,
            )
            saved, due = _save(conn, loaded, review, step, now)
    except ReviewRefused as refused:
        refuse(db, review_id, person=person, reason=refused.reason, approve=approve, now=now)
        raise
    return saved, due


def refuse(
    db: Engine,
    review_id: str,
    *,
    person: str,
    reason: str,
    approve: bool | None,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Put a refused answer on the review's timeline (`review.refused`); `approve`
    is None when the answer was refused before it was read.

    Who tried to decide what they may not is part of the record. An unknown review
    id records nothing: the audit chain holds only reviews that exist.
    """
    log.warning(
        "review.refused", extra={"review_id": review_id, "reason": reason, "person": person}
    )
    data = {"review_id": review_id, "reason": reason, "approve": approve, **(detail or {})}
    with db.begin() as conn:
        if store.get(conn, review_id) is not None:
            timeline.append(conn, [Record(review_id, now, "review.refused", person, data)])


def fire(conn: Connection, loaded: LoadedPolicy, timer: DueTimer, now: datetime) -> bool:
    """A review window closed (called by the worker inside its transaction)."""
    review = store.get(conn, timer.incident_id, lock=True)
    if review is None:
        return False
    roles: Mapping[str, str] = {}
    if review.incident_id:
        incident = incidents.get(conn, review.incident_id)
        roles = incident.roles if incident else {}
    step = core.timer_fired(loaded.policy, review, timer.step, roles, now)
    if step.review is review:
        return False
    return _save(conn, loaded, review, step, now)[1]


def get(db: Engine, review_id: str) -> Review | None:
    with db.connect() as conn:
        return store.get(conn, review_id)


def _save(
    conn: Connection, loaded: LoadedPolicy, before: Review, step: Step, now: datetime
) -> tuple[Review, bool]:
    after = replace(step.review, version=before.version + 1)
    store.save(conn, after, before.version)
    return after, _carry_out(conn, loaded, step, now)


def _carry_out(conn: Connection, loaded: LoadedPolicy, step: Step, now: datetime) -> bool:
    due = persist(conn, step.effects, now)
    trigger = core.opens_incident(loaded.policy, step.review)
    if trigger is not None:
        signal = core.incident_signal(step.review, trigger, now)
        due = ingest_in(conn, loaded, [signal], now).due_now or due
    return due


def _same_request(existing: Review, wire: ReviewRequestIn) -> Review:
    if existing.action != wire.action or dict(existing.args) != wire.args:
        raise IdempotencyConflict(
            f"idempotency_key {wire.idempotency_key!r} was used for review {existing.id} "
            f"with a different action or arguments"
        )
    return existing
