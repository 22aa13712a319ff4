"""Shared learnings: an incident exported for publishing names nobody and leaks nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import FakeClock
from escalade.domain.learnings import FORMAT, ExportRefused, export
from escalade.domain.signals import SignalIn
from support.engines import Harness
from support.policies import BASE, policy

FULL_NAMES = BASE.replace("name: Alice,", "name: Alice Chen,").replace(
    "name: Bob,", "name: Bob Okafor,"
)
PLANTED = (
    "alice",
    "Chen",
    "alice@x.test",
    "Okafor",
    "bob@x.test",
    "carol",
    "jane.doe@example.com",
    "Jane Doe",
    "+49 170 1234567",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
)


def test_an_export_replaces_people_by_roles_and_redacts_every_planted_secret(
    harness: Harness, clock: FakeClock
) -> None:
    service = harness.service(text=FULL_NAMES)
    leak = SignalIn.model_validate(
        {
            "kind": "privacy_leak",
            "subject": {"system": "support-bot", "model": "chat-v2"},
            "summary": "chat-v2 answered with jane.doe@example.com, reported by Alice Chen",
            "labels": {
                "customer": "Jane Doe",
                # A protected-attribute label feeds CSETv1's harm distribution basis.
                "segment": "jane.doe@example.com key sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            },
        }
    )
    [accepted] = service.ingest(service.accept([leak])).accepted
    incident_id = accepted.incident_id
    assert incident_id is not None
    clock.advance(minutes=4)
    service.acknowledge(incident_id, "alice", "on it, call me on +49 170 1234567")
    service.record_fact(incident_id, "marked_names", "alice", ["Jane Doe"])
    clock.advance(minutes=10)
    service.log_decision(
        incident_id,
        "Roll chat-v2 back after Bob Okafor confirmed the leak",
        "the key sk_live_4eC39HqLyjWDarjtT1zdp7dc was in the prompt; carol agreed",
        "alice",
        role="incident_lead",
    )
    service.add_action_item(
        incident_id,
        "Rotate ghp_16C7e42F292c6912E7710c838347Ae178B4a and tell Jane Doe",
        "bob",
        clock.at + timedelta(days=2),
        "alice",
    )
    clock.advance(minutes=30)
    service.resolve(incident_id, "bob", "rolled back")
    service.edit_review(
        incident_id,
        "alice",
        {
            "summary": "A support answer carried a customer's e-mail address.",
            "root_causes": "Retrieval indexed tickets; Alice Chen wrote to bob@x.test about it.",
            "went_well": "Detected by the output filter within a minute.",
        },
    )

    shared = service.learning_export(incident_id)
    assert shared is not None
    text = json.dumps(shared).lower()
    for planted in PLANTED:
        assert planted.lower() not in text, planted

    assert shared["format"] == FORMAT
    assert shared["incident"]["type"] == "privacy" and shared["incident"]["model"] == "chat-v2"
    holders = {"incident_lead", "legal_liaison"} | {f"responder {n}" for n in (1, 2, 3)}
    assert shared["response"]["acknowledged_by"] in holders
    assert shared["response"]["acknowledged_after_s"] == 240
    assert shared["response"]["resolved_after_s"] == 44 * 60
    [logged] = shared["decision_log"]
    assert logged["after_s"] == 14 * 60 and logged["role"] == "incident_lead"
    assert "[secret removed]" in logged["why"] and "[name removed]" in logged["what"]
    assert shared["lessons"]["went_well"] == "Detected by the output filter within a minute."
    assert "[name removed]" in shared["lessons"]["root_causes"]
    [item] = shared["action_items"]
    assert item["owner"] in holders and item["state"] == "open"
    kinds = [e["kind"] for e in shared["timeline"]]
    assert "incident.acknowledged" in kinds or "acknowledged" in " ".join(kinds)
    assert all(
        e["actor"] is None or e["actor"] in holders | {"escalade"} for e in shared["timeline"]
    )
    assert shared["csetv1"]["Harm Domain"] == "yes"
    assert shared["csetv1"]["Special Interest Intangible Harm"] == "Intangible harm: privacy"
    assert shared["csetv1"]["Harm Distribution Basis"] == ["[email removed] key [secret removed]"]
    assert shared["aiid"]["date"] == "2026-11-23"
    assert shared["anonymisation"]["removed"]["secrets"] >= 3


def test_an_export_that_would_still_name_someone_is_refused() -> None:
    incident = {
        "id": "inc_1",
        "type": "other",
        "tier": "sev4",
        "title": "x",
        "opened_at": "2026-11-23T10:00:00+00:00",
        "subject": {"system": "alice"},  # a structural field no redaction touches
    }
    with pytest.raises(ExportRefused):
        export(incident, policy())
