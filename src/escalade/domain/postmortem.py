"""The blameless post-incident review: drafted from the timeline, finished by people.

Part of the pure core. Resolving an incident whose tier says `postmortem:
required` opens a review; anyone may open one for other tiers. The facts that
the timeline already knows (detection, response, decisions, action items) are
drafted; what only people know (impact, root causes, what went well, where we
got lucky) is written through `EditReview`. A review closes only when none of
the incident's action items is still open. `markdown` renders it for export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalade.domain.command import CommandRefused, open_items
from escalade.domain.effects import Effect, Record
from escalade.domain.incidents import Incident
from escalade.domain.policy import Policy

SECTIONS = ("summary", "impact", "root_causes", "went_well", "got_lucky")


@dataclass(frozen=True, slots=True)
class OpenReview:
    by: str


@dataclass(frozen=True, slots=True)
class EditReview:
    by: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class CloseReview:
    by: str


ReviewEvent = OpenReview | EditReview | CloseReview
Result = tuple[Incident, list[Effect]]


def required(policy: Policy, incident: Incident) -> bool:
    tier = policy.tiers.get(incident.tier)
    return tier is not None and tier.postmortem == "required"


def on_resolved(policy: Policy, incident: Incident, now: datetime) -> Result:
    """Resolving a tier that requires a review opens one."""
    if not required(policy, incident) or incident.review:
        return incident, []
    return _open(incident, "escalade", now, because="the tier requires a review")


def apply_review(incident: Incident, event: ReviewEvent, now: datetime) -> Result:
    if isinstance(event, OpenReview):
        if incident.review:
            return incident, []
        return _open(incident, event.by, now, because="opened by hand")
    if not incident.review:
        raise CommandRefused("no_review", "this incident has no post-incident review")
    if incident.review["state"] == "closed":
        raise CommandRefused("review_closed", "the review is closed")
    if isinstance(event, EditReview):
        unknown = sorted(set(event.fields) - set(SECTIONS))
        if unknown:
            raise CommandRefused(
                "unknown_section",
                f"unknown section {unknown[0]!r}; sections: {', '.join(SECTIONS)}",
            )
        review = {**incident.review, **event.fields}
        record = Record(
            incident.id,
            now,
            "review.edited",
            actor=event.by,
            data={"sections": sorted(event.fields)},
        )
        return incident.evolve(review=review), [record]
    still_open = open_items(incident)
    if still_open:
        titles = "; ".join(i["title"] for i in still_open)
        raise CommandRefused(
            "open_action_items", f"{len(still_open)} action item(s) still open: {titles}"
        )
    missing = [s for s in ("impact", "root_causes") if not incident.review.get(s, "").strip()]
    if missing:
        raise CommandRefused("review_incomplete", f"write {' and '.join(missing)} first")
    review = {
        **incident.review,
        "state": "closed",
        "closed_by": event.by,
        "closed_at": now.isoformat(),
    }
    return incident.evolve(review=review), [
        Record(incident.id, now, "review.closed", actor=event.by)
    ]


def _open(incident: Incident, by: str, now: datetime, *, because: str) -> Result:
    review = {
        "state": "draft",
        "opened_at": now.isoformat(),
        "opened_by": by,
        "summary": incident.summary or incident.title,
        **{s: "" for s in SECTIONS if s != "summary"},
    }
    record = Record(incident.id, now, "review.opened", actor=by, data={"because": because})
    return incident.evolve(review=review), [record]


def markdown(record: dict[str, Any]) -> str:
    """The review of an incident (as the API shows it, with its timeline) in Markdown."""
    review = record.get("review") or {}
    timeline = record.get("timeline", [])
    lines = [
        f"# Post-incident review: {record['title']}",
        "",
        f"- Incident: `{record['id']}` ({record['tier']}, {record['type']})",
        f"- Review: {review.get('state', 'not opened')}. Blameless: this describes what the "
        "system and the process did, not who is to blame.",
        f"- Opened {record['opened_at']}; acknowledged {record.get('acknowledged_at') or '-'}; "
        f"resolved {record.get('resolved_at') or '-'}",
        "",
        "## Summary",
        "",
        review.get("summary") or "_to be written_",
        "",
        "## Impact",
        "",
        review.get("impact") or "_to be written_",
        "",
        "## Detection",
        "",
    ]
    signals = record.get("signals", [])
    first = signals[0] if signals else {}
    source = first.get("source") or "an unnamed source"
    occurred = first.get("occurred_at") or "at an unknown time"
    lines.append(
        f"First signal `{first.get('kind', '?')}` from {source}, occurred {occurred}, "
        f"received {first.get('received_at', '?')}; "
        f"{record.get('signal_count', 0)} signal(s) in all."
    )
    lines += ["", "## Response", ""]
    shown = (
        "incident.opened",
        "rung.fired",
        "incident.acknowledged",
        "role.assigned",
        "severity.changed",
        "status.updated",
        "incident.escalated",
        "ladder.exhausted",
        "obligation.submitted",
        "obligation.overdue",
        "message.sent",
        "incident.resolved",
    )
    for entry in timeline:
        if entry["kind"] in shown:
            actor = f" by {entry['actor']}" if entry.get("actor") else ""
            lines.append(f"- {entry['at']} {entry['kind']}{actor}")
    lines += ["", "## Decisions", ""]
    for entry in record.get("decision_log", []):
        evidence = f" (evidence: {', '.join(entry['evidence'])})" if entry.get("evidence") else ""
        lines.append(
            f"- {entry['at']} {entry['what']}: {entry['why']}; by {entry['by']}"
            f"{' as ' + entry['role'] if entry.get('role') else ''}{evidence}"
        )
    for decision in record.get("decisions", []):
        lines.append(
            f"- {decision['action']}: {decision['status']}"
            f" (requested by {decision['requested_by']})"
        )
    if lines[-1] == "":
        lines.append("_none recorded_")
    lines += [
        "",
        "## Root causes",
        "",
        review.get("root_causes") or "_to be written_",
        "",
        "## What went well",
        "",
        review.get("went_well") or "_to be written_",
        "",
        "## Where we got lucky",
        "",
        review.get("got_lucky") or "_to be written_",
        "",
        "## Action items",
        "",
    ]
    items = record.get("action_items", [])
    lines += [
        f"- [{'x' if i['state'] == 'done' else ' '}] {i['title']} (owner {i['owner']}, "
        f"due {i['due_at']}, {i['state']})"
        for i in items
    ] or ["_none_"]
    return "\n".join(lines) + "\n"
