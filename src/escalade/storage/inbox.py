"""The inbox: signals accepted durably but not yet routed into incidents.

A request that asks to be answered once its signals are durable, without
waiting for routing (`Prefer: respond-async`), appends them here: one multi-row
insert per group commit. The router takes rows in arrival order, routes them
and deletes them in the same transaction, so a signal is routed exactly once
whatever crashes in between. `seq` is the order of arrival.
"""

from __future__ import annotations

import asyncio
import struct
import weakref
from collections.abc import Iterable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

import orjson
from psycopg import AsyncConnection, errors
from psycopg.errors import UniqueViolation
from psycopg.pq import DiagnosticField, ExecStatus
from psycopg.pq.abc import PGconn
from sqlalchemy import Connection, Engine, bindparam, delete, func, select

from escalade.storage.schema import inbox, signals
from escalade.storage.wakeups import CHANNEL, INBOX


def known(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Which of these signal ids are already queued here or routed."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    queued = conn.execute(select(inbox.c.id).where(inbox.c.id.in_(wanted))).scalars()
    routed = conn.execute(select(signals.c.id).where(signals.c.id.in_(wanted))).scalars()
    return {*queued, *routed}


def append(conn: Connection, records: Sequence[dict[str, Any]]) -> None:
    """Queue inbox records (`ingest.accept_queued`); an id already queued is ignored.

    One statement whatever the number of records, its text always the same: on
    PostgreSQL the rows travel as two arrays (an executemany would be a
    statement per row in the pipeline, a multi-row VALUES a new statement to
    compile for every batch size), in binary (`%b`): a text array of JSON
    bodies is escaped by the client and parsed back by the server, which cost
    three times as much (`bench/serve.py`). SQLite's executemany runs in C, given
    rows as stored (the JSON column holds the text orjson writes) without
    per-row type processing.
    """
    if not records:
        return
    arrays = _arrays(records)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_APPEND, arrays)
        return
    conn.exec_driver_sql(_SQLITE_APPEND, list(zip(arrays["ids"], arrays["bodies"], strict=True)))


def append_fresh(db: Engine, records: Sequence[dict[str, Any]]) -> None:
    """Append, in a transaction of its own, records none of which can be queued
    already (ids made on arrival), and wake the workers at commit.

    On PostgreSQL that is one statement in autocommit, the insert and the
    NOTIFY together: one round trip instead of four (begin, insert, notify,
    commit). SQLite has no other process to wake.
    """
    if not records:
        return
    if db.dialect.name != "postgresql":
        with db.begin() as conn:
            append(conn, records)
        return
    with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(_PG_APPEND_WAKING, _arrays(records))


async def append_fresh_on_loop(
    conn: AsyncConnection[Any], records: Sequence[dict[str, Any]]
) -> None:
    """`append_fresh` on PostgreSQL from the event loop itself, over an
    autocommit connection of the caller's: the same one statement, without a
    thread to hand the commit to and take the answer back from.

    It runs on libpq directly (`psycopg.pq`): prepared once per connection,
    its two arrays encoded here in binary, its answer awaited on the loop.
    psycopg's cursor around the same execute (preparing, adapting, dumping
    each element, its waiting) cost about 100 µs of CPU a commit, which the
    API pays once per group commit of a stream of single signals
    (`docs/benchmarks.md`). The caller owns the connection: nothing else may
    use it meanwhile. A server error raises psycopg's class for its SQLSTATE
    (a lost connection, an `OperationalError`), as `execute` would."""
    if not records:
        return
    if conn not in _PREPARED:
        await conn.execute(_PG_PREPARE_FRESH_WAKING)
        _PREPARED.add(conn)
    ids = _text_array([r["id"].encode() for r in records])
    bodies = _text_array([orjson.dumps(r) for r in records])
    await _run_prepared(conn.pgconn, _PG_FRESH_NAME, [ids, bodies])


async def append_fresh_again(conn: AsyncConnection[Any], records: Sequence[dict[str, Any]]) -> None:
    """`append_fresh_on_loop` once more, after the connection failed before its
    answer came. Ids made on arrival cannot clash with anyone else's, and the
    statement commits all of its rows or none, so finding them queued already
    means the first try committed (and woke the workers): nothing is left to do."""
    with suppress(UniqueViolation):
        await append_fresh_on_loop(conn, records)


async def _run_prepared(pgconn: PGconn, name: bytes, params: list[bytes]) -> None:
    """Execute a prepared statement with binary parameters; wait on the loop."""
    loop = asyncio.get_running_loop()
    try:
        pgconn.send_query_prepared(name, params, param_formats=[1] * len(params))
        while pgconn.flush():  # 1 while some of the request is still unsent
            await _ready(loop, pgconn.socket, write=True)
        pgconn.consume_input()
        while pgconn.is_busy():
            await _ready(loop, pgconn.socket, write=False)
            pgconn.consume_input()
        failed = None
        while (result := pgconn.get_result()) is not None:
            if result.status == ExecStatus.FATAL_ERROR and failed is None:
                failed = result
    except BaseException:
        # Interrupted half-way (a lost connection, a cancellation): a query may
        # still be in flight, so the connection is closed, not used again.
        pgconn.finish()
        raise
    if failed is not None:
        state = (failed.error_field(DiagnosticField.SQLSTATE) or b"").decode()
        try:
            kind = errors.lookup(state)
        except KeyError:
            kind = errors.DatabaseError
        raise kind(failed.error_message.decode(errors="replace").strip())


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    """Until the socket can be written to (or read from)."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


def _text_array(items: list[bytes]) -> bytes:
    """A one-dimensional text[] without NULLs in PostgreSQL's binary format:
    dimensions, no-null flag, element type (text), length and lower bound,
    then each element's length and bytes."""
    parts = [_ARRAY_HEAD.pack(1, 0, _TEXT_OID, len(items), 1)]
    for item in items:
        parts += [_LENGTH.pack(len(item)), item]
    return b"".join(parts)


_ARRAY_HEAD = struct.Struct("!iiIii")
_LENGTH = struct.Struct("!i")
_TEXT_OID = 25
# Connections `append_fresh_on_loop` prepared its statement on.
_PREPARED: weakref.WeakSet[AsyncConnection[Any]] = weakref.WeakSet()


def _arrays(records: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """The records as the two columns stored: ids, and bodies as JSON text."""
    return {
        "ids": [r["id"] for r in records],
        "bodies": [orjson.dumps(r).decode() for r in records],
    }


def _insert(ids: str, bodies: str) -> str:
    """The insert of the two arrays; the body column is `json`: checked and
    kept as written (migration 0012)."""
    return (
        "INSERT INTO inbox (id, body) "  # noqa: S608 - placeholders, not values
        f"SELECT i, CAST(b AS json) FROM unnest({ids}, {bodies}) AS t(i, b)"
    )


# psycopg's own placeholders: `%(name)b` sends the parameter in binary format.
_PG_INSERT = _insert("%(ids)b::text[]", "%(bodies)b::text[]")
_PG_APPEND = f"{_PG_INSERT} ON CONFLICT (id) DO NOTHING"


def _waking(insert: str) -> str:
    """The insert and the workers' wake-up in one statement: a data-modifying
    CTE runs whether or not it is read, and NOTIFY is sent at commit."""
    return f"WITH added AS ({insert}) SELECT pg_notify('{CHANNEL}', '{INBOX}')"


# The blocking path keeps the conflict check: its caller's one retry after a
# lost connection (`service._reconnecting`) counts on finding the rows stored.
_PG_APPEND_WAKING = _waking(_PG_APPEND)
# The loop's, the hot path, goes without it: the check cost a look-up in the
# id index per row before its insert (a sixth of the statement's time), and
# fresh ids cannot clash; its retry is `append_fresh_again`. Prepared by name
# on the loop's connection, with libpq's placeholders.
_PG_FRESH_NAME = b"escalade_inbox_append_fresh"
_PG_PREPARE_FRESH_WAKING = (
    f"PREPARE {_PG_FRESH_NAME.decode()} (text[], text[]) AS {_waking(_insert('$1', '$2'))}"
)
_SQLITE_APPEND = "INSERT OR IGNORE INTO inbox (id, body) VALUES (?, ?)"


def take(conn: Connection, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """The oldest queued records with their sequence numbers, in arrival order.

    On PostgreSQL the bodies come as text and orjson reads them, as it wrote
    them: psycopg's own JSON loader is the standard library's, several times
    slower, and it was a twentieth of a routing pass."""
    if conn.dialect.name == "postgresql":
        found = conn.exec_driver_sql(_PG_TAKE, {"limit": limit})
        return [(int(seq), orjson.loads(body)) for seq, body in found]
    rows = conn.execute(select(inbox.c.seq, inbox.c.body).order_by(inbox.c.seq).limit(limit))
    return [(int(r.seq), r.body) for r in rows]


_PG_TAKE = "SELECT seq, body::text FROM inbox ORDER BY seq LIMIT %(limit)s"  # as written


def remove(conn: Connection, seqs: Sequence[int]) -> None:
    # By the exact numbers taken: on PostgreSQL a lower number may commit later.
    if conn.dialect.name == "postgresql":
        # One array in binary rather than an IN list of a parameter per row.
        conn.exec_driver_sql(_PG_REMOVE, {"seqs": list(seqs)})
        return
    conn.execute(delete(inbox).where(inbox.c.seq.in_(list(seqs))))


_PG_REMOVE = "DELETE FROM inbox WHERE seq = ANY(%(seqs)b::bigint[])"


def get(conn: Connection, signal_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] | None = conn.execute(
        select(inbox.c.body).where(inbox.c.id == signal_id)
    ).scalar()
    if body is not None:
        body.pop("fresh", None)  # the router's own mark, not part of the signal
    return body


def depth(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())


def oldest_received(conn: Connection) -> datetime | None:
    """When the oldest queued signal was accepted; None when the inbox is empty.
    Read from the first row in arrival order (the primary key's index)."""
    body: dict[str, Any] | None = conn.execute(_OLDEST).scalar()
    return None if body is None else datetime.fromisoformat(body["received_at"])


_OLDEST = select(inbox.c.body).order_by(inbox.c.seq).limit(1)


def waiting(conn: Connection, up_to: int) -> int:
    """How many signals are queued, counting no further than `up_to`."""
    return int(conn.execute(_WAITING, {"up_to": up_to}).scalar_one())


# Built once: every worker pass asks (building it cost about 100 µs). In
# `seq` order, so PostgreSQL reads the primary key's index rather than the
# table: a queue table holds dead rows until vacuumed (120,000 after a bench
# run with autovacuum off), and the table scan of an empty but unvacuumed
# inbox took 19-32 ms a pass against 3 for the index.
_WAITING = select(func.count()).select_from(
    select(inbox.c.seq).order_by(inbox.c.seq).limit(bindparam("up_to")).subquery()
)
