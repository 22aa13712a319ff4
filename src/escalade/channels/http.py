"""What the HTTP channels share: one POST, and how its outcome maps to a Result.

2xx is sent; 408, 425, 429 and 5xx, timeouts and connection errors are worth
trying again (a receiver's Retry-After, in seconds or as an HTTP date, is kept);
any other status is a permanent failure.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from escalade.channels.base import Failed, Result, Retry, Sent

_RETRYABLE = {408, 425, 429}
DEFAULT_TIMEOUT = 5.0


class JsonPoster:
    """A pooled HTTP client that POSTs JSON and reports a channel Result."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> Result:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        sent_headers = {"Content-Type": "application/json", "User-Agent": "Escalade"}
        sent_headers.update(headers or {})
        try:
            response = self._client.post(url, content=raw, headers=sent_headers)
        except httpx.TimeoutException:
            return Retry("timed out")
        except httpx.HTTPError as exc:
            return Retry(f"{type(exc).__name__}: {exc}")
        return outcome(response)

    def close(self) -> None:
        self._client.close()


def outcome(response: httpx.Response) -> Result:
    code = response.status_code
    if 200 <= code < 300:
        return Sent(f"HTTP {code}")
    if code >= 500 or code in _RETRYABLE:
        return Retry(f"HTTP {code}", retry_after(response.headers.get("Retry-After")))
    return Failed(f"HTTP {code}")


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
