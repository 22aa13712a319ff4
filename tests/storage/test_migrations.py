import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

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
