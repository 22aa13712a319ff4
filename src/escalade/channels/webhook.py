"""The webhook channel: a signed JSON POST per notification."""

from __future__ import annotations

import time

import httpx
import orjson

from escalade.channels.base import Failed, Message, Result, Retry, Sent
from escalade.channels.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

_RETRYABLE = {408, 425, 429}


class WebhookSender:
    def __init__(self, url: str, secret: str | None, timeout: float = 5.0) -> None:
        self._url = url
        self._secret = secret
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def body(self, message: Message) -> bytes:
        return orjson.dumps(
            {
                "type": "escalade.notification",
                "delivery_id": message.delivery_id,
                "attempt": message.attempt,
                "incident_id": message.incident_id,
                "recipient": {"person": message.person, "target": message.target},
                "subject": message.subject,
                "text": message.text,
                **message.data,
            }
        )

    def send(self, message: Message) -> Result:
        body = self.body(message)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Escalade",
            DELIVERY_HEADER: message.delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Retry("timed out")
        except httpx.HTTPError as exc:
            return Retry(f"{type(exc).__name__}: {exc}")
        code = response.status_code
        if 200 <= code < 300:
            return Sent(f"HTTP {code}")
        if code >= 500 or code in _RETRYABLE:
            return Retry(f"HTTP {code}", _retry_after(response))
        return Failed(f"HTTP {code}")

    def close(self) -> None:
        self._client.close()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
