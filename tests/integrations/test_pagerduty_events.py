"""PagerDuty Events v2 (and v1) bodies to actions, and the errors PagerDuty gives."""

from __future__ import annotations

from typing import Any

import pytest

from escalade.integrations import pagerduty
from escalade.integrations.events import Acknowledge, InvalidEvent, Resolve, Trigger

KEY = "0123456789abcdef0123456789abcdef"
TRIGGER: dict[str, Any] = {
    "routing_key": KEY,
    "event_action": "trigger",
    "dedup_key": "model:credit-v7/fairness",
    "payload": {
        "summary": "Fairness breach on credit-v7",
        "source": "ml-monitor.prod.example.com",
        "severity": "critical",
        "timestamp": "2026-09-01T10:15:00Z",
        "component": "credit-v7",
        "group": "lending-models",
        "class": "fairness drift",
        "custom_details": {"metric": "demographic_parity_diff", "value": 0.14},
    },
    "links": [{"href": "https://dash.example.com/f", "text": "Fairness dashboard"}],
    "images": [{"src": "https://dash.example.com/f.png", "alt": "parity"}],
    "client": "ml-monitor",
    "client_url": "https://ml-monitor.example.com",
}


def errors_of(body: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidEvent) as caught:
        pagerduty.parse(body, "generated")
    return [(e.field, e.message) for e in caught.value.errors]


def test_a_trigger_maps_every_payload_field() -> None:
    event = pagerduty.parse(TRIGGER, "generated")
    assert event.key == KEY and event.dedup_key == "model:credit-v7/fairness" and not event.v1
    assert isinstance(event.action, Trigger)
    signal = event.action.signal
    assert signal.kind == "fairness_drift"
    assert signal.summary == "Fairness breach on credit-v7"
    assert signal.source == "ml-monitor.prod.example.com"
    assert signal.subject == {"component": "credit-v7"}
    assert signal.labels == {
        "severity": "critical",
        "group": "lending-models",
        "class": "fairness drift",
        "component": "credit-v7",
    }
    assert signal.value == 0.14
    assert signal.occurred_at is not None and signal.occurred_at.isoformat().startswith(
        "2026-09-01"
    )
    assert signal.details["custom_details"]["metric"] == "demographic_parity_diff"
    assert signal.details["client"] == "ml-monitor"
    assert signal.details["images"] == [{"src": "https://dash.example.com/f.png", "alt": "parity"}]
    assert [link.href for link in signal.links] == [
        "https://dash.example.com/f",
        "https://ml-monitor.example.com",
    ]


def test_a_trigger_without_dedup_key_gets_the_generated_one() -> None:
    body = {k: v for k, v in TRIGGER.items() if k != "dedup_key"}
    event = pagerduty.parse(body, "abc123")
    assert event.dedup_key == "abc123"
    assert isinstance(event.action, Trigger) and event.action.signal.dedup_key == "abc123"


def test_acknowledge_and_resolve_need_only_the_dedup_key() -> None:
    ack = pagerduty.parse(
        {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "k"}, "g"
    )
    assert ack.action == Acknowledge("k")
    done = pagerduty.parse({"routing_key": KEY, "event_action": "resolve", "dedup_key": "k"}, "g")
    assert done.action == Resolve("k")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_action": "explode"}, "event_action"),
        ({"event_action": "resolve", "dedup_key": None}, "dedup_key"),
        ({"dedup_key": "x" * 256}, "dedup_key"),
        ({"dedup_key": 12}, "dedup_key"),
        ({"payload": None}, "payload"),
        ({"payload": {**TRIGGER["payload"], "summary": "x" * 1025}}, "payload.summary"),
        ({"payload": {**TRIGGER["payload"], "severity": "fatal"}}, "payload.severity"),
        ({"payload": {**TRIGGER["payload"], "source": ""}}, "payload.source"),
        ({"payload": {**TRIGGER["payload"], "timestamp": "yesterday"}}, "payload.timestamp"),
        ({"links": [{"text": "no href"}]}, "links[0].href"),
        ({"images": "nope"}, "images"),
        ({"routing_key": ""}, "routing_key"),
    ],
)
def test_bad_events_name_the_field(change: dict[str, Any], field: str) -> None:
    assert errors_of({**TRIGGER, **change})[0][0] == field


def test_every_missing_required_payload_field_is_reported() -> None:
    fields = [f for f, _ in errors_of({**TRIGGER, "payload": {}})]
    assert fields == ["payload.summary", "payload.source", "payload.severity"]


def test_summary_limit_is_pagerdutys_1024() -> None:
    ok = {**TRIGGER, "payload": {**TRIGGER["payload"], "summary": "x" * 1024}}
    assert isinstance(pagerduty.parse(ok, "g").action, Trigger)
    assert (
        "maximum is 1024"
        in errors_of({**ok, "payload": {**ok["payload"], "summary": "x" * 1025}})[0][1]
    )


def test_the_v1_shape_alertmanager_sends_with_service_key() -> None:
    body = {
        "service_key": KEY,
        "event_type": "trigger",
        "incident_key": "f00d",
        "description": "[FIRING:1] DriftHigh fraud-v3",
        "details": {"firing": "...", "num_firing": "1"},
        "client": "Alertmanager",
        "client_url": "http://am:9093/#/alerts?receiver=pd",
    }
    event = pagerduty.parse(body, "g")
    assert event.v1 and event.key == KEY and event.dedup_key == "f00d"
    assert isinstance(event.action, Trigger)
    assert event.action.signal.summary == "[FIRING:1] DriftHigh fraud-v3"
    assert event.action.signal.details["custom_details"]["num_firing"] == "1"
    resolve = pagerduty.parse(
        {"service_key": KEY, "event_type": "resolve", "incident_key": "f00d"}, "g"
    )
    assert resolve.action == Resolve("f00d")
    assert errors_of({**body, "description": ""})[0][0] == "description"


def test_routing_key_of_either_shape() -> None:
    assert pagerduty.routing_key({"routing_key": "a"}) == "a"
    assert pagerduty.routing_key({"service_key": "b"}) == "b"
    assert pagerduty.routing_key([]) is None
    assert pagerduty.routing_key({"routing_key": 5}) is None
