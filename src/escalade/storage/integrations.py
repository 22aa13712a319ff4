"""Inbound integrations: only a SHA-256 of each key is stored, never the key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from escalade.storage.schema import integrations
from escalade.storage.tokens import digest


@dataclass(frozen=True, slots=True)
class IntegrationRecord:
    id: str
    name: str
    kind: str
    mapping: dict[str, Any] | None
    revoked: bool


def create(
    conn: Connection,
    *,
    integration_id: str,
    name: str,
    kind: str,
    key: str,
    mapping: dict[str, Any] | None,
    now: datetime,
) -> None:
    conn.execute(
        integrations.insert().values(
            id=integration_id,
            name=name,
            kind=kind,
            key_hash=digest(key),
            mapping=mapping,
            created_at=now,
        )
    )


def find(conn: Connection, key: str) -> IntegrationRecord | None:
    row = conn.execute(select(integrations).where(integrations.c.key_hash == digest(key))).first()
    if row is None:
        return None
    return IntegrationRecord(row.id, row.name, row.kind, row.mapping, row.revoked_at is not None)


def touch(conn: Connection, integration_id: str, now: datetime) -> None:
    conn.execute(
        update(integrations).where(integrations.c.id == integration_id).values(last_used_at=now)
    )


def revoke(conn: Connection, integration_id: str, now: datetime) -> bool:
    result = conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id, integrations.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def listing(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(integrations).order_by(integrations.c.created_at))
    return [
        {
            "id": r.id,
            "name": r.name,
            "kind": r.kind,
            "mapping": r.mapping,
            "created_at": r.created_at.isoformat(),
            "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        }
        for r in rows
    ]
