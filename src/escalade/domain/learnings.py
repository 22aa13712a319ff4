"""Shared learnings: an incident, anonymised for publishing.

Part of the pure core. The export keeps the shape of what happened (when it was
detected, how the response climbed, which decisions were taken and why, what was
learnt) and drops who and what exactly: people become the roles they held (or
"responder 1", "responder 2" in order of appearance), free text is redacted of
personal data and secrets, signal payloads are left out, and times become offsets
from the moment the incident opened. The fields of the AI Incident Database and of
the CSET AI Harm Taxonomy (CSETv1) are filled where the incident says enough, and
left ``null`` for a person to annotate where it does not.

A last pass searches the finished export for every name, person id and e-mail
address the policy knows and refuses to return anything that still holds one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escalade.domain.policy import Policy
from escalade.domain.redaction import redact

FORMAT = "escalade.learning/v1"
_CLASSES = ("personal_data", "secrets")

# Incident types (policy `type`) and what they mean in CSETv1's terms.
_HARM_DOMAIN = {
    "privacy": ("yes", "Intangible harm: privacy"),
    "fairness": ("yes", "Intangible harm: differential treatment"),
    "harmful_output": ("yes", "Detrimental content"),
    "safety": ("yes", "Physical health/safety"),
    "security": ("yes", "Financial loss"),
}
_PROTECTED_LABELS = ("segment", "group", "protected_attribute", "attribute")


class ExportRefused(ValueError):
    """The anonymised export would still identify someone; nothing is returned."""


@dataclass
class _Pseudonyms:
    """People to the roles they held, in a stable order."""

    by_role: dict[str, str]
    known: set[str]
    assigned: dict[str, str] = field(default_factory=dict)
    responders: int = 0

    def of(self, person: Any) -> str | None:
        if person is None:
            return None
        name = str(person)
        if name in ("escalade", "system", "drill"):
            return name
        if name not in self.assigned:
            role = self.by_role.get(name)
            self.responders += 0 if role else 1
            self.assigned[name] = role or f"responder {self.responders}"
        return self.assigned[name]


def export(incident: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """The anonymised export of an incident as the API shows it (with its timeline)."""
    people = policy.people
    names = _names(policy, incident)
    roles = {str(holder): role for role, holder in (incident.get("roles") or {}).items() if holder}
    pseudonyms = _Pseudonyms(roles, set(people))
    removed: Counter[str] = Counter()

    def clean(text: Any) -> str | None:
        if text is None:
            return None
        out = redact(str(text), _CLASSES, names=sorted(names, key=len, reverse=True))
        for removal in out.removals:
            removed[removal.sensitivity.value] += 1
        return out.text

    opened = _time(incident["opened_at"])

    def offset(value: Any) -> float | None:
        at = _time(value)
        return None if at is None or opened is None else round((at - opened).total_seconds(), 3)

    subject = dict(incident.get("subject") or {})
    ladder = incident.get("ladder") or {}
    timeline = list(incident.get("timeline") or [])
    result: dict[str, Any] = {
        "format": FORMAT,
        "incident": {
            "type": incident.get("type"),
            "tier": incident.get("tier"),
            "tier_name": _tier_name(policy, incident.get("tier")),
            "title": clean(incident.get("title")),
            "summary": clean(incident.get("summary")),
            "status": incident.get("status"),
            "system": subject.get("system"),
            "model": subject.get("model"),
            "model_version": subject.get("version"),
            "date": opened.date().isoformat() if opened else None,
            "signals": incident.get("signal_count"),
        },
        "detection": _detection(incident, offset),
        "response": {
            "acknowledged_after_s": offset(incident.get("acknowledged_at")),
            "acknowledged_by": pseudonyms.of(incident.get("acknowledged_by")),
            "resolved_after_s": offset(incident.get("resolved_at")),
            "rungs_reached": ladder.get("rung"),
            "ladder_exhausted": bool(ladder.get("exhausted")),
            "roles": sorted(
                str(r) for r, holder in (incident.get("roles") or {}).items() if holder
            ),
        },
        "timeline": [
            {"after_s": offset(e["at"]), "kind": e["kind"], "actor": pseudonyms.of(e.get("actor"))}
            for e in timeline
            if not str(e["kind"]).startswith("delivery.")
        ],
        "notifications": Counter(
            str(e["kind"]) for e in timeline if str(e["kind"]).startswith("delivery.")
        ),
        "decisions": [
            {
                "action": d.get("action"),
                "status": d.get("status"),
                "requested_after_s": offset(d.get("requested_at")),
                "requested_by": pseudonyms.of(d.get("requested_by")),
                "votes": [
                    {
                        "approve": v.get("approve"),
                        "by": pseudonyms.of(v.get("by")),
                        "role": v.get("role"),
                        "comment": clean(v.get("comment")),
                    }
                    for v in d.get("votes") or []
                ],
            }
            for d in incident.get("decisions") or []
        ],
        "decision_log": [
            {
                "after_s": offset(entry.get("at")),
                "what": clean(entry.get("what")),
                "why": clean(entry.get("why")),
                "by": pseudonyms.of(entry.get("by")),
                "role": entry.get("role"),
                "evidence": len(entry.get("evidence") or []),
            }
            for entry in incident.get("decision_log") or []
        ],
        "obligations": [
            {
                "regime": o.get("regime"),
                "stage": o.get("stage"),
                "status": o.get("status"),
                "due_after_s": offset(o.get("due_at")),
                "submitted_after_s": offset(o.get("submitted_at")),
            }
            for o in incident.get("obligations") or []
        ],
        "lessons": {
            key: clean(value)
            for key, value in (incident.get("review") or {}).items()
            if key in ("summary", "impact", "root_causes", "went_well", "got_lucky") and value
        },
        "action_items": [
            {
                "title": clean(item.get("title")),
                "owner": pseudonyms.of(item.get("owner")),
                "state": item.get("state"),
            }
            for item in incident.get("action_items") or []
        ],
    }
    result["aiid"] = _aiid(result, incident)
    result["csetv1"] = _csetv1(result, incident, clean)
    result["anonymisation"] = {
        "people_replaced": len([p for p in pseudonyms.assigned if p in pseudonyms.known]),
        "removed": dict(sorted(removed.items())),
        "dropped": ["signal labels and details", "message drafts", "contacts", "evidence links"],
    }
    _refuse_leaks(result, names)
    return result


def _names(policy: Policy, incident: Mapping[str, Any]) -> set[str]:
    """Every way the policy and the incident name a person: ids, names, parts, contacts."""
    names: set[str] = set()
    for person_id, person in policy.people.items():
        names.add(person_id)
        names.update(n for n in (person.name, person.email, person.phone) if n)
        names.update(part for part in person.name.split() if len(part) > 2)
    marked = (incident.get("facts") or {}).get("marked_names") or {}
    value = marked.get("value") if isinstance(marked, Mapping) else None
    names.update(str(n) for n in (value if isinstance(value, list) else [value] if value else []))
    return names


def _detection(incident: Mapping[str, Any], offset: Any) -> dict[str, Any]:
    signals = sorted(incident.get("signals") or [], key=lambda s: str(s.get("received_at", "")))
    first = signals[0] if signals else {}
    return {
        "kinds": sorted({str(s.get("kind")) for s in signals if s.get("kind")}),
        "sources": sorted({str(s.get("source")) for s in signals if s.get("source")}),
        "first_signal_kind": first.get("kind"),
        "rule": incident.get("rule_id"),
        "observed_before_open_s": _negated(offset(first.get("observed_at"))),
    }


def _aiid(result: Mapping[str, Any], incident: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an AI Incident Database submission, as far as they are known."""
    facts = result["incident"]
    return {
        "title": facts["title"],
        "description": result["lessons"].get("summary") or facts["summary"],
        "date": facts["date"],
        "alleged_deployer_of_ai_system": None,  # the publisher decides whether to name itself
        "alleged_developer_of_ai_system": None,
        "alleged_harmed_or_nearly_harmed_parties": None,
        "ai_system": facts["system"],
        "model": facts["model"],
    }


def _csetv1(
    result: Mapping[str, Any],
    incident: Mapping[str, Any],
    clean: Callable[[Any], str | None],
) -> dict[str, Any]:
    """CSETv1 fields that follow from the incident; ``None`` where a person must judge.

    The harm distribution basis comes from signal labels, which are free text a
    system filled in (a ``segment`` may hold a customer's address), so each value is
    redacted like any other text in the export.
    """
    kind = str(result["incident"]["type"] or "")
    domain = _HARM_DOMAIN.get(kind)
    facts = incident.get("facts") or {}
    deaths = _fact_number(facts, "death", "deaths", "lives_lost")
    injuries = _fact_number(facts, "injury", "injuries", "serious_injury")
    labels = [
        clean(s["labels"][label])
        for s in incident.get("signals") or []
        for label in _PROTECTED_LABELS
        if isinstance(s.get("labels"), dict) and s["labels"].get(label)
    ]
    date = result["incident"]["date"]
    return {
        "AI System": "yes" if result["incident"]["system"] or result["incident"]["model"] else None,
        "Harm Domain": domain[0] if domain else None,
        "Tangible Harm": _tangible(deaths, injuries),
        "Special Interest Intangible Harm": domain[1]
        if domain and "Intangible" in domain[1]
        else None,
        "Harm Distribution Basis": sorted({label for label in labels if label}) or None,
        "Lives Lost": deaths,
        "Injuries": injuries,
        "Date of Incident Year": date[:4] if date else None,
        "Date of Incident Month": date[5:7] if date else None,
        "Date of Incident Day": date[8:10] if date else None,
        "Deployed": "yes",
        "Notes": "filled by Escalade from the incident; review before publishing",
    }


def _tangible(deaths: int | None, injuries: int | None) -> str | None:
    if deaths or injuries:
        return "tangible harm definitively occurred"
    return None


def _fact_number(facts: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        fact = facts.get(name)
        if not isinstance(fact, Mapping):
            continue
        value = fact.get("value")
        if isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, int | float):
            return int(value)
    return None


def _refuse_leaks(result: Mapping[str, Any], names: Iterable[str]) -> None:
    text = json.dumps(result, ensure_ascii=False, default=str).lower()
    for name in sorted(names):
        if len(name) < 3:
            continue
        if re.search(rf"(?<![\w@.]){re.escape(name.lower())}(?![\w@])", text):
            raise ExportRefused("the export would still name someone the policy knows")


def _tier_name(policy: Policy, tier: Any) -> str | None:
    found = policy.tiers.get(str(tier)) if tier is not None else None
    return found.name if found is not None else None


def _negated(value: float | None) -> float | None:
    return None if value is None else -value


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
