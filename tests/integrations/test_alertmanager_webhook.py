"""Alertmanager webhook v4 and Grafana's webhook to actions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from escalade.integrations import alertmanager
from escalade.integrations.events import InvalidEvent, Resolve, Trigger

GROUP = '{}/{team="ml"}:{alertname="FeatureDriftHigh", model="fraud-v3"}'
BODY: dict[str, Any] = {
    "version": "4",
    "groupKey": GROUP,
    "truncatedAlerts": 2,
    "status": "firing",
    "receiver": "escalade",
    "groupLabels": {"alertname": "FeatureDriftHigh", "model": "fraud-v3"},
    "commonLabels": {"alertname": "FeatureDriftHigh", "model": "fraud-v3"},
    "commonAnnotations": {"summary": "PSI > 0.25"},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "FeatureDriftHigh",
                "model": "fraud-v3",
                "feature": "txn_amount",
                "kind": "drift",
            },
            "annotations": {"summary": "PSI 0.31 on txn_amount"},
            "startsAt": "2026-09-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "3f1c2a9b7d0e4f11",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "FeatureDriftHigh", "model": "fraud-v3"},
            "annotations": {},
            "startsAt": "2026-09-01T09:00:00Z",
            "endsAt": "2026-09-01T09:30:00Z",
            "fingerprint": "aaaabbbbccccdddd",
        },
    ],
}


def test_firing_alerts_become_signals_of_the_group() -> None:
    actions = alertmanager.translate(BODY)
    assert len(actions) == 1 and isinstance(actions[0], Trigger)
    signal = actions[0].signal
    assert signal.dedup_key == GROUP
    assert signal.kind == "drift"  # a `kind` label wins over the alert name
    assert signal.subject == {"model": "fraud-v3"}
    assert signal.labels["feature"] == "txn_amount"
    assert signal.summary == "PSI 0.31 on txn_amount"
    assert signal.details["fingerprint"] == "3f1c2a9b7d0e4f11"
    assert signal.details["annotations"] == {"summary": "PSI 0.31 on txn_amount"}
    assert signal.details["truncated_alerts"] == 2
    assert signal.id is not None and "3f1c2a9b7d0e4f11" in signal.id
    assert signal.links[0].href == "http://prometheus:9090/graph"


def test_the_same_alert_repeated_has_the_same_signal_id() -> None:
    first = alertmanager.translate(BODY)[0]
    again = alertmanager.translate(copy.deepcopy(BODY))[0]
    assert isinstance(first, Trigger) and isinstance(again, Trigger)
    assert first.signal.id == again.signal.id


def test_a_resolved_group_resolves_its_key() -> None:
    body = copy.deepcopy(BODY)
    body["status"] = "resolved"
    for alert in body["alerts"]:
        alert["status"] = "resolved"
    assert alertmanager.translate(body) == [Resolve(GROUP)]


def test_alertname_is_the_kind_without_a_kind_label() -> None:
    body = copy.deepcopy(BODY)
    del body["alerts"][0]["labels"]["kind"]
    action = alertmanager.translate(body)[0]
    assert isinstance(action, Trigger) and action.signal.kind == "FeatureDriftHigh"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("version",), "3", "version"),
        (("groupKey",), "", "groupKey"),
        (("status",), "burning", "status"),
        (("alerts",), {}, "alerts"),
        (("truncatedAlerts",), "two", "truncatedAlerts"),
        (("alerts", 0, "fingerprint"), None, "alerts[0].fingerprint"),
        (("alerts", 0, "labels"), ["x"], "alerts[0].labels"),
        (("alerts", 0, "startsAt"), "soon", "alerts[0].startsAt"),
        (("alerts", 1, "status"), "maybe", "alerts[1].status"),
    ],
)
def test_bad_bodies_name_the_field(path: tuple[Any, ...], value: object, field: str) -> None:
    body = copy.deepcopy(BODY)
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(InvalidEvent) as caught:
        alertmanager.translate(body)
    assert caught.value.errors[0].field == field


def test_grafana_values_give_the_signal_value_and_links() -> None:
    body = copy.deepcopy(BODY)
    body["version"] = "1"
    body["alerts"][0].update(
        values={"B": 0.42, "C": 1},
        dashboardURL="http://grafana/d/abc",
        panelURL="http://grafana/d/abc?viewPanel=1",
    )
    action = alertmanager.translate(body, tool="grafana")[0]
    assert isinstance(action, Trigger)
    assert action.signal.value == 0.42
    assert action.signal.details["values"] == {"B": 0.42, "C": 1}
    assert [link.text for link in action.signal.links] == ["source", "dashboard", "panel"]
    body["alerts"][0]["values"] = [1]
    with pytest.raises(InvalidEvent) as caught:
        alertmanager.translate(body, tool="grafana")
    assert caught.value.errors[0].field == "alerts[0].values"
