"""API tokens: only a SHA-256 of each token is stored, never the token."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from escalade.storage.schema import api_tokens


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    name: str
    scope: str
    revoked: bool


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    conn: Connection, *, token_id: str, name: str, token: str, scope: str, now: datetime
) -> None:
    conn.execute(
        api_tokens.insert().values(
            id=token_id, name=name, token_hash=digest(token), scope=scope, created_at=now
        )
    )


def find(conn: Connection, token: str) -> TokenRecord | None:
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == digest(token))).first()
    if row is None:
        return None
    return TokenRecord(row.id, row.name, row.scope, row.revoked_at is not None)


def by_id(conn: Connection, token_id: str) -> TokenRecord | None:
    row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None:
        return None
    return TokenRecord(row.id, row.name, row.scope, row.revoked_at is not None)


def touch(conn: Connection, token_id: str, now: datetime) -> None:
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))


def revoke(conn: Connection, token_id: str, now: datetime) -> bool:
    result = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def listing(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at))
    return [
        {
            "id": r.id,
            "name": r.name,
            "scope": r.scope,
            "created_at": r.created_at.isoformat(),
            "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
            "revoked": r.revoked_at is not None,
        }
        for r in rows
    ]
