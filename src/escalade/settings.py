"""Configuration: environment variables, overridden by command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from escalade.domain.durations import Duration
from escalade.engine.tuning import Tuning
from escalade.storage.database import DEFAULT_URL

N = TypeVar("N", int, float)


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
    max_body_bytes: int = 5 * 1024 * 1024  # larger requests get 413
    rate_limit: float = 0.0  # requests per second per token (or address); 0 = no limit
    rate_burst: float = 0.0  # bucket size; 0 = twice the rate
    hsts_max_age: int = 31_536_000  # Strict-Transport-Security max-age; 0 = not sent
    secret_key: str | None = None  # signs acknowledge links and dashboard sessions
    public_url: str | None = None  # where people reach this server (links in messages)
    ack_link_ttl: timedelta = timedelta(hours=24)
    integration_rate_limit: int = 120  # events a minute per integration key (PagerDuty's)
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
            secret_key=env.get("ESCALADE_SECRET_KEY") or None,
            public_url=env.get("ESCALADE_PUBLIC_URL") or None,
            ack_link_ttl=_duration(
                "ESCALADE_ACK_LINK_TTL", env.get("ESCALADE_ACK_LINK_TTL", "24h")
            ),
            callback_urls=tuple(
                u.strip() for u in env.get("ESCALADE_CALLBACK_URLS", "").split(",") if u.strip()
            ),
            max_body_bytes=_number(env, "ESCALADE_MAX_BODY_BYTES", 5 * 1024 * 1024, int),
            rate_limit=_number(env, "ESCALADE_RATE_LIMIT", 0.0, float),
            rate_burst=_number(env, "ESCALADE_RATE_BURST", 0.0, float),
            hsts_max_age=_number(env, "ESCALADE_HSTS_MAX_AGE", 31_536_000, int),
            integration_rate_limit=int(env.get("ESCALADE_INTEGRATION_RATE_LIMIT", "120")),
            tuning=Tuning.from_env(env),
        )


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a {kind.__name__}, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name}: must not be negative, got {raw!r}")
    return value


def _duration(name: str, text: str) -> timedelta:
    try:
        value = Duration.parse(text).as_timedelta()
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    if value <= timedelta(0):
        raise ValueError(f"{name}: must be longer than 0s")
    return value
