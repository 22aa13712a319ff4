"""The policy versions that went live, oldest first (schema.policy_versions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from escalade.storage.schema import policy_versions


def latest(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(
        select(policy_versions).order_by(policy_versions.c.seq.desc()).limit(1)
    ).first()
    return _version(row) if row else None


def record(
    conn: Connection,
    *,
    digest: str,
    previous: str,
    sources: list[list[str]],
    author: str,
    diff: str,
    now: datetime,
) -> bool:
    """Store a change from `previous` to `digest`; False if another process already did."""
    try:
        with conn.begin_nested():
            conn.execute(
                policy_versions.insert().values(
                    digest=digest,
                    previous=previous,
                    activated_at=now,
                    author=author,
                    sources=sources,
                    diff=diff,
                )
            )
    except IntegrityError:
        return False
    return True


def history(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first."""
    rows = conn.execute(select(policy_versions).order_by(policy_versions.c.seq.desc()).limit(limit))
    return [_version(r) for r in rows]


def find(conn: Connection, ref: str) -> dict[str, Any] | None:
    """A version by its number (`seq`) or a prefix of its digest (the newest match)."""
    query = select(policy_versions)
    if ref.isdigit():
        query = query.where(policy_versions.c.seq == int(ref))
    else:
        query = query.where(policy_versions.c.digest.startswith(ref.lower(), autoescape=True))
    row = conn.execute(query.order_by(policy_versions.c.seq.desc()).limit(1)).first()
    return _version(row) if row else None


def _version(row: Any) -> dict[str, Any]:
    return {
        "version": row.seq,
        "digest": row.digest,
        "previous": row.previous or None,
        "activated_at": row.activated_at.isoformat(),
        "author": row.author,
        "sources": [list(s) for s in row.sources],
        "diff": row.diff,
    }
