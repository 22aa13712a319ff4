"""Response metrics: MTTD, MTTA, MTTR, time to escalation and rates, from incident records.

Pure functions over the incident record the API shows (``Incident.to_record()`` plus
its ``timeline`` and ``signals``). `facts_of` reduces one record to what it
contributes; `summarise` groups and averages; `to_csv_rows` and `prometheus` render.
Every definition is spelled out in ``docs/metrics.md``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from escalade.domain.ladder import HOURS_BEGAN, TIMED_OUT

GROUPINGS = ("tier", "type", "model", "team")
RECURRENCE_WINDOW = timedelta(days=30)
NO_VALUE = "(none)"  # the group of incidents that lack the grouped attribute


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What one incident contributes to the metrics; durations are from ``opened_at``."""

    id: str
    tier: str
    type: str
    model: str | None
    team: str | None
    group_key: str
    opened_at: datetime
    detected_after: timedelta | None  # first signal occurred -> incident opened
    acked_after: timedelta | None
    resolved_after: timedelta | None
    escalated_after: timedelta | None  # opened -> first rung >= 2 fired
    # The latest a rung fired by its timer came after it was due (None: none did).
    escalation_lateness: timedelta | None
    ack_window_breached: bool
    clocks_due: int
    clocks_on_time: int


@dataclass(frozen=True, slots=True)
class Summary:
    """The metrics of one group of incidents; ``None`` where nothing was measured."""

    count: int
    mttd: timedelta | None
    mtta: timedelta | None
    mttr: timedelta | None
    mean_time_to_escalation: timedelta | None
    worst_escalation_lateness: timedelta | None
    ack_window_breach_rate: float | None
    clock_on_time_rate: float | None
    recurrence_rate: float | None


def facts_of(
    record: Mapping[str, Any], *, team: str | None = None, now: datetime | None = None
) -> IncidentFacts:
    """Reduce one incident record to its `IncidentFacts`.

    `now`, when given, also counts deadlines whose ``due_at`` has passed by then;
    without it a deadline is due once submitted or marked overdue in the record.
    """
    opened = _time(record["opened_at"])
    timeline = list(record.get("timeline", ()))
    due, on_time = _clocks(record.get("obligations", ()), timeline, now)
    return IncidentFacts(
        id=str(record["id"]),
        tier=str(record["tier"]),
        type=str(record["type"]),
        model=(record.get("subject") or {}).get("model"),
        team=team,
        group_key=str(record["group_key"]),
        opened_at=opened,
        detected_after=_detected_after(record.get("signals", ()), opened),
        acked_after=_since(opened, record.get("acknowledged_at")),
        resolved_after=_since(opened, record.get("resolved_at")),
        escalated_after=_escalated_after(timeline, opened),
        escalation_lateness=_escalation_lateness(timeline),
        ack_window_breached=any(e["kind"] == "ack_window.breached" for e in timeline),
        clocks_due=due,
        clocks_on_time=on_time,
    )


def summarise(
    facts: Sequence[IncidentFacts],
    *,
    by: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Summary]:
    """Summaries keyed by group (``{"all": ...}`` when `by` is None), sorted by key.

    Only incidents opened in ``[since, until)`` are summarised, but recurrence looks
    back at every incident given, so an earlier one just before `since` still counts.
    """
    _check_grouping(by)
    recurs = _recurrences(facts)
    chosen = [
        f
        for f in facts
        if (since is None or f.opened_at >= since) and (until is None or f.opened_at < until)
    ]
    if by is None:
        return {"all": _summary(chosen, recurs)}
    groups: dict[str, list[IncidentFacts]] = {}
    for f in chosen:
        value = getattr(f, by)
        groups.setdefault(NO_VALUE if value is None else str(value), []).append(f)
    return {key: _summary(groups[key], recurs) for key in sorted(groups)}


def to_csv_rows(summaries: Mapping[str, Summary]) -> list[list[str]]:
    """A header row and one row per group; durations in seconds, blanks where undefined."""
    rows = [["group", *(name for name, _, _, _ in _METRICS)]]
    for key, summary in summaries.items():
        rows.append([key, *(_number(value(summary)) for _, _, _, value in _METRICS)])
    return rows


def prometheus(summaries: Mapping[str, Summary], by: str | None) -> str:
    """Prometheus text exposition, one gauge per metric, labelled by the grouping.

    Undefined values (no incident acknowledged, say) are left out, not written as NaN.
    """
    _check_grouping(by)
    lines: list[str] = []
    for name, kind, help_text, value in _METRICS:
        metric = f"escalade_{name}"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for key, summary in summaries.items():
            number = value(summary)
            if number is None:
                continue
            labels = "" if by is None else f'{{{by}="{_label(key)}"}}'
            lines.append(f"{metric}{labels} {_number(number)}")
    return "\n".join(lines) + "\n"


def _seconds(d: timedelta | None) -> float | None:
    return None if d is None else d.total_seconds()


_METRICS: tuple[tuple[str, str, str, Callable[[Summary], float | None]], ...] = (
    ("incidents", "gauge", "Incidents opened in the window.", lambda s: float(s.count)),
    ("mttd_seconds", "gauge", "Mean time to detect.", lambda s: _seconds(s.mttd)),
    ("mtta_seconds", "gauge", "Mean time to acknowledge.", lambda s: _seconds(s.mtta)),
    ("mttr_seconds", "gauge", "Mean time to resolve.", lambda s: _seconds(s.mttr)),
    (
        "time_to_escalation_seconds",
        "gauge",
        "Mean time from opening to the second rung.",
        lambda s: _seconds(s.mean_time_to_escalation),
    ),
    (
        "escalation_lateness_max_seconds",
        "gauge",
        "Worst delay of a rung fired by its timer past its due time.",
        lambda s: _seconds(s.worst_escalation_lateness),
    ),
    (
        "ack_window_breach_ratio",
        "gauge",
        "Share of incidents whose acknowledgement window was breached.",
        lambda s: s.ack_window_breach_rate,
    ),
    (
        "clock_on_time_ratio",
        "gauge",
        "Share of due regulatory clock stages submitted on time.",
        lambda s: s.clock_on_time_rate,
    ),
    (
        "recurrence_ratio",
        "gauge",
        "Share of incidents whose group key recurred within 30 days.",
        lambda s: s.recurrence_rate,
    ),
)


def _summary(group: Sequence[IncidentFacts], recurs: set[str]) -> Summary:
    count = len(group)
    due = sum(f.clocks_due for f in group)
    return Summary(
        count=count,
        mttd=_mean(f.detected_after for f in group),
        mtta=_mean(f.acked_after for f in group),
        mttr=_mean(f.resolved_after for f in group),
        mean_time_to_escalation=_mean(f.escalated_after for f in group),
        worst_escalation_lateness=max(
            (f.escalation_lateness for f in group if f.escalation_lateness is not None),
            default=None,
        ),
        ack_window_breach_rate=(
            sum(f.ack_window_breached for f in group) / count if count else None
        ),
        clock_on_time_rate=sum(f.clocks_on_time for f in group) / due if due else None,
        recurrence_rate=sum(f.id in recurs for f in group) / count if count else None,
    )


def _recurrences(facts: Sequence[IncidentFacts]) -> set[str]:
    """Ids of incidents whose group key had another incident opened in the prior window."""
    by_key: dict[str, list[datetime]] = {}
    for f in facts:
        by_key.setdefault(f.group_key, []).append(f.opened_at)
    return {
        f.id
        for f in facts
        if any(
            f.opened_at - RECURRENCE_WINDOW <= other < f.opened_at for other in by_key[f.group_key]
        )
    }


def _mean(values: Iterable[timedelta | None]) -> timedelta | None:
    defined = [v for v in values if v is not None]
    return sum(defined, timedelta()) / len(defined) if defined else None


def _clocks(
    deadlines: Sequence[Mapping[str, Any]],
    timeline: Sequence[Mapping[str, Any]],
    now: datetime | None,
) -> tuple[int, int]:
    submitted: dict[tuple[str, str], datetime] = {}
    overdue: set[tuple[str, str]] = set()
    for entry in timeline:
        data = entry.get("data") or {}
        key = (str(data.get("obligation")), str(data.get("stage")))
        if entry["kind"] == "obligation.submitted":
            at = _time(entry["at"])
            submitted[key] = min(at, submitted.get(key, at))  # the first submission counts
        elif entry["kind"] == "obligation.overdue":
            overdue.add(key)
    due = on_time = 0
    for d in deadlines:
        key = (str(d["obligation"]), str(d["stage"]))
        due_at = _time(d["due_at"])
        sent = submitted.get(key)
        if (
            sent is not None
            or key in overdue
            or d.get("status") in ("submitted", "overdue")
            or (now is not None and due_at <= now)
        ):
            due += 1
            on_time += sent is not None and sent <= due_at
    return due, on_time


def _detected_after(signals: Sequence[Mapping[str, Any]], opened: datetime) -> timedelta | None:
    if not signals:
        return None
    first = min(signals, key=lambda s: _time(s["received_at"]))
    occurred = first.get("occurred_at")
    if occurred is None:
        return None
    # A source clock ahead of ours would make detection negative; it counts as zero.
    return max(opened - _time(occurred), timedelta())


def _escalated_after(timeline: Sequence[Mapping[str, Any]], opened: datetime) -> timedelta | None:
    fired = [
        _time(e["at"])
        for e in timeline
        if e["kind"] == "rung.fired" and int((e.get("data") or {}).get("rung", 1)) >= 2
    ]
    return min(fired) - opened if fired else None


_TIMED = frozenset({TIMED_OUT, HOURS_BEGAN})  # rungs their timers fired


def _escalation_lateness(timeline: Sequence[Mapping[str, Any]]) -> timedelta | None:
    """How long after its due time the latest timer-fired rung came (oldest entry
    first): due at the previous rung's `next_at`, or at a deferral's `until`.
    Rungs fired by hand or by an expired acknowledgement had no such due time."""
    due: datetime | None = None
    worst: timedelta | None = None
    for entry in timeline:
        data = entry.get("data") or {}
        if entry["kind"] == "rung.deferred":
            due = _time(data["until"]) if data.get("until") else None
        elif entry["kind"] == "rung.fired":
            if data.get("reason") in _TIMED and due is not None:
                late = max(_time(entry["at"]) - due, timedelta())
                worst = late if worst is None else max(worst, late)
            due = _time(data["next_at"]) if data.get("next_at") else None
    return worst


def _since(opened: datetime, at: str | None) -> timedelta | None:
    return None if at is None else _time(at) - opened


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone; expected ISO 8601 with offset")
    return value


def _check_grouping(by: str | None) -> None:
    if by is not None and by not in GROUPINGS:
        close = difflib.get_close_matches(by, GROUPINGS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"cannot group by {by!r}: expected one of {', '.join(GROUPINGS)}{hint}")


def _number(value: float | None) -> str:
    return "" if value is None else format(value, ".15g")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
