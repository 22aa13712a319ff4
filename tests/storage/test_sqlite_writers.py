"""Writers of one process queue for SQLite's write lock instead of sleeping in
its busy handler (storage/database.py, `_QueuedWriter`)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from escalade.storage import database
from escalade.storage.database import connect


def _no_busy_wait(url: str) -> Engine:
    """An engine whose connections give up at once on a lock another holds:
    a second writer succeeds only if it waited for the first in this process."""
    engine = connect(url)

    @event.listens_for(engine, "connect")
    def _impatient(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
    return engine


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_a_second_writer_waits_for_the_first_to_commit(tmp_path: Path) -> None:
    engine = _no_busy_wait(f"sqlite:///{tmp_path}/w.db")
    inside, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            inside.set()
            release.wait(10)

    def second() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (2)"))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.2)
    assert two.is_alive()  # queued behind the open transaction, not failed
    release.set()
    one.join(10)
    two.join(10)
    assert failures == []
    assert _count(engine) == 2
    engine.dispose()


@pytest.mark.parametrize("ending", ["rollback", "error"])
def test_a_transaction_that_does_not_commit_gives_the_lock_back(
    tmp_path: Path, ending: str
) -> None:
    engine = _no_busy_wait(f"sqlite:///{tmp_path}/w.db")
    if ending == "rollback":
        with engine.connect() as conn:
            conn.begin()
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.rollback()
    else:
        with pytest.raises(ZeroDivisionError), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            raise ZeroDivisionError
    done = threading.Event()

    def writer() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
        done.set()

    threading.Thread(target=writer, daemon=True).start()
    assert done.wait(10)  # a lock never given back would hang here
    assert _count(engine) == 1
    engine.dispose()


def test_readers_take_no_write_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    writer = _no_busy_wait(url)
    reader = connect(url, for_writes=False)
    with writer.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        with reader.begin() as look:  # would block on the lock the writer holds
            assert look.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    assert _count(reader) == 1
    writer.dispose()
    reader.dispose()


def test_a_begin_refused_by_another_process_gives_the_lock_back(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    engine = _no_busy_wait(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="locked"), engine.begin():
        pass
    assert not database._WRITERS[str(path)].locked()  # or every writer here would wait
    other.execute("COMMIT")
    other.close()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert _count(engine) == 1
    engine.dispose()
