"""Live drills: what an exercise incident showed about the people and the channels.

Part of the pure core. A live drill runs a clearly marked exercise incident through
the real channels and the real on-call people (see docs/drills.md); its report is
read from the incident and its timeline: who was reached on which channel, who
answered and how fast against the tier's window, which rungs fired, which
deliveries failed, which decisions stalled, and what was held back because it was
an exercise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from escalade.domain.policy import Policy

_ANSWERS = (
    "incident.acknowledged",
    "incident.resolved",
    "incident.escalated",
    "decision.voted",
    "decision.requested",
    "decision.logged",
)


def report(policy: Policy, incident: Mapping[str, Any]) -> dict[str, Any]:
    """The exercise report of an incident as the API shows it (with its timeline)."""
    opened = _time(incident["opened_at"])
    timeline: Sequence[Mapping[str, Any]] = incident.get("timeline") or []

    def after(value: Any) -> float | None:
        return None if value is None else round((_time(value) - opened).total_seconds(), 3)

    people: dict[str, dict[str, Any]] = {}

    def person(name: str) -> dict[str, Any]:
        return people.setdefault(
            name,
            {"reached_on": [], "failed_on": [], "first_reached_after_s": None, "answered": []},
        )

    failed: list[dict[str, Any]] = []
    for entry in timeline:
        kind, data = entry["kind"], entry.get("data") or {}
        who = data.get("person")
        if kind == "delivery.sent" and who:
            seen = person(who)
            if data.get("channel") not in seen["reached_on"]:
                seen["reached_on"].append(data.get("channel"))
            if seen["first_reached_after_s"] is None:
                seen["first_reached_after_s"] = after(entry["at"])
        elif kind in ("delivery.failed", "contact.unreachable"):
            failed.append(
                {
                    "after_s": after(entry["at"]),
                    "person": who,
                    "channel": data.get("channel"),
                    "error": data.get("error") or kind,
                }
            )
            if who and data.get("channel") and data["channel"] not in person(who)["failed_on"]:
                person(who)["failed_on"].append(data["channel"])
        elif kind in _ANSWERS and entry.get("actor") in policy.people:
            answered = person(str(entry["actor"]))["answered"]
            if kind not in answered:
                answered.append(kind)

    tier = policy.tiers.get(str(incident.get("tier")))
    window = tier.ack_within.seconds if tier is not None else None
    ack_after = after(incident.get("acknowledged_at"))
    decisions = incident.get("decisions") or []
    stalled = {
        str((e.get("data") or {}).get("decision_id") or (e.get("data") or {}).get("action"))
        for e in timeline
        if e["kind"] == "decision.stalled"
    }
    return {
        "incident_id": incident["id"],
        "exercise": incident.get("exercise"),
        "tier": incident.get("tier"),
        "status": incident.get("status"),
        "opened_at": incident["opened_at"],
        "acknowledged_by": incident.get("acknowledged_by"),
        "acknowledged_after_s": ack_after,
        "ack_window_s": window,
        "acknowledged_in_window": (
            ack_after is not None and window is not None and ack_after <= window
        ),
        "people": dict(sorted(people.items())),
        "reached": sorted(p for p, v in people.items() if v["reached_on"]),
        "answered": sorted(p for p, v in people.items() if v["answered"]),
        "reached_but_silent": sorted(
            p for p, v in people.items() if v["reached_on"] and not v["answered"]
        ),
        "rungs_fired": [
            {"rung": (e.get("data") or {}).get("rung"), "after_s": after(e["at"])}
            for e in timeline
            if e["kind"] == "rung.fired"
        ],
        "failed_deliveries": failed,
        "stalled_decisions": [
            {
                "id": d.get("id"),
                "action": d.get("action"),
                "status": d.get("status"),
                # still pending within its window, or past `decide_within` (fallback woken)
                "stalled": d.get("id") in stalled or d.get("action") in stalled,
            }
            for d in decisions
            if d.get("status") == "pending" or d.get("id") in stalled or d.get("action") in stalled
        ],
        "held_back": [
            {"kind": e["kind"], "after_s": after(e["at"]), **(e.get("data") or {})}
            for e in timeline
            if e["kind"] in ("message.withheld", "exercise.clocks_skipped")
        ],
    }


def summary(found: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the drills' trend: the figures that should improve over time."""
    people = found["people"]
    return {
        "incident_id": found["incident_id"],
        "exercise": found["exercise"],
        "opened_at": found["opened_at"],
        "status": found["status"],
        "reached": len(found["reached"]),
        "paged": len(people),
        "answered": len(found["answered"]),
        "acknowledged_after_s": found["acknowledged_after_s"],
        "acknowledged_in_window": found["acknowledged_in_window"],
        "rungs_fired": len(found["rungs_fired"]),
        "failed_deliveries": len(found["failed_deliveries"]),
        "stalled_decisions": len(found["stalled_decisions"]),
    }


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
