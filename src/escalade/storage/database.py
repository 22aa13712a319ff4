"""Opening the database: SQLite (WAL, immediate transactions) or PostgreSQL."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

DEFAULT_URL = "sqlite:///./escalade.db"
# How long a SQLite connection waits for another process's lock.
_BUSY_SECONDS = 30


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def connect(url: str, *, for_writes: bool = True) -> Engine:
    """An Engine configured for Escalade's access pattern.

    SQLite: WAL so readers never block the writer; `BEGIN IMMEDIATE` so that a
    transaction that will write takes the write lock up front instead of failing
    half-way with "database is locked" (an engine used only for reads passes
    `for_writes=False`); synchronous=FULL because a 202 promises
    the signal survives a power cut (group commit pays for the fsync).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            json_serializer=_dumps,
            json_deserializer=orjson.loads,
            connect_args={
                "check_same_thread": False,
                "timeout": _BUSY_SECONDS,
                "factory": _QueuedWriter,
            },
            poolclass=NullPool if database in ("", ":memory:") else None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            _enter_wal(cursor)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_SECONDS * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Readers (for_writes=False) take no lock: WAL gives them a snapshot.
            if not for_writes:
                conn.exec_driver_sql("BEGIN")
                return
            writer = conn.connection.driver_connection
            writer.take_write_lock()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writer.give_back_write_lock()  # no transaction began: none will end
                raise

        return engine
    engine = create_engine(
        url,
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
        # No ping before each checkout: it is a round trip per transaction (a fifth
        # of an ingest commit's time). After a server restart the first statement
        # on a stale connection fails, SQLAlchemy then drops the whole pool, and
        # the ingest path retries that once (engine/service.py); the worker's loop
        # retries every failed pass.
        pool_pre_ping=False,
        pool_size=10,
        max_overflow=10,
    )
    event.listen(engine, "after_cursor_execute", _answer_when_read)
    return engine


# In a pipelined transaction, the statements whose answer cannot be read:
# inserts without RETURNING (nobody here reads their row count) and NOTIFY.
_UNREAD_SHAPES = re.compile(r"\s*(?:INSERT\b(?![^;]*\bRETURNING\b)|NOTIFY\b)", re.IGNORECASE)
_PIPELINE = "escalade.pipeline"
# The execution option for any other statement whose answer (rows, row count)
# its caller never reads, such as an advisory lock whose effect the server
# orders before the next statement: it too travels unsynced.
ANSWER_UNREAD = "escalade_answer_unread"


@contextmanager
def pipelined(db: Engine) -> Iterator[Connection]:
    """One transaction whose writes PostgreSQL receives without a round trip each.

    psycopg's pipeline mode sends statements without waiting for their
    answers. Every statement whose answer is read (a SELECT, an UPDATE whose
    row count is checked, anything with RETURNING) is synced at once
    (`_answer_when_read`), so the code inside reads as if nothing were
    pipelined; inserts, NOTIFY and statements marked `ANSWER_UNREAD` travel
    with the next sync, and the commit
    syncs the rest. An error in a pipelined insert surfaces at that next sync
    or at the commit, and rolls the whole transaction back as before. Other
    databases get a plain transaction.
    """
    with db.connect() as conn:
        if conn.dialect.name != "postgresql":
            with conn.begin():
                yield conn
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.pipeline() as pipeline:
            conn.info[_PIPELINE] = pipeline
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(_PIPELINE, None)


def _answer_when_read(
    conn: Connection,
    _cursor: Any,
    statement: str,
    _parameters: Any,
    context: Any,
    _executemany: bool,
) -> None:
    pipeline = conn.info.get(_PIPELINE)
    if pipeline is None or _UNREAD_SHAPES.match(statement):
        return
    if context is not None and context.execution_options.get(ANSWER_UNREAD):
        return
    pipeline.sync()


def _enter_wal(cursor: Any) -> None:
    """Switch to WAL (a no-op once the file is in WAL). On a new file the switch
    needs an exclusive lock, and SQLite answers BUSY at once, without the busy
    handler, when processes starting together race for it: retry for as long as
    the busy timeout would have waited."""
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


# One lock per database file for the writers of this process (see _QueuedWriter).
_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_GUARD = threading.Lock()


class _QueuedWriter(sqlite3.Connection):
    """A SQLite connection whose write transactions queue on an in-process lock.

    SQLite's busy handler is no queue: a second writer that finds the file
    locked sleeps 1, 2, 5, 10 ms and more before it looks again, so two
    threads of one process writing in turn (ingest's group commit beside the
    worker's routing) lost milliseconds a transaction to sleeping while the
    lock was long free. Writers of this process now wait on a lock that wakes
    them the moment the other commits; other processes still meet the busy
    handler.
    """

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        name = str(database)
        if name in ("", ":memory:"):
            self._writers = threading.Lock()  # a database of this connection's own
        else:
            if not name.startswith("file:"):
                name = os.path.abspath(name)
            with _WRITERS_GUARD:
                self._writers = _WRITERS.setdefault(name, threading.Lock())
        self._holding = False

    def take_write_lock(self) -> None:
        """Wait for this process's other writers of the file; `BEGIN IMMEDIATE`
        follows, and the commit or rollback gives the lock back. After as long
        as the busy handler would have waited, the same error it gives."""
        if self._holding:
            return
        if not self._writers.acquire(timeout=_BUSY_SECONDS):
            raise sqlite3.OperationalError("database is locked")
        self._holding = True

    def give_back_write_lock(self) -> None:
        if self._holding:
            self._holding = False
            self._writers.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_back_write_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_back_write_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_back_write_lock()


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
