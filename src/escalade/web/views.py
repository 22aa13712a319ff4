"""What each page shows, shaped from engine records so templates only place values.

No I/O and no clock: every function takes `now`. Countdowns, chart geometry,
ladder positions and who may do what are decided here, not in templates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from escalade.domain.metrics import Summary
from escalade.domain.policy import Policy
from escalade.domain.reviews import Review, ReviewStats
from escalade.domain.schedules import OnCall
from escalade.engine.backlog import Backlog

_ITEM_OPEN = "open"


@dataclass(frozen=True, slots=True)
class Countdown:
    at: str  # ISO 8601, for <time datetime> and the ticking script
    text: str  # "in 4m 10s" / "3m ago"
    overdue: bool


def countdown(at: str | datetime | None, now: datetime) -> Countdown | None:
    if at is None:
        return None
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    left = when - now
    overdue = left < timedelta(0)
    span = span_text(abs(left))
    return Countdown(when.isoformat(), f"{span} ago" if overdue else f"in {span}", overdue)


def span_text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def local(at: str | None, policy: Policy) -> str:
    """A timestamp in the policy's zone, to the second."""
    if not at:
        return ""
    return datetime.fromisoformat(at).astimezone(policy.tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def timeline_rows(entries: Iterable[Mapping[str, Any]], policy: Policy) -> list[dict[str, Any]]:
    """Newest first, each with its time in policy time and its data as compact text."""
    return [
        {
            "id": e["id"],
            "at": e["at"],
            "when": local(e["at"], policy),
            "kind": e["kind"],
            "actor": e.get("actor") or "",
            "incident_id": e.get("incident_id"),
            "incident_link": str(e.get("incident_id") or "").startswith("inc_"),
            "data": _compact(e.get("data") or {}),
        }
        for e in sorted(entries, key=lambda e: e["id"], reverse=True)
    ]


def _compact(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


def verification_view(report: Mapping[str, Any]) -> dict[str, Any]:
    """The audit chain check (engine `verify_audit`) as the audit page states it."""
    breaks = [
        f"{b['incident_id']}"
        + (f" entry #{b['entry_id']}" if b.get("entry_id") is not None else "")
        + (f" (seq {b['seq']})" if b.get("seq") is not None else "")
        + f": {b['problem']}"
        for b in report["breaks"]
    ]
    return {
        "ok": report["ok"],
        "entries": report["entries"],
        "chains": report["chains"],
        "breaks": breaks,
    }


def ladder_view(policy: Policy, record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    position = record["ladder"]
    ladder = policy.ladders.get(position["id"])
    rungs = [
        {
            "number": n,
            "notify": ", ".join(str(t) for t in rung.notify),
            "after": str(rung.escalate_after),
            "current": n == position["rung"] and not position["exhausted"],
            "passed": n < position["rung"] or position["exhausted"],
        }
        for n, rung in enumerate(ladder.rungs if ladder else (), start=1)
    ]
    return {
        "id": position["id"],
        "rung": position["rung"],
        "of": len(rungs),
        "cycle": position["cycle"],
        "exhausted": position["exhausted"],
        "rungs": rungs,
        "next": countdown(record.get("next_rung_at"), now),
    }


def incident_view(
    policy: Policy, record: Mapping[str, Any], now: datetime, *, person: str, can_act: bool
) -> dict[str, Any]:
    """The incident page: header, ladder, clocks, decisions, messages, items."""
    is_open = record["status"] != "resolved"
    roles = record["roles"]
    held = {role for role, who in roles.items() if who == person}
    decisions = [
        {
            **d,
            "votes_text": ", ".join(
                f"{v['by']} {'approved' if v['approve'] else 'rejected'}" for v in d["votes"]
            ),
            "may_vote": can_act and d["status"] == "pending",
            "due": countdown(d["due_at"], now),
        }
        for d in record["decisions"]
    ]
    messages = [
        {
            **m,
            "approved_roles": [a["role"] for a in m["approvals"]],
            "missing": [
                r for r in m["requires_approval"] if r not in {a["role"] for a in m["approvals"]}
            ],
            "may_approve": can_act
            and m["state"] == "draft"
            and any(
                r in held and r not in {a["role"] for a in m["approvals"]}
                for r in m["requires_approval"]
            ),
            "may_send": can_act and m["state"] == "draft",
        }
        for m in record["messages"]
    ]
    deadlines = [
        {**d, "due": countdown(d["due_at"], now), "due_local": local(d["due_at"], policy)}
        for d in record["obligations"]
    ]
    items = [
        {
            **i,
            "due": countdown(i.get("due_at"), now),
            "may_close": can_act and i.get("state") == _ITEM_OPEN,
        }
        for i in record["action_items"]
    ]
    tier = policy.tiers.get(record["tier"])
    return {
        "incident": record,
        "tier_name": tier.name if tier else record["tier"],
        "opened": local(record["opened_at"], policy),
        "roles": [(role, _name(policy, who)) for role, who in sorted(roles.items())],
        "ladder": ladder_view(policy, record, now),
        "deadlines": deadlines,
        "decisions": decisions,
        "messages": messages,
        "items": items,
        "templates": sorted(policy.templates) if can_act and is_open else [],
        "may_ack": can_act and record["status"] == "triggered",
        "may_resolve": can_act and is_open,
        "timeline": timeline_rows(record["timeline"], policy),
    }


def review_rows(
    reviews: Sequence[Review], policy: Policy, now: datetime, *, person: str, can_act: bool
) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "action": r.action,
            "policy": r.policy_id,
            "args": json.dumps(dict(r.args), indent=2, sort_keys=True, default=str),
            "risk": r.risk,
            "subject": ", ".join(f"{k}={v}" for k, v in r.subject.items()),
            "summary": r.summary or "",
            "requested_by": r.requested_by,
            "requested": local(r.requested_at.isoformat(), policy),
            "reviewers": ", ".join(r.reviewers),
            "due": countdown(r.due_at, now),
            "answered": ", ".join(
                f"{v.person} {'approved' if v.approve else 'rejected'}" for v in r.verdicts
            ),
            "outcome": r.decision.outcome if r.decision else None,
            "may_decide": can_act and r.pending,
            "is_reviewer": person in r.reviewers,
        }
        for r in reviews
    ]


def drill_rows(found: Sequence[Mapping[str, Any]], policy: Policy) -> list[dict[str, Any]]:
    """Live drills as the trend table shows them: newest first, figures as text."""
    rows = []
    for e in found:
        after = e["acknowledged_after_s"]
        if after is None:
            ack = "never"
        else:
            ack = f"after {after:.0f} s" + ("" if e["acknowledged_in_window"] else " (late)")
        rows.append(
            {
                **e,
                "opened": local(e["opened_at"], policy),
                "ack": ack,
            }
        )
    return rows


def on_call_rows(roster: Sequence[OnCall], policy: Policy, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "schedule": held.schedule,
            "now": _name(policy, held.now),
            "until": local(held.until.isoformat(), policy) if held.until else None,
            "in": countdown(held.until, now),
            "next": _name(policy, held.next),
        }
        for held in roster
    ]


def _name(policy: Policy, person: str | None) -> str:
    if person is None:
        return "nobody"
    found = policy.people.get(person)
    return f"{found.name} ({person})" if found else person


def policy_view(policy: Policy) -> dict[str, Any]:
    """Tiers leading to their ladders, each rung a box; decision rights as who-decides."""
    tiers = [
        {
            "id": tid,
            "name": tier.name,
            "ack_within": str(tier.ack_within),
            "ladder": tier.ladder,
            "roles": ", ".join(tier.roles),
        }
        for tid, tier in policy.tiers.items()
    ]
    ladders = [
        {
            "id": lid,
            "rungs": [
                {"notify": [str(t) for t in rung.notify], "after": str(rung.escalate_after)}
                for rung in ladder.rungs
            ],
            "repeat": ladder.repeat,
            "exhausted": ", ".join(str(t) for t in ladder.exhausted),
            "tiers": [tid for tid, tier in policy.tiers.items() if tier.ladder == lid],
        }
        for lid, ladder in policy.ladders.items()
    ]
    rights = []
    for action, right in policy.decisions.items():
        approvers = right.approvers
        if approvers.any_of:
            rule, who = "any one of", approvers.any_of
        elif approvers.all_of:
            rule, who = "all of", approvers.all_of
        else:
            assert approvers.m_of_n is not None
            rule, who = f"{approvers.m_of_n.m} of", approvers.m_of_n.of
        rights.append(
            {
                "action": action,
                "rule": rule,
                "roles": list(who),
                "within": str(right.decide_within),
                "fallback": right.fallback,
                "separation": right.separation_of_duties,
                "hold": right.blocked_by_evidence_hold,
            }
        )
    return {"tiers": tiers, "ladders": ladders, "rights": rights}


_BAR_WIDTH = 220  # px of the longest bar, in a 400 px wide chart (labels 100, values 80)
_ROW = 28


def bar_chart(title: str, unit: str, values: Mapping[str, float | None]) -> dict[str, Any]:
    """Horizontal bars, scaled to the largest value; geometry for an inline SVG."""
    shown = [(label, v) for label, v in values.items() if v is not None]
    top = max((v for _, v in shown), default=0.0) or 1.0
    bars = [
        {
            "label": label,
            "y": i * _ROW,
            "width": max(1, round(v / top * _BAR_WIDTH)),
            "value": _amount(v, unit),
        }
        for i, (label, v) in enumerate(shown)
    ]
    return {
        "title": title,
        "bars": bars,
        "height": max(_ROW, len(bars) * _ROW),
        "empty": not bars,
        "summary": "; ".join(f"{b['label']}: {b['value']}" for b in bars) or "no data",
    }


def _amount(value: float, unit: str) -> str:
    if unit == "seconds":
        return span_text(timedelta(seconds=value)) if value >= 1 or value == 0 else "under 1s"
    if unit == "rate":
        return f"{value:.0%}"
    return f"{value:g}"


def _seconds(span: timedelta | None) -> float | None:
    return span.total_seconds() if span is not None else None


# How late is late, in seconds: the thresholds of the alert rules that
# docs/operations.md suggests, so the page and the pager agree.
LATE_TIMERS, LATE_MESSAGES, LATE_ROUTING = 30.0, 60.0, 10.0


@dataclass(frozen=True, slots=True)
class EngineRow:
    label: str
    value: str
    late: bool


def engine_rows(found: Backlog) -> list[EngineRow]:
    """The engine's queues for the metrics page: how much waits and how late."""
    alive, stale = found.workers["alive"], found.workers["stale"]
    pending, failed = found.deliveries["pending"], found.deliveries["failed"]
    return [
        EngineRow(
            "Escalation timers past due",
            _ago(found.timers_overdue, "the oldest was due", "none"),
            found.timers_overdue > LATE_TIMERS,
        ),
        EngineRow(
            "Messages waiting for a worker",
            f"{pending} pending; {_ago(found.deliveries_overdue, 'the oldest due', 'none due')}",
            found.deliveries_overdue > LATE_MESSAGES,
        ),
        EngineRow(
            "Signals waiting to be routed",
            f"{found.inbox_depth}; {_ago(found.inbox_oldest, 'the oldest accepted', 'none')}",
            found.inbox_oldest > LATE_ROUTING,
        ),
        EngineRow("Engine processes", f"{alive} alive, {stale} presumed dead", alive == 0),
        EngineRow("Messages failed after every retry", str(failed), False),
    ]


def _ago(seconds: float, event: str, otherwise: str) -> str:
    return f"{event} {span_text(timedelta(seconds=seconds))} ago" if seconds > 0 else otherwise


def metric_charts(
    by_tier: Mapping[str, Summary], reviews: Mapping[str, ReviewStats]
) -> list[dict[str, Any]]:
    return [
        bar_chart("Incidents by tier", "count", {k: s.count for k, s in by_tier.items()}),
        bar_chart(
            "Mean time to acknowledge (MTTA)",
            "seconds",
            {k: _seconds(s.mtta) for k, s in by_tier.items()},
        ),
        bar_chart(
            "Mean time to resolve (MTTR)",
            "seconds",
            {k: _seconds(s.mttr) for k, s in by_tier.items()},
        ),
        bar_chart(
            "Acknowledgement window breached",
            "rate",
            {k: s.ack_window_breach_rate for k, s in by_tier.items()},
        ),
        bar_chart(
            "Reviews: median time to decision",
            "seconds",
            {k: s.median_seconds for k, s in reviews.items()},
        ),
        bar_chart("Reviews: timeout rate", "rate", {k: s.timeout_rate for k, s in reviews.items()}),
    ]
