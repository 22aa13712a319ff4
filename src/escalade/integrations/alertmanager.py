"""Alertmanager webhook v4, and Grafana alerting's webhook (the same shape, plus values).

One body is one aggregation group. Its `groupKey` is the incident's dedup key:
each firing alert becomes a signal of that group (its fingerprint and start time
make it idempotent, so Alertmanager's repeats are recorded once), and a body
whose status is `resolved` (every alert resolved) resolves the incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from escalade.integrations.events import (
    Action,
    Resolve,
    Trigger,
    build_signal,
    fail,
    parse_time,
    slug,
    subject_from,
    text_map,
)

STATUSES = ("firing", "resolved")


def translate(data: object, *, tool: str = "alertmanager") -> list[Action]:
    """The actions of one webhook body; `tool` is `alertmanager` or `grafana`."""
    if not isinstance(data, Mapping):
        raise fail("(body)", "expected a JSON object")
    if tool == "alertmanager" and data.get("version") != "4":
        raise fail("version", f'expected webhook version "4", found {data.get("version")!r}')
    group_key = data.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        raise fail("groupKey", "required: a non-empty string")
    status = data.get("status")
    if status not in STATUSES:
        raise fail("status", "expected 'firing' or 'resolved'")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise fail("alerts", "required: a list")
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int):
        raise fail("truncatedAlerts", "expected an integer")
    common = {
        "group_key": group_key,
        "receiver": data.get("receiver"),
        "common_annotations": text_map(data.get("commonAnnotations"), "commonAnnotations"),
        "truncated_alerts": truncated,
        "external_url": data.get("externalURL"),
    }
    actions: list[Action] = []
    for index, alert in enumerate(alerts):
        signal = _alert(alert, f"alerts[{index}].", group_key, common, tool)
        if signal is not None:
            actions.append(signal)
    if status == "resolved":
        actions.append(Resolve(group_key))
    return actions


def _alert(
    alert: object, at: str, group_key: str, common: dict[str, Any], tool: str
) -> Trigger | None:
    if not isinstance(alert, Mapping):
        raise fail(at.rstrip("."), "expected an object")
    status = alert.get("status")
    if status not in STATUSES:
        raise fail(f"{at}status", "expected 'firing' or 'resolved'")
    labels = text_map(alert.get("labels"), f"{at}labels")
    annotations = text_map(alert.get("annotations"), f"{at}annotations")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise fail(f"{at}fingerprint", "required: a non-empty string")
    starts = parse_time(alert.get("startsAt"), f"{at}startsAt")
    if status == "resolved":
        return None  # the group's resolve (all alerts resolved) closes the incident
    name = labels.get("alertname", "")
    summary = annotations.get("summary") or annotations.get("description") or name or None
    details: dict[str, Any] = {
        **common,
        "fingerprint": fingerprint,
        "annotations": annotations,
        "tool": tool,
    }
    links = []
    generator = alert.get("generatorURL")
    if isinstance(generator, str) and generator:
        links.append({"href": generator, "text": "source"})
    value = None
    if tool == "grafana":
        value = _grafana_value(alert.get("values"), f"{at}values")
        details["values"] = alert.get("values")
        for key in ("dashboardURL", "panelURL", "silenceURL"):
            url = alert.get(key)
            if isinstance(url, str) and url:
                links.append({"href": url, "text": key.removesuffix("URL")})
    started = starts.isoformat() if starts else "none"
    signal = build_signal(
        {
            "id": slug(f"{tool}:{fingerprint}:{started}", fingerprint)[:200],
            "kind": slug(labels.get("kind") or name, "alert"),
            "source": f"{tool}/{common['receiver'] or 'receiver'}"[:500],
            "subject": subject_from(labels),
            "summary": summary[:1024] if summary else None,
            "value": value,
            "labels": dict(list(labels.items())[:64]),
            "occurred_at": starts,
            "details": details,
            "links": links,
        },
        at,
    )
    # Set after validation: the engine namespaces the key and hashes long ones.
    return Trigger(signal.model_copy(update={"dedup_key": group_key}))


def _grafana_value(values: object, field: str) -> float | None:
    """The first number of Grafana's `values` (the queries' results), if any."""
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise fail(field, "expected an object of query results")
    for value in values.values():
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None
