"""PagerDuty forwarding: Events API v2 to a configured URL.

Every notification for an incident triggers (or adds to) the PagerDuty alert whose
dedup_key is the incident id; acknowledging or resolving the incident in Escalade
sends `acknowledge` / `resolve` with the same key (the worker enqueues those with
``data["pagerduty"]["event_action"]``).
"""

from __future__ import annotations

import re
from typing import Any

from escalade.channels.base import Message, Result
from escalade.channels.http import DEFAULT_TIMEOUT, JsonPoster

SUMMARY_LIMIT = 1024
_SEVERITY = {"1": "critical", "2": "error", "3": "warning"}


def severity(tier: str | None) -> str:
    """sev1/p1 -> critical, 2 -> error, 3 -> warning, anything else -> info."""
    found = re.search(r"(\d+)", tier or "")
    return _SEVERITY.get(found.group(1), "info") if found else "info"


def event(routing_key: str, message: Message) -> dict[str, Any]:
    action = message.data.get("pagerduty", {}).get("event_action", "trigger")
    if action != "trigger":
        return {
            "routing_key": routing_key,
            "event_action": action,
            "dedup_key": message.incident_id,
        }
    incident = message.data.get("incident", {})
    subject = incident.get("subject") or {}
    links = (
        [{"href": message.ack_url, "text": "Acknowledge in Escalade"}] if message.ack_url else []
    )
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": message.incident_id,
        "payload": {
            "summary": message.subject[:SUMMARY_LIMIT],
            "source": str(subject.get("model") or subject.get("system") or "escalade"),
            "severity": severity(incident.get("tier")),
            "class": incident.get("type"),
            "component": subject.get("model"),
            "custom_details": {
                "text": message.text,
                "incident_id": message.incident_id,
                "tier": incident.get("tier"),
                "status": incident.get("status"),
                "reason": message.data.get("reason"),
            },
        },
        "client": "Escalade",
        "links": links,
    }
    body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    return body


class PagerDutySender:
    def __init__(self, url: str, routing_key: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._url = url
        self._routing_key = routing_key
        self._http = JsonPoster(timeout)

    def send(self, message: Message) -> Result:
        return self._http.post(self._url, event(self._routing_key, message))

    def close(self) -> None:
        self._http.close()
