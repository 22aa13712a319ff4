"""The Slack channel: an incoming webhook with a Block Kit message."""

from __future__ import annotations

from typing import Any

from escalade.channels.base import Message, Result
from escalade.channels.http import DEFAULT_TIMEOUT, JsonPoster

_HEADER_LIMIT = 150  # Slack's limit for a header block's text
_SECTION_LIMIT = 3000  # and for a section's


def blocks(message: Message) -> dict[str, Any]:
    """The request body: `text` is the notification fallback, `blocks` the message."""
    body: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject[:_HEADER_LIMIT]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": message.text[:_SECTION_LIMIT]}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"Incident `{message.incident_id}` · Escalade"},
            ],
        },
    ]
    buttons: list[dict[str, Any]] = []
    if message.ack_url:
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": message.ack_url,
                "style": "primary",
                "action_id": "escalade-ack",
            }
        )
    if buttons:
        body.append({"type": "actions", "elements": buttons})
    return {"text": message.subject, "blocks": body}


class SlackSender:
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._url = url
        self._http = JsonPoster(timeout)

    def send(self, message: Message) -> Result:
        return self._http.post(self._url, blocks(message))

    def close(self) -> None:
        self._http.close()
