"""Decision callbacks: the review record POSTed, signed, to the asking system.

The body is the message's data (``{"type": "escalade.review.decided", "review":
{...}}``); headers and signature are those of the webhook channel
(docs/webhooks.md), so `escalade.sdk.verify_signature` checks both.
"""

from __future__ import annotations

import orjson

from escalade.channels.base import Message, Result
from escalade.channels.http import JsonPoster
from escalade.channels.webhook import signed_headers


class CallbackSender:
    def __init__(self, secret: str, timeout: float = 5.0) -> None:
        self._secret = secret
        self._http = JsonPoster(timeout)

    def send(self, message: Message) -> Result:
        body = orjson.dumps(message.data)
        headers = signed_headers(self._secret, message.delivery_id, body)
        return self._http.post(message.target, body, headers)

    def close(self) -> None:
        self._http.close()
