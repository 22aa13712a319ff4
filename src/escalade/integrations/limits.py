"""Per-integration rate limits over a trailing window (PagerDuty: 120 events a minute).

Pure bookkeeping: the caller passes the time (a monotonic clock in seconds), so
the limiter is tested with plain numbers.
"""

from __future__ import annotations

from collections import deque


class RateLimiter:
    """At most `limit` events per `window` seconds for each key; 0 disables."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float) -> float | None:
        """None and the event counted when it may go ahead; else seconds to wait."""
        if self.limit <= 0:
            return None
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return max(seen[0] + self.window - now, 0.001)
        seen.append(now)
        return None
