"""Generic webhook mappings in JMESPath and CEL."""

from __future__ import annotations

from typing import Any

import pytest

from escalade.integrations import webhook
from escalade.integrations.events import InvalidEvent, Resolve, Trigger

BODY: dict[str, Any] = {
    "alert": {"id": "A-17", "title": "Toxicity rate up", "state": "alerting"},
    "model": {"name": "chat-v2"},
    "metrics": {"toxicity": 0.08},
    "tags": {"env": "prod", "shard": 3},
}
JMES = {
    "language": "jmespath",
    "signal": {
        "kind": "'harm_report'",
        "summary": "alert.title",
        "value": "metrics.toxicity",
        "subject": "{model: model.name}",
        "labels": "tags",
        "dedup_key": "alert.id",
    },
    "resolve": "alert.state == 'ok'",
}
CEL = {
    "language": "cel",
    "signal": {
        "kind": "'harm_report'",
        "summary": "body.alert.title",
        "value": "body.metrics.toxicity",
        "subject": "{'model': body.model.name}",
        "dedup_key": "body.alert.id",
    },
    "resolve": "body.alert.state == 'ok'",
}


@pytest.mark.parametrize("spec", [JMES, CEL], ids=["jmespath", "cel"])
def test_a_mapping_makes_a_signal(spec: dict[str, Any]) -> None:
    (action,) = webhook.translate(BODY, webhook.compile_mapping(spec))
    assert isinstance(action, Trigger)
    signal = action.signal
    assert (signal.kind, signal.summary, signal.value) == ("harm_report", "Toxicity rate up", 0.08)
    assert signal.subject == {"model": "chat-v2"}
    assert signal.dedup_key == "A-17"


def test_labels_become_text() -> None:
    (action,) = webhook.translate(BODY, webhook.compile_mapping(JMES))
    assert isinstance(action, Trigger) and action.signal.labels == {"env": "prod", "shard": "3"}


@pytest.mark.parametrize("spec", [JMES, CEL], ids=["jmespath", "cel"])
def test_the_resolve_expression_resolves_the_key(spec: dict[str, Any]) -> None:
    body = {**BODY, "alert": {**BODY["alert"], "state": "ok"}}
    assert webhook.translate(body, webhook.compile_mapping(spec)) == [Resolve("A-17")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"signal": {"summary": "a"}}, "signal.kind"),
        ({"signal": {"kind": "'x'", "colour": "a"}}, "signal.colour"),
        ({"signal": {"kind": "'x'"}, "resolve": "a"}, "resolve"),
        ({"signal": {"kind": "[[["}}, "signal.kind"),
        ({"language": "cel", "signal": {"kind": "other.x"}}, "signal.kind"),
    ],
)
def test_bad_mappings_are_refused_naming_the_key(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        webhook.compile_mapping(spec)


def test_a_body_the_mapping_cannot_use_is_refused_naming_the_field() -> None:
    mapping = webhook.compile_mapping(JMES)
    (partial,) = webhook.translate({"alert": {"title": "t"}}, mapping)
    assert isinstance(partial, Trigger) and partial.signal.subject == {}  # missing: left out
    with pytest.raises(InvalidEvent) as caught:
        webhook.translate({**BODY, "metrics": {"toxicity": "high"}}, mapping)
    assert caught.value.errors[0].field == "signal.value"
    cel = webhook.compile_mapping(CEL)
    with pytest.raises(InvalidEvent) as caught:
        webhook.translate({"alert": {}}, cel)
    assert caught.value.errors[0].field.startswith("signal.")
