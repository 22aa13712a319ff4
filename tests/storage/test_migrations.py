import threading

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import JSONB

from escalade.storage import inbox
from escalade.storage.database import connect
from escalade.storage.migrate import current_revision, head_revision, upgrade
from escalade.storage.schema import metadata


def test_migrations_build_exactly_the_schema_the_code_uses(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_upgrading_twice_is_harmless(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_processes_starting_together_upgrade_one_after_another(database_url: str) -> None:
    engines = [connect(database_url) for _ in range(3)]
    errors: list[BaseException] = []

    def run(engine: Engine) -> None:
        try:
            upgrade(engine)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert current_revision(engines[0]) == head_revision()
    for engine in engines:
        engine.dispose()


def test_an_index_built_by_hand_beforehand_is_kept(database_url: str) -> None:
    """docs/operations.md: on a large table, build 0011's index without blocking
    writes first; the migration then finds it and carries on."""
    engine = connect(database_url)
    upgrade(engine, "0010")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE INDEX ix_deliveries_sent ON deliveries (channel, delivered_at)"
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


# The inbox statements of the release before 0012, word for word: a rolling
# upgrade runs its processes beside the new ones (docs/operations.md).
_OLD_APPEND = (
    "INSERT INTO inbox (id, body) "
    "SELECT i, CAST(b AS jsonb) FROM unnest(%(ids)b::text[], %(bodies)b::text[]) AS t(i, b) "
    "ON CONFLICT (id) DO NOTHING"
)
_OLD_TAKE = "SELECT seq, body::text FROM inbox ORDER BY seq LIMIT %(limit)s"
_OLD_INBOX = Table(
    "inbox",
    MetaData(),
    Column("seq", BigInteger, primary_key=True),
    Column("id", String(200)),
    Column("body", JSONB),
)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_inbox_as_json_keeps_its_rows_and_the_previous_release_working(
    database_url: str,
) -> None:
    engine = connect(database_url)
    upgrade(engine, "0011")
    queued = {"id": "sig_before", "kind": "drift", "labels": {"z": "1", "a": "2"}}
    with engine.begin() as conn:
        conn.exec_driver_sql(
            _OLD_APPEND, {"ids": ["sig_before"], "bodies": [orjson.dumps(queued).decode()]}
        )
    upgrade(engine)
    with engine.begin() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() "
                "AND table_name = 'inbox' AND column_name = 'body'"
            ).scalar_one()
            == "json"
        )
        # An old API process queues; an old worker takes and reads; an old
        # `GET /v1/signals/{id}` reads a queued body through its column type.
        old = {"id": "sig_old", "kind": "drift", "value": 0.5}
        conn.exec_driver_sql(
            _OLD_APPEND, {"ids": ["sig_old", "sig_old"], "bodies": [orjson.dumps(old).decode()] * 2}
        )
        taken = [orjson.loads(body) for _, body in conn.exec_driver_sql(_OLD_TAKE, {"limit": 10})]
        assert taken == [queued, old]
        got = conn.execute(select(_OLD_INBOX.c.body).where(_OLD_INBOX.c.id == "sig_old"))
        assert got.scalar_one() == old
    # And this release reads what either wrote.
    with engine.begin() as conn:
        assert [body for _, body in inbox.take(conn, 10)] == [queued, old]
    engine.dispose()
