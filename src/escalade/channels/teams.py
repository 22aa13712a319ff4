"""The Microsoft Teams channel: a Workflows webhook carrying an Adaptive Card."""

from __future__ import annotations

from typing import Any

from escalade.channels.base import Message, Result
from escalade.channels.http import DEFAULT_TIMEOUT, JsonPoster

CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def card(message: Message) -> dict[str, Any]:
    """The request body: a `message` with one Adaptive Card (schema 1.4) attached."""
    actions = []
    if message.ack_url:
        actions.append({"type": "Action.OpenUrl", "title": "Acknowledge", "url": message.ack_url})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": message.subject,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": message.text, "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": "Incident", "value": message.incident_id}],
            },
        ],
    }
    if actions:
        content["actions"] = actions
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": content}],
    }


class TeamsSender:
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._url = url
        self._http = JsonPoster(timeout)

    def send(self, message: Message) -> Result:
        return self._http.post(self._url, card(message))

    def close(self) -> None:
        self._http.close()
