from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

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
