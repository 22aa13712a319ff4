"""Token buckets per key (pure: the caller passes the time)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    """`rate` requests per second per key, bursts up to `burst`.

    `take(key, now)` answers None when the request may go ahead, else the
    seconds until it would (for Retry-After). Keys idle long enough to have
    refilled are forgotten when the table grows past `max_keys`.
    """

    rate: float
    burst: float
    max_keys: int = 100_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, now: float) -> float | None:
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._store(key, (tokens - 1.0, now), now)
            return None
        self._store(key, (tokens, now), now)
        return (1.0 - tokens) / self.rate

    def retry_after_header(self, wait: float) -> str:
        return str(max(1, math.ceil(wait)))

    def _store(self, key: str, value: tuple[float, float], now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            full = self.burst / self.rate
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()
        self._buckets[key] = value
