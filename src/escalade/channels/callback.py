"""Decision callbacks: the review record POSTed, signed, to the asking system.

The body is the message's data (``{"type": "escalade.review.decided", "review":
{...}}``); headers and signature are those of the webhook channel
(docs/webhooks.md), so `escalade.sdk.verify_signature` checks both.
"""

from __future__ import annotations

import time

import httpx
import orjson

from escalade.channels.base import Failed, Message, Result, Retry, Sent
from escalade.channels.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

_RETRYABLE = {408, 425, 429}


class CallbackSender:
    def __init__(self, secret: str, timeout: float = 5.0) -> None:
        self._secret = secret
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, message: Message) -> Result:
        body = orjson.dumps(message.data)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Escalade",
            DELIVERY_HEADER: message.delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            response = self._client.post(message.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Retry(f"{type(exc).__name__}: {exc}")
        code = response.status_code
        if 200 <= code < 300:
            return Sent(f"HTTP {code}")
        if code >= 500 or code in _RETRYABLE:
            after = response.headers.get("Retry-After", "")
            return Retry(f"HTTP {code}", float(after) if after.isdigit() else None)
        return Failed(f"HTTP {code}")

    def close(self) -> None:
        self._client.close()
