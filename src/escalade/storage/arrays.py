"""Many rows in one statement on PostgreSQL: each column as an array sent in binary.

An executemany runs inside psycopg's pipeline as one statement per row, with
the dumping of every parameter and SQLAlchemy's processing per row; a routing
pass that touched 16 incidents spent most of its client time there. One
`INSERT ... SELECT FROM unnest(...)` over a binary array per column does the
same work in one statement whose text is the same whatever the number of rows,
so the server prepares it once. The arrays are built from the table's own
column types: JSON columns travel as text (orjson's, as the engine's JSON
serializer writes them) and are cast on the server, times must be aware (as
`UTCDateTime` requires), and rows keep their order (`WITH ORDINALITY`), so
serial ids follow it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Integer,
    String,
    Table,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.compiler import IdentifierPreparer

from escalade.storage.database import ANSWER_UNREAD
from escalade.storage.schema import UTCDateTime, require_aware


def insert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    ignore_duplicates: bool = False,
    returning: str = "",
) -> list[Any]:
    """Insert rows (dicts with the same keys) in one statement. With
    `ignore_duplicates`, a row whose key is taken is skipped (ON CONFLICT DO
    NOTHING); with `returning` (a column name), that column of each row
    written. Inside `database.pipelined` an insert without `returning` waits
    for no answer."""
    if not rows:
        return []
    columns = tuple(rows[0])
    statement, converters = _statement(table, columns, ignore_duplicates, returning)
    params = _params(rows, columns, converters)
    # psycopg's own placeholders: `%(name)b` sends a parameter in binary format.
    result = conn.exec_driver_sql(statement, params)
    return list(result.scalars()) if returning else []


def update(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    match: dict[str, str],
    answer_unread: bool = False,
) -> int:
    """Update rows in one statement: each row's dict holds the values to set
    by column name, and under other keys the values `match` names (column ->
    key) that pick its row. The number of rows the statement changed.
    `answer_unread` marks it as one whose count nobody reads, so that inside
    `database.pipelined` it waits for no answer (the count is then unknown)."""
    if not rows:
        return 0
    keys = tuple(rows[0])
    statement, converters, order = _update_statement(table, keys, tuple(match.items()))
    params = _params(rows, order, converters)
    options = {ANSWER_UNREAD: True} if answer_unread else {}
    return int(conn.exec_driver_sql(statement, params, execution_options=options).rowcount)


Converter = Callable[[list[Any]], list[Any]]


def _params(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], converters: Sequence[Converter]
) -> dict[str, list[Any]]:
    """The statement's arrays `c0, c1, ...`: each key's values down the rows,
    converted for their column."""
    return {
        f"c{i}": convert([row[key] for row in rows])
        for i, (key, convert) in enumerate(zip(keys, converters, strict=True))
    }


@cache
def _statement(
    table: Table, columns: tuple[str, ...], ignore_duplicates: bool, returning: str
) -> tuple[str, tuple[Converter, ...]]:
    """The statement for these columns, and how each column's values are sent.
    Every name comes from the table's metadata (a key that is no column of it
    raises here), quoted by PostgreSQL's own rules."""
    names, arrays, values, converters = [], [], [], []
    for i, name in enumerate(columns):
        column = table.c[name]
        element, cast, convert = _array_of(column)
        names.append(_QUOTE.quote(column.name))
        arrays.append(f"%(c{i})b::{element}[]")
        values.append(f"CAST(c{i} AS {cast})" if cast else f"c{i}")
        converters.append(convert)
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    statement = (
        f"INSERT INTO {_QUOTE.format_table(table)} ({', '.join(names)}) "  # noqa: S608 - metadata names
        f"SELECT {', '.join(values)} FROM unnest({', '.join(arrays)}) "
        f"WITH ORDINALITY AS t({aliases}, n) ORDER BY n"
    )
    if ignore_duplicates:
        statement += " ON CONFLICT DO NOTHING"
    if returning:
        statement += f" RETURNING {_QUOTE.quote(table.c[returning].name)}"
    return statement, tuple(converters)


@cache
def _update_statement(
    table: Table, keys: tuple[str, ...], match: tuple[tuple[str, str], ...]
) -> tuple[str, tuple[Converter, ...], tuple[str, ...]]:
    """The update for these keys: the statement, each array's conversion, and
    which key of a row fills each array."""
    matched = {key: column for column, key in match}
    order = tuple(k for k in keys if k not in matched) + tuple(key for _, key in match)
    arrays, converters, sets, wheres = [], [], [], []
    for i, key in enumerate(order):
        column = table.c[matched.get(key, key)]
        element, cast, convert = _array_of(column)
        arrays.append(f"%(c{i})b::{element}[]")
        converters.append(convert)
        value = f"CAST(u.c{i} AS {cast})" if cast else f"u.c{i}"
        if key in matched:
            wheres.append(f"t.{_QUOTE.quote(column.name)} = {value}")
        else:
            sets.append(f"{_QUOTE.quote(column.name)} = {value}")
    aliases = ", ".join(f"c{i}" for i in range(len(order)))
    statement = (
        f"UPDATE {_QUOTE.format_table(table)} AS t SET {', '.join(sets)} "  # noqa: S608 - metadata names
        f"FROM unnest({', '.join(arrays)}) AS u({aliases}) WHERE {' AND '.join(wheres)}"
    )
    return statement, tuple(converters), order


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
_QUOTE: IdentifierPreparer = _PG.identifier_preparer


def _as_is(values: list[Any]) -> list[Any]:
    return values


def _aware(values: list[Any]) -> list[Any]:
    require_aware(values)
    return values


def _json(values: list[Any]) -> list[Any]:
    # None too becomes JSON null, as SQLAlchemy's JSON type stores it by default.
    return [orjson.dumps(v).decode() for v in values]


# Each column type's array form, the first that the column's type is an instance of.
_FORMS: tuple[tuple[type[Any], str, str, Converter], ...] = (
    (UTCDateTime, "timestamptz", "", _aware),
    (JSON, "text", "json", _json),  # as text, cast by the server
    (Boolean, "bool", "", _as_is),
    (BigInteger, "int8", "", _as_is),
    (Integer, "int4", "", _as_is),
    (Float, "float8", "", _as_is),
    (String, "text", "", _as_is),  # Text too
)


def _array_of(column: Column[Any]) -> tuple[str, str, Converter]:
    """The element type a column's values travel as, the cast the server
    applies to each (if any), and the conversion of the values."""
    for kind, element, cast, convert in _FORMS:
        if isinstance(column.type, kind):
            # `json` keeps the text as written (the inbox's body); most are `jsonb`.
            binary = cast == "json" and isinstance(column.type.dialect_impl(_PG), JSONB)
            return element, "jsonb" if binary else cast, convert
    raise TypeError(f"{column}: no array form for {column.type!r}")
