"""Inserts of many rows, and keyed upserts, on either backend."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

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
