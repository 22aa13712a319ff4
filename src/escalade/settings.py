"""Configuration: environment variables, overridden by command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from escalade.engine.tuning import Tuning
from escalade.storage.database import DEFAULT_URL


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_URL
    policy: Path = Path("./policy.yaml")
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    run_engine: bool = True
    callback_secret: str | None = None  # signs review decision callbacks
    callback_urls: tuple[str, ...] = ()  # URL prefixes callbacks may go to
    tuning: Tuning = field(default_factory=Tuning)  # the worker's knobs (engine/tuning.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("ESCALADE_DATABASE_URL", DEFAULT_URL),
            policy=Path(env.get("ESCALADE_POLICY", "./policy.yaml")),
            host=env.get("ESCALADE_HOST", "127.0.0.1"),
            port=int(env.get("ESCALADE_PORT", "8080")),
            admin_token=env.get("ESCALADE_ADMIN_TOKEN") or None,
            callback_secret=env.get("ESCALADE_CALLBACK_SECRET") or None,
            callback_urls=tuple(
                u.strip() for u in env.get("ESCALADE_CALLBACK_URLS", "").split(",") if u.strip()
            ),
            tuning=Tuning.from_env(env),
        )
