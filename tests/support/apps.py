"""A whole app on its own SQLite file, for module-scoped fixtures (fuzzers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI

from escalade.app import create_app
from escalade.engine.service import Escalade
from escalade.settings import Settings
from escalade.storage.migrate import upgrade
from support.policies import BASE, ENV


@contextmanager
def standalone_app(tmp: Path, tokens: dict[str, str]) -> Iterator[FastAPI]:
    """The app on a fresh database with the base policy; `tokens` maps token -> scope."""
    policy = tmp / "policy.yaml"
    policy.write_text(BASE)
    url = f"sqlite:///{tmp / 'escalade.db'}"
    service = Escalade(url, policy, env=ENV)
    upgrade(service.db)
    for token, scope in tokens.items():
        service.create_token(f"{scope}-{len(token)}", scope, token)
    try:
        yield create_app(Settings(database_url=url, policy=policy, run_engine=False), service)
    finally:
        service.close()
