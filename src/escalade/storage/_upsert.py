"""Inserts and updates of many rows, and keyed upserts, on either backend."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, Update

from escalade.storage import arrays


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) in one statement on PostgreSQL
    (`arrays.insert`), an executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        arrays.insert(conn, table, rows)
        return
    conn.execute(_plain_insert(table), list(rows))


@cache
def _plain_insert(table: Table) -> Insert:
    """Built once per table: a statement keeps its cache key, and building one
    anew costs SQLAlchemy up to 100 µs a call."""
    return table.insert()


def update_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    match: dict[str, str],
    answer_unread: bool = False,
) -> int:
    """Update rows (dicts with the same keys): the values to set by column
    name, and under other keys the values `match` names (column -> key) that
    pick each row. One statement on PostgreSQL (`arrays.update`), an
    executemany elsewhere; the number of rows changed either way, unless
    `answer_unread` (then nobody waits for it inside a pipeline)."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        return arrays.update(conn, table, rows, match=match, answer_unread=answer_unread)
    statement = _plain_update(table, tuple(rows[0]), tuple(match.items()))
    return int(conn.execute(statement, list(rows)).rowcount)


@cache
def _plain_update(
    table: Table, keys: tuple[str, ...], match: tuple[tuple[str, str], ...]
) -> Update:
    """Built once per shape (a statement keeps its cache key)."""
    matched = {key for _, key in match}
    return (
        update(table)
        .where(and_(*(table.c[column] == bindparam(key) for column, key in match)))
        .values({k: bindparam(k) for k in keys if k not in matched})
    )


def insert_ignoring_duplicates(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, returning: str = ""
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING: the idempotent write for keyed rows.

    With `returning` (a column name), that column of each row actually
    written, skipped duplicates left out; otherwise nothing."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        return arrays.insert(conn, table, rows, ignore_duplicates=True, returning=returning)
    statement = _ignoring_duplicates(table, returning)
    if not returning:
        conn.execute(statement, list(rows))
        return []
    return list(conn.execute(statement, list(rows)).scalars())


@cache
def _ignoring_duplicates(table: Table, returning: str) -> Insert:
    """SQLite's statement, built once per table (a statement keeps its cache key)."""
    statement: Insert = sqlite.insert(table).on_conflict_do_nothing()
    return statement.returning(table.c[returning]) if returning else statement


def upsert(conn: Connection, table: Table, keys: list[str], row: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE: create or replace one keyed row."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**row)
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={k: getattr(statement.excluded, k) for k in row if k not in keys},
    )
    conn.execute(statement)
