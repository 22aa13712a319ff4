"""Review requests: the whole state as JSON, plus the columns lists and metrics filter on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from escalade.domain.incidents import Incident, IncidentStatus
from escalade.domain.reviews import Review
from escalade.storage import incidents as incident_store
from escalade.storage.schema import incidents, reviews


class StaleReview(RuntimeError):
    """Another writer changed the review since it was read."""


def _row(review: Review, key: str | None) -> dict[str, Any]:
    decision = review.decision
    return {
        "id": review.id,
        "status": review.status,
        "policy_id": review.policy_id,
        "action": review.action,
        "requested_by": review.requested_by,
        "idempotency_key": key,
        "incident_id": review.incident_id,
        "requested_at": review.requested_at,
        "decided_at": decision.decided_at if decision else None,
        "outcome": decision.outcome.value if decision else None,
        "reason": decision.reason.value if decision else None,
        "version": review.version,
        "state": review.to_record(),
    }


def scoped_key(requested_by: str, key: str | None) -> str | None:
    """Idempotency keys are per requester: two systems may both use "order-42"."""
    return f"{requested_by}\x1f{key}" if key else None


def insert(conn: Connection, review: Review) -> None:
    key = scoped_key(review.requested_by, review.idempotency_key)
    conn.execute(reviews.insert(), [_row(review, key)])


def save(conn: Connection, review: Review, read_version: int) -> None:
    row = _row(review, None)
    del row["idempotency_key"], row["id"]
    result = conn.execute(
        update(reviews)
        .where(and_(reviews.c.id == review.id, reviews.c.version == read_version))
        .values(row)
    )
    if result.rowcount != 1:
        raise StaleReview(review.id)


def get(conn: Connection, review_id: str, *, lock: bool = False) -> Review | None:
    query = select(reviews.c.state).where(reviews.c.id == review_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return Review.from_record(row.state) if row else None


def by_idempotency_key(conn: Connection, requested_by: str, key: str) -> Review | None:
    query = select(reviews.c.state).where(
        reviews.c.idempotency_key == scoped_key(requested_by, key)
    )
    row = conn.execute(query).first()
    return Review.from_record(row.state) if row else None


def listing(conn: Connection, *, status: str | None = None, limit: int = 50) -> list[Review]:
    query = select(reviews.c.state).order_by(reviews.c.requested_at.desc(), reviews.c.id.desc())
    if status:
        query = query.where(reviews.c.status == status)
    return [Review.from_record(r.state) for r in conn.execute(query.limit(limit))]


def decided_since(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Policy, request and decision times and reason of every review decided since."""
    query = select(
        reviews.c.policy_id, reviews.c.requested_at, reviews.c.decided_at, reviews.c.reason
    ).where(reviews.c.decided_at >= since)
    return [dict(r._mapping) for r in conn.execute(query)]


def pending_count(conn: Connection) -> int:
    query = select(func.count()).select_from(reviews).where(reviews.c.status == "pending")
    return int(conn.execute(query).scalar_one())


def open_incident_for(conn: Connection, subject: Mapping[str, str]) -> Incident | None:
    """The most recent open incident about the same system (and model, when given)."""
    system = subject.get("system")
    if not system:
        return None
    query = (
        select(incidents)
        .where(incidents.c.status != IncidentStatus.RESOLVED.value)
        .order_by(incidents.c.opened_at.desc())
        .limit(500)
    )
    for found in _incidents(conn.execute(query)):
        theirs = found.subject
        if theirs.get("system") != system:
            continue
        if subject.get("model") and theirs.get("model") not in (None, subject["model"]):
            continue
        return found
    return None


def _incidents(rows: Iterable[Any]) -> Iterable[Incident]:
    for row in rows:
        yield incident_store.from_row(row)
