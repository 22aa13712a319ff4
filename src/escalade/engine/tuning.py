"""The worker's knobs, read from the environment (docs/configuration.md).

No imports beyond the standard library: `escalade --help` loads this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

# Queued signals wait at least this many times as long as the last routing pass
# took (so routing takes at most about a fifth of the time)...
ROUTE_SHARE = 4.0
# ...but never longer than this before they are routed.
LINGER_CAP = 0.25


class TuningError(ValueError):
    """An ESCALADE_* knob holds something that is not a positive number."""


@dataclass(frozen=True, slots=True)
class Tuning:
    poll: float = 1.0  # seconds between looks when nothing wakes the worker
    batch: int = 200  # timers or deliveries taken per pass
    lease: float = 60.0  # seconds a claimed delivery is held before others may take it
    heartbeat: float = 5.0  # seconds between heartbeats
    stale_after: float = 30.0  # a worker silent this long is dead: its leases go back
    audit_every: float = 30.0  # seconds between audit passes
    retry_base: float = 1.0  # first retry delay; doubles per attempt
    retry_cap: float = 300.0  # longest retry delay
    # How long queued signals (respond-async) may wait for more before a routing
    # pass takes fewer than `route_batch`: a pass costs about as much for 16 signals as
    # for 100, so under a stream of single signals lingering doubles the rate.
    # The least wait: see `linger_after`.
    route_linger: float = 0.02
    # Queued signals routed per pass. Larger than `batch`: signals joining one
    # incident in a pass cost one change and one timeline entry, so a pass of
    # 1,000 routes about twice as many a second as passes of 200 (bench/).
    route_batch: int = 1000

    @property
    def presumed_dead_after(self) -> timedelta:
        """How long a silent worker is alive still: `stale_after`, but never
        less than three missed beats."""
        return timedelta(seconds=max(self.stale_after, 3 * self.heartbeat))

    def linger_after(self, last_pass: float) -> float:
        """How long queued signals wait for more, given the seconds the last
        routing pass took: `route_linger`, or longer while passes are slow.

        A pass costs mostly per incident it touches: under a stream of single
        signals spread over 50 groups, a pass of 25 costs 13 ms and one of 200
        costs 21 ms (`bench/route.py`). Passes back to back at 20 ms would
        route a few signals each and take the CPU that accepting the stream
        needs (the API shares the process on SQLite, the cores on PostgreSQL);
        waiting four passes' time routes more at once, and the wait stays
        short when passes are quick.
        """
        return max(self.route_linger, min(LINGER_CAP, ROUTE_SHARE * last_pass))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tuning:
        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise TuningError(f"{name}: expected a number of seconds, got {raw!r}") from None
            if value <= 0:
                raise TuningError(f"{name}: must be greater than 0, got {raw!r}")
            return value

        d = cls()
        return cls(
            poll=number("ESCALADE_WORKER_POLL", d.poll),
            batch=int(number("ESCALADE_WORKER_BATCH", d.batch)),
            lease=number("ESCALADE_DELIVERY_LEASE", d.lease),
            heartbeat=number("ESCALADE_HEARTBEAT_INTERVAL", d.heartbeat),
            stale_after=number("ESCALADE_WORKER_STALE_AFTER", d.stale_after),
            audit_every=number("ESCALADE_AUDIT_INTERVAL", d.audit_every),
            retry_base=number("ESCALADE_RETRY_BASE", d.retry_base),
            retry_cap=number("ESCALADE_RETRY_CAP", d.retry_cap),
            route_linger=number("ESCALADE_ROUTE_LINGER", d.route_linger),
            route_batch=int(number("ESCALADE_ROUTE_BATCH", d.route_batch)),
        )
