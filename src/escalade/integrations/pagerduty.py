"""PagerDuty Events API v2 (`POST /v2/enqueue`), and the v1 `service_key` shape.

The v1 shape is what Alertmanager's `pagerduty_configs` sends when configured
with `service_key` instead of `routing_key`. Limits and error texts follow
PagerDuty's: summary 1,024 characters, dedup_key 255, 512 KB per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from escalade.integrations.events import (
    Acknowledge,
    Action,
    FieldError,
    InvalidEvent,
    Resolve,
    Trigger,
    build_signal,
    fail,
    optional_str,
    parse_time,
    slug,
)

MAX_EVENT_BYTES = 512 * 1024
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Event:
    """One parsed event: whose key it carries, what it asks, and its dedup key."""

    key: str
    action: Action
    dedup_key: str
    v1: bool


def routing_key(data: object) -> str | None:
    """The integration key of a parsed body, v2 or v1, if it has one."""
    if not isinstance(data, Mapping):
        return None
    key = data.get("routing_key", data.get("service_key"))
    return key if isinstance(key, str) and key else None


def parse(data: object, generated_key: str) -> Event:
    """One event from a decoded JSON body; `generated_key` is used when a trigger has none."""
    if not isinstance(data, Mapping):
        raise fail("(body)", "Event object is invalid: expected a JSON object")
    if data.get("service_key") and not data.get("routing_key"):
        return _parse_v1(data, generated_key)
    return _parse_v2(data, generated_key)


def _dedup(data: Mapping[str, Any], key: str, action: str, generated: str) -> str:
    value = data.get(key)
    if value is None or value == "":
        if action != "trigger":
            raise fail(key, f"'{key}' is required for {action} events")
        return generated
    if not isinstance(value, str):
        raise fail(key, f"'{key}' must be a string")
    if len(value) > MAX_DEDUP_KEY:
        raise fail(key, f"Length of '{key}' is greater than {MAX_DEDUP_KEY}")
    return value


def _action(data: Mapping[str, Any], field: str) -> str:
    action = data.get(field)
    if action not in ACTIONS:
        raise fail(field, f"'{field}' must be one of {', '.join(ACTIONS)}")
    return str(action)


def _head(
    data: Mapping[str, Any], names: tuple[str, str, str], generated: str, *, v1: bool
) -> tuple[str, str, Event | None]:
    """The key and dedup key of an event, and the whole event when it acks or resolves.

    `names` are the key, action and dedup fields of the shape (v2 or v1).
    """
    key_field, action_field, dedup_field = names
    key = data.get(key_field)
    if not isinstance(key, str) or not key:
        raise fail(key_field, f"'{key_field}' is missing or blank")
    action = _action(data, action_field)
    dedup = _dedup(data, dedup_field, action, generated)
    if action == "acknowledge":
        return key, dedup, Event(key, Acknowledge(dedup), dedup, v1=v1)
    if action == "resolve":
        return key, dedup, Event(key, Resolve(dedup), dedup, v1=v1)
    return key, dedup, None


def _parse_v2(data: Mapping[str, Any], generated: str) -> Event:
    key, dedup, closing = _head(
        data, ("routing_key", "event_action", "dedup_key"), generated, v1=False
    )
    if closing is not None:
        return closing
    payload = data.get("payload")
    if not isinstance(payload, Mapping):
        raise fail("payload", "'payload' is missing or not an object")
    errors = [
        FieldError(f"payload.{name}", f"'payload.{name}' is missing or blank")
        for name in ("summary", "source", "severity")
        if not isinstance(payload.get(name), str) or not payload.get(name)
    ]
    if errors:
        raise InvalidEvent(errors)
    summary, source, severity = payload["summary"], payload["source"], payload["severity"]
    if len(summary) > MAX_SUMMARY:
        raise fail("payload.summary", f"Summary is too long (maximum is {MAX_SUMMARY} characters)")
    if severity not in SEVERITIES:
        raise fail("payload.severity", f"'payload.severity' must be one of {', '.join(SEVERITIES)}")
    custom = payload.get("custom_details")
    if custom is not None and not isinstance(custom, Mapping):
        custom = {"details": custom}  # PagerDuty keeps a non-object as text
    labels = {"severity": severity}
    for name in ("group", "class", "component"):
        value = optional_str(payload, name, f"payload.{name}")
        if value:
            labels[name] = value
    subject = {"component": labels["component"]} if "component" in labels else {}
    client = optional_str(data, "client", "client")
    client_url = optional_str(data, "client_url", "client_url")
    details: dict[str, Any] = {"custom_details": dict(custom or {})}
    if client:
        details["client"] = client
    images = _images(data.get("images"))
    if images:
        details["images"] = images
    links = _links(data.get("links"))
    if client_url:
        links.append({"href": client_url, "text": client or "client"})
    value = (custom or {}).get("value")
    signal = build_signal(
        {
            "kind": slug(labels.get("class", ""), "alert"),
            "source": source[:500],
            "subject": subject,
            "summary": summary,
            "value": value
            if isinstance(value, int | float) and not isinstance(value, bool)
            else None,
            "labels": labels,
            "occurred_at": parse_time(payload.get("timestamp"), "payload.timestamp"),
            "dedup_key": dedup,
            "details": details,
            "links": links[:20],
        }
    )
    return Event(key, Trigger(signal), dedup, v1=False)


def _images(value: object) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail("images", "'images' must be a list")
    out = []
    for i, image in enumerate(value):
        if not isinstance(image, Mapping) or not isinstance(image.get("src"), str):
            raise fail(f"images[{i}].src", "each image needs a 'src'")
        out.append({k: str(v) for k, v in image.items() if k in ("src", "href", "alt")})
    return out


def _links(value: object) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail("links", "'links' must be a list")
    out = []
    for i, link in enumerate(value):
        if not isinstance(link, Mapping) or not isinstance(link.get("href"), str):
            raise fail(f"links[{i}].href", "each link needs an 'href'")
        text = link.get("text")
        out.append({"href": link["href"], **({"text": str(text)} if text else {})})
    return out


def _parse_v1(data: Mapping[str, Any], generated: str) -> Event:
    key, dedup, closing = _head(
        data, ("service_key", "event_type", "incident_key"), generated, v1=True
    )
    if closing is not None:
        return closing
    description = data.get("description")
    if not isinstance(description, str) or not description:
        raise fail("description", "'description' is missing or blank")
    if len(description) > MAX_SUMMARY:
        raise fail("description", f"Description is too long (maximum is {MAX_SUMMARY} characters)")
    raw = data.get("details")
    details: dict[str, Any] = {
        "custom_details": raw if isinstance(raw, Mapping) else {"details": raw}
    }
    client = optional_str(data, "client", "client")
    client_url = optional_str(data, "client_url", "client_url")
    if client:
        details["client"] = client
    links = [{"href": client_url, "text": client or "client"}] if client_url else []
    signal = build_signal(
        {
            "kind": "alert",
            "source": client,
            "summary": description,
            "dedup_key": dedup,
            "details": details,
            "links": links,
        }
    )
    return Event(key, Trigger(signal), dedup, v1=True)
