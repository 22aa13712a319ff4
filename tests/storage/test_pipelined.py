"""`pipelined`: a transaction whose writes are sent without a round trip each."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event, func, select, text, update
from sqlalchemy.exc import IntegrityError

from escalade.storage.database import ANSWER_UNREAD, connect, pipelined
from escalade.storage.migrate import upgrade
from escalade.storage.schema import inbox


def count(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())


def test_reads_inside_see_the_writes_before_them_and_row_counts_are_right(db: Engine) -> None:
    with pipelined(db) as conn:
        conn.execute(inbox.insert(), [{"id": f"s{n}", "body": {"n": n}} for n in range(3)])
        conn.execute(inbox.insert().values(id="s3", body={"n": 3}))
        seen = conn.execute(select(inbox.c.id).order_by(inbox.c.seq)).scalars().all()
        changed = conn.execute(update(inbox).where(inbox.c.id < "s2").values(body={"n": 0}))
        assert changed.rowcount == 2
        assert conn.execute(text("SELECT 1 + 1")).scalar() == 2
    assert seen == ["s0", "s1", "s2", "s3"]
    assert count(db) == 4


def test_an_insert_that_fails_in_the_pipeline_rolls_back_the_whole_transaction(
    db: Engine,
) -> None:
    with pipelined(db) as conn:
        conn.execute(inbox.insert().values(id="taken", body={}))
    with pytest.raises(IntegrityError), pipelined(db) as conn:
        conn.execute(inbox.insert().values(id="new", body={}))
        conn.execute(inbox.insert().values(id="taken", body={}))  # unique id: fails
        conn.execute(inbox.insert().values(id="later", body={}))
    assert count(db) == 1  # "new" went with the rest
    with pipelined(db) as conn:  # the pooled connection is usable again
        conn.execute(inbox.insert().values(id="after", body={}))
    assert count(db) == 2


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_only_statements_whose_answer_is_read_wait_for_it(db: Engine) -> None:
    syncs: list[str] = []
    with pipelined(db) as conn:
        raw = conn.connection.driver_connection
        assert raw is not None and raw._pipeline is not None
        pipeline = raw._pipeline
        original = pipeline.sync

        def counted() -> None:
            syncs.append("sync")
            original()

        pipeline.sync = counted  # type: ignore[method-assign]
        lock = text("SELECT pg_advisory_xact_lock(1)")
        conn.execute(lock.execution_options(**{ANSWER_UNREAD: True}))
        # (A one-row Core insert into a table with a serial key adds RETURNING.)
        conn.execute(text("INSERT INTO inbox (id, body) VALUES ('a', '{}')"))
        conn.execute(inbox.insert(), [{"id": "b", "body": {}}, {"id": "c", "body": {}}])
        conn.execute(text("NOTIFY escalade_test"))
        assert syncs == []  # four statements sent, no answer awaited
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 3
        assert syncs == ["sync"]
        conn.execute(inbox.insert().values(id="d", body={}).returning(inbox.c.seq)).scalar_one()
        assert syncs == ["sync", "sync"]
        unread = update(inbox).where(inbox.c.id == "a").values(body={"n": 1})
        conn.execute(unread.execution_options(**{ANSWER_UNREAD: True}))  # count not wanted
        assert syncs == ["sync", "sync"]
        conn.execute(update(inbox).where(inbox.c.id == "b").values(body={"n": 1}))
        assert syncs == ["sync", "sync", "sync"]  # an UPDATE's count is read by default
        conn.execute(text("SELECT pg_advisory_xact_lock(2)"))  # unmarked: its rows may be read
        assert syncs == ["sync", "sync", "sync", "sync"]
    with db.connect() as conn:  # back in the pool out of pipeline mode
        raw = conn.connection.driver_connection
        assert raw is not None and raw._pipeline is None
    assert count(db) == 4


def test_outside_postgresql_it_is_a_plain_transaction(tmp_path: object) -> None:
    engine = connect(f"sqlite:///{tmp_path}/plain.db")
    upgrade(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with pipelined(engine) as conn:
        conn.execute(inbox.insert().values(id="a", body={}))
    assert statements[0] == "BEGIN IMMEDIATE"
    assert count(engine) == 1
    engine.dispose()
