"""The webhook channel: a signed JSON POST per notification (docs/channels.md)."""

from __future__ import annotations

import time

import orjson

from escalade.channels.base import Message, Result
from escalade.channels.http import DEFAULT_TIMEOUT, JsonPoster
from escalade.channels.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


def signed_headers(secret: str | None, delivery_id: str, body: bytes) -> dict[str, str]:
    """Delivery id and timestamp headers, and the signature when there is a secret."""
    timestamp = int(time.time())
    headers = {DELIVERY_HEADER: delivery_id, TIMESTAMP_HEADER: str(timestamp)}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return headers


class WebhookSender:
    def __init__(self, url: str, secret: str | None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._url = url
        self._secret = secret
        self._http = JsonPoster(timeout)

    def body(self, message: Message) -> bytes:
        links = {"ack": message.ack_url} if message.ack_url else {}
        return orjson.dumps(
            {
                "type": "escalade.notification",
                "delivery_id": message.delivery_id,
                "attempt": message.attempt,
                "incident_id": message.incident_id,
                "recipient": {"person": message.person, "target": message.target},
                "subject": message.subject,
                "text": message.text,
                "links": links,
                **message.data,
            }
        )

    def send(self, message: Message) -> Result:
        body = self.body(message)
        headers = signed_headers(self._secret, message.delivery_id, body)
        return self._http.post(self._url, body, headers)

    def close(self) -> None:
        self._http.close()
