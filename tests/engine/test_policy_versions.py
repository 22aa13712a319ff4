"""Policy history: what went live, who loaded it, what changed, what it resolved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import FakeClock
from escalade.domain.command import CommandRefused
from escalade.domain.policy_loader import PolicyError
from escalade.domain.signals import SignalIn
from support.engines import Harness
from support.policies import BASE

DAY = timedelta(days=1)


def open_leak(service) -> str:  # type: ignore[no-untyped-def]
    signal = SignalIn.model_validate({"kind": "privacy_leak", "summary": "leak"})
    [accepted] = service.ingest(service.accept([signal])).accepted
    return str(accepted.incident_id)


def test_versions_diffs_and_the_incident_that_led_to_a_change(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service()
    first = service.record_policy("startup")
    assert first is not None and first["version"] == 1 and first["previous"] is None
    assert service.record_policy("startup") is None  # the same policy again: no new version

    incident_id = open_leak(service)
    incident = service.incident(incident_id)
    assert incident is not None and incident["policy_version"] == first["digest"]
    service.add_action_item(
        incident_id, "Shorten the sev1 window", "alice", clock.at + timedelta(days=7), "bob"
    )
    service.resolve(incident_id, "bob")

    clock.advance(hours=2)
    path = harness.tmp_path / "policy.yaml"
    path.write_text(BASE.replace("ack_within: 5m", "ack_within: 3m"))
    service.policies.reload()
    second = service.record_policy("carol")
    assert second is not None and second["version"] == 2 and second["author"] == "carol"
    assert second["previous"] == first["digest"]
    assert "-  sev1: {name: Critical, ack_within: 5m" in second["diff"]
    assert "+  sev1: {name: Critical, ack_within: 3m" in second["diff"]

    path.write_text("version: 1\nrules: [")  # broken: the old policy stays, nothing recorded
    with pytest.raises(PolicyError):
        service.policies.reload()
    assert service.record_policy("carol") is None
    assert [v["version"] for v in service.policy_history()] == [2, 1]
    assert service.policy_version(second["digest"][:10]) == second
    assert service.policy_version("1") == first

    item = service.incident(incident_id)["action_items"][0]  # type: ignore[index]
    with pytest.raises(CommandRefused) as refused:
        service.close_action_item(incident_id, item["id"], "done", "bob", policy_version="ffff")
    assert refused.value.reason == "no_such_policy_version"
    service.close_action_item(incident_id, item["id"], "done", "bob", policy_version="2")
    closed = service.incident(incident_id)["action_items"][0]  # type: ignore[index]
    assert closed["policy_version"] == second["digest"]

    open_leak(service)  # a second incident, resolved without a policy change
    later = service.list_incidents()[0]
    service.resolve(later["id"], "bob")
    # A live drill whose action item names the same change is no incident here.
    drill = service.start_exercise(
        SignalIn.model_validate({"kind": "privacy_leak", "summary": "drill"}), "drill", "bob"
    )
    service.add_action_item(drill, "Practise the rollback", "alice", clock.at + DAY, "bob")
    [drill_item] = service.incident(drill)["action_items"]  # type: ignore[index]
    service.close_action_item(drill, drill_item["id"], "done", "bob", policy_version="2")
    service.resolve(drill, "bob")
    learning = service.learning_metrics(since=clock.at - timedelta(days=1))
    assert learning == {
        "policy_versions": 2,
        "policy_updates_following_incidents": 1,
        "resolved_incidents": 2,
        "incidents_followed_by_policy_update": 1,
        "rate": 0.5,
    }

    # Since a day later: no version went live, so none can have followed an incident,
    # even one resolved in the window whose item names version 2.
    clock.advance(days=1)
    since = clock.at
    third = open_leak(service)
    service.add_action_item(third, "Check the window", "alice", clock.at + DAY, "bob")
    [third_item] = service.incident(third)["action_items"]  # type: ignore[index]
    service.close_action_item(third, third_item["id"], "done", "bob", policy_version="2")
    service.resolve(third, "bob")
    assert service.learning_metrics(since=since) == {
        "policy_versions": 0,
        "policy_updates_following_incidents": 0,
        "resolved_incidents": 1,
        "incidents_followed_by_policy_update": 0,
        "rate": 0.0,
    }
    assert service.learning_metrics()["policy_updates_following_incidents"] == 1
    assert service.learning_metrics()["incidents_followed_by_policy_update"] == 2
