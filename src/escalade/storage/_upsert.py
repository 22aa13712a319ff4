from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_duplicates(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, returning: str = ""
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING: the idempotent write for keyed rows.

    With `returning` (a column name), that column of each row actually
    written, skipped duplicates left out; otherwise nothing."""
    if not rows:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing()
    if not returning:
        conn.execute(statement, list(rows))
        return []
    column = table.c[returning]
    return list(conn.execute(statement.returning(column), list(rows)).scalars())


def upsert(conn: Connection, table: Table, keys: list[str], row: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE: create or replace one keyed row."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**row)
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={k: getattr(statement.excluded, k) for k in row if k not in keys},
    )
    conn.execute(statement)
