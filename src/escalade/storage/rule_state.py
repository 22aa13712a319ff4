"""The memory of `when` rules: per (rule, group) window state and the last signal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from escalade.domain.rules import WindowState
from escalade.storage.schema import rule_state


def load(conn: Connection, rule_id: str, group_key: str) -> tuple[WindowState, Any] | None:
    row = conn.execute(
        select(rule_state).where(
            rule_state.c.rule_id == rule_id, rule_state.c.group_key == group_key
        )
    ).first()
    if row is None:
        return None
    hits = tuple(datetime.fromisoformat(h) for h in row.hits)
    return WindowState(row.since, hits), row.signal


def save(conn: Connection, rows: Sequence[tuple[str, str, WindowState, dict[str, Any]]]) -> None:
    """Upsert (rule id, group key, state, latest signal record) rows."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = [
        {
            "rule_id": rule_id,
            "group_key": key,
            "since": state.since,
            "hits": [h.isoformat() for h in state.hits],
            "signal": signal,
        }
        for rule_id, key, state, signal in rows
    ]
    statement = dialect.insert(rule_state)
    statement = statement.on_conflict_do_update(
        index_elements=["rule_id", "group_key"],
        set_={
            "since": statement.excluded.since,
            "hits": statement.excluded.hits,
            "signal": statement.excluded.signal,
        },
    )
    conn.execute(statement, values)
