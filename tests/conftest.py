"""Shared fixtures. Database-backed tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from escalade.storage.database import connect
from escalade.storage.migrate import upgrade
from support.databases import fresh_database
from support.engines import Harness
from support.sink import Sink, start_sink

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of the test's backend."""
    engine = connect(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = start_sink()
    yield s
    s.close()


class FakeClock:
    """Simulated time for engine tests; only the engine's clock is swapped."""

    def __init__(self, start: datetime | None = None) -> None:
        self.at = start or datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> datetime:
        self.at += timedelta(**kwargs)
        return self.at


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def harness(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    h = Harness(database_url, tmp_path, clock)
    yield h
    h.close()
