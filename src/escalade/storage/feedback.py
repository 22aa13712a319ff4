"""Responder feedback rows (schema.feedback) <-> domain answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from escalade.domain.feedback import Answer
from escalade.storage._upsert import upsert
from escalade.storage.schema import feedback


def save(conn: Connection, answer: Answer) -> None:
    """Store an answer; a participant's second answer replaces the first."""
    upsert(
        conn,
        feedback,
        ["incident_id", "person"],
        {
            "incident_id": answer.incident_id,
            "person": answer.person,
            "rating": answer.rating,
            "comment": answer.comment,
            "tier": answer.tier,
            "submitted_at": answer.submitted_at,
        },
    )


def since(conn: Connection, start: datetime | None) -> list[Answer]:
    query = select(feedback).order_by(feedback.c.submitted_at)
    if start is not None:
        query = query.where(feedback.c.submitted_at >= start)
    return [
        Answer(r.incident_id, r.person, r.rating, r.comment, r.tier, r.submitted_at)
        for r in conn.execute(query)
    ]


def for_incident(conn: Connection, incident_id: str) -> list[Answer]:
    query = select(feedback).where(feedback.c.incident_id == incident_id)
    return [
        Answer(r.incident_id, r.person, r.rating, r.comment, r.tier, r.submitted_at)
        for r in conn.execute(query.order_by(feedback.c.submitted_at))
    ]
