from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalade.domain.metrics import (
    IncidentFacts,
    Summary,
    facts_of,
    prometheus,
    summarise,
    to_csv_rows,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def record(
    id: str = "inc-1",
    *,
    opened: float = 0,
    tier: str = "sev1",
    type: str = "harmful_output",
    model: str | None = "m-1",
    group_key: str = "g",
    occurred: float | None = None,
    acked: float | None = None,
    resolved: float | None = None,
    timeline: tuple[tuple[float, str, dict[str, Any]], ...] = (),
    obligations: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """An incident record as the API shows it; times are minutes after T0."""
    subject = {"system": "chat"} | ({"model": model} if model else {})
    signals = [] if occurred is None else [{"occurred_at": at(occurred), "received_at": at(opened)}]
    return {
        "id": id,
        "tier": tier,
        "type": type,
        "rule_id": "r",
        "group_key": group_key,
        "status": "open",
        "subject": subject,
        "opened_at": at(opened),
        "acknowledged_at": None if acked is None else at(acked),
        "resolved_at": None if resolved is None else at(resolved),
        "obligations": list(obligations),
        "timeline": [{"at": at(m), "kind": k, "actor": None, "data": d} for m, k, d in timeline],
        "signals": signals,
    }


def deadline(stage: str, due: float, status: str = "open") -> dict[str, Any]:
    return {"obligation": "eu-ai-act", "stage": stage, "due_at": at(due), "status": status}


def submitted(minutes: float, stage: str) -> tuple[float, str, dict[str, Any]]:
    return (minutes, "obligation.submitted", {"obligation": "eu-ai-act", "stage": stage})


def test_facts_of_reads_every_duration_from_the_record() -> None:
    facts = facts_of(
        record(
            occurred=-5,
            acked=3,
            resolved=90,
            timeline=(
                (0, "rung.fired", {"rung": 1, "reason": "opened", "next_at": at(14.5)}),
                (10, "ack_window.breached", {}),
                (15, "rung.fired", {"rung": 2, "reason": ESCALATED, "next_at": at(30)}),
                (30, "rung.fired", {"rung": 3, "reason": ESCALATED}),
            ),
        ),
        team="safety",
    )
    assert facts == IncidentFacts(
        id="inc-1",
        tier="sev1",
        type="harmful_output",
        model="m-1",
        team="safety",
        group_key="g",
        opened_at=T0,
        detected_after=timedelta(minutes=5),
        acked_after=timedelta(minutes=3),
        resolved_after=timedelta(minutes=90),
        escalated_after=timedelta(minutes=15),
        escalation_lateness=timedelta(seconds=30),  # rung 2, due at 14.5
        ack_window_breached=True,
        clocks_due=0,
        clocks_on_time=0,
    )


ESCALATED = "not acknowledged in time"


@pytest.mark.parametrize(
    ("timeline", "late"),
    [
        # On time, then a minute late: the worst counts.
        (
            (
                (0, "rung.fired", {"reason": "opened", "next_at": at(5)}),
                (5, "rung.fired", {"reason": ESCALATED, "next_at": at(10)}),
                (11, "rung.fired", {"reason": ESCALATED}),
            ),
            timedelta(minutes=1),
        ),
        # A deferred rung is due when business hours begin, not at the ladder's time.
        (
            (
                (0, "rung.fired", {"reason": "opened", "next_at": at(5)}),
                (5, "rung.deferred", {"until": at(60)}),
                (60.5, "rung.fired", {"reason": "business hours began", "next_at": at(90)}),
            ),
            timedelta(seconds=30),
        ),
        # By hand before its time, or after an acknowledgement expired: no due time.
        (
            (
                (0, "rung.fired", {"reason": "opened", "next_at": at(30)}),
                (3, "rung.fired", {"reason": "escalated by hand", "next_at": at(33)}),
                (50, "rung.fired", {"reason": "ack expired", "next_at": at(80)}),
            ),
            None,
        ),
        # Early by the clock's rounding is on time, never negative.
        (
            ((0, "rung.fired", {"next_at": at(5)}), (4.99, "rung.fired", {"reason": ESCALATED})),
            timedelta(0),
        ),
    ],
)
def test_escalation_lateness_is_the_worst_timer_fired_rung_past_its_due_time(
    timeline: tuple[tuple[float, str, dict[str, Any]], ...], late: timedelta | None
) -> None:
    assert facts_of(record(timeline=timeline)).escalation_lateness == late


def test_the_worst_lateness_of_a_group_is_its_latest_rung() -> None:
    def late_by(id: str, seconds: float) -> IncidentFacts:
        fired = (
            (0, "rung.fired", {"next_at": at(5)}),
            (5 + seconds / 60, "rung.fired", {"reason": ESCALATED}),
        )
        return facts_of(record(id, group_key=id, timeline=fired))

    found = summarise([late_by("a", 2), late_by("b", 40), facts_of(record("c", group_key="c"))])
    assert found["all"].worst_escalation_lateness == timedelta(seconds=40)


def test_facts_of_leaves_undefined_durations_empty() -> None:
    facts = facts_of(record(model=None, timeline=((0, "rung.fired", {"rung": 1}),)))
    assert facts.detected_after is None
    assert facts.acked_after is None
    assert facts.resolved_after is None
    assert facts.escalated_after is None
    assert facts.model is None
    assert facts.team is None
    assert not facts.ack_window_breached


def test_a_signal_stamped_after_opening_counts_as_zero_detection() -> None:
    assert facts_of(record(occurred=2)).detected_after == timedelta()


def test_clocks_count_due_stages_and_those_submitted_in_time() -> None:
    rec = record(
        obligations=(
            deadline("early_warning", 60, "submitted"),  # submitted in time
            deadline("notification", 120, "submitted"),  # submitted late
            deadline("final_report", 180, "overdue"),  # not submitted, past due
            deadline("follow_up", 10_000),  # not due yet
        ),
        timeline=(submitted(60, "early_warning"), submitted(150, "notification")),
    )
    facts = facts_of(rec)
    assert (facts.clocks_due, facts.clocks_on_time) == (3, 1)
    later = facts_of(rec, now=T0 + timedelta(minutes=10_000))
    assert (later.clocks_due, later.clocks_on_time) == (4, 1)


def test_summarise_means_and_rates_over_all_incidents() -> None:
    facts = [
        facts_of(
            record(
                "a",
                occurred=-10,
                acked=4,
                resolved=60,
                timeline=((20, "rung.fired", {"rung": 2}), submitted(30, "report")),
                obligations=(deadline("report", 60, "submitted"),),
            )
        ),
        facts_of(
            record(
                "b",
                opened=60 * 24 * 60,
                occurred=60 * 24 * 60 - 20,
                acked=60 * 24 * 60 + 8,
                timeline=((60 * 24 * 60 + 5, "ack_window.breached", {}),),
                obligations=(deadline("report", 60 * 24 * 60 + 60, "overdue"),),
            )
        ),
    ]
    assert summarise(facts) == {
        "all": Summary(
            count=2,
            mttd=timedelta(minutes=15),
            mtta=timedelta(minutes=6),
            mttr=timedelta(minutes=60),  # b is unresolved: left out of the mean
            mean_time_to_escalation=timedelta(minutes=20),
            worst_escalation_lateness=None,  # no rung fired by its timer
            ack_window_breach_rate=0.5,
            clock_on_time_rate=0.5,
            recurrence_rate=0.0,  # 60 days apart
        )
    }


def test_summarise_of_nothing_has_a_count_and_no_values() -> None:
    assert summarise([]) == {"all": Summary(0, None, None, None, None, None, None, None, None)}


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("tier", {"sev1": 2, "sev2": 1}),
        ("type", {"drift": 1, "harmful_output": 2}),
        ("model", {"(none)": 1, "m-1": 1, "m-2": 1}),
        ("team", {"(none)": 1, "infra": 2}),
    ],
)
def test_summarise_groups_by_an_attribute(by: str, expected: dict[str, int]) -> None:
    facts = [
        facts_of(record("a", acked=2), team="infra"),
        facts_of(record("b", tier="sev2", model="m-2", acked=4), team="infra"),
        facts_of(record("c", type="drift", model=None, group_key="h")),
    ]
    found = summarise(facts, by=by)
    assert {key: s.count for key, s in found.items()} == expected
    assert list(found) == sorted(found)


def test_grouping_keeps_each_groups_own_mean() -> None:
    facts = [
        facts_of(record("a", acked=2)),
        facts_of(record("b", tier="sev2", acked=4)),
        facts_of(record("c", tier="sev2", acked=8)),
    ]
    found = summarise(facts, by="tier")
    assert found["sev1"].mtta == timedelta(minutes=2)
    assert found["sev2"].mtta == timedelta(minutes=6)


def test_summarise_refuses_an_unknown_grouping() -> None:
    with pytest.raises(ValueError, match="did you mean 'tier'"):
        summarise([], by="teir")


def test_time_range_is_half_open_on_opened_at() -> None:
    facts = [facts_of(record(str(n), opened=n * 60, group_key=str(n))) for n in range(4)]
    found = summarise(facts, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
    assert found["all"].count == 2  # hours 1 and 2; 3 is the excluded end


@pytest.mark.parametrize(("days", "recurs"), [(10, 1.0), (30, 1.0), (40, 0.0)])
def test_recurrence_looks_back_thirty_days_for_the_same_group_key(days: int, recurs: float) -> None:
    facts = [
        facts_of(record("first")),
        facts_of(record("second", opened=days * 24 * 60)),
        facts_of(record("other", opened=days * 24 * 60, group_key="other")),
    ]
    # The first is outside the window, but recurrence still looks back at it.
    found = summarise(facts, since=T0 + timedelta(days=1), by="type")
    assert found["harmful_output"].count == 2
    assert found["harmful_output"].recurrence_rate == recurs / 2


def test_csv_rows_have_a_header_and_seconds() -> None:
    facts = [
        facts_of(record("a", occurred=-1, acked=2, timeline=((5, "ack_window.breached", {}),)))
    ]
    assert to_csv_rows(summarise(facts, by="tier")) == [
        [
            "group",
            "incidents",
            "mttd_seconds",
            "mtta_seconds",
            "mttr_seconds",
            "time_to_escalation_seconds",
            "escalation_lateness_max_seconds",
            "ack_window_breach_ratio",
            "clock_on_time_ratio",
            "recurrence_ratio",
        ],
        ["sev1", "1", "60", "120", "", "", "", "1", "", "0"],
    ]


def test_prometheus_exposition_labels_by_the_grouping() -> None:
    facts = [facts_of(record("a", acked=2)), facts_of(record("b", tier='se"v2', acked=1.5))]
    text = prometheus(summarise(facts, by="tier"), "tier")
    lines = text.splitlines()
    assert lines[:4] == [
        "# HELP escalade_incidents Incidents opened in the window.",
        "# TYPE escalade_incidents gauge",
        'escalade_incidents{tier="se\\"v2"} 1',
        'escalade_incidents{tier="sev1"} 1',
    ]
    assert 'escalade_mtta_seconds{tier="sev1"} 120' in lines
    assert 'escalade_mtta_seconds{tier="se\\"v2"} 90' in lines
    assert not any(line.startswith("escalade_mttr_seconds") for line in lines)  # undefined
    assert "# TYPE escalade_recurrence_ratio gauge" in lines
    assert text.endswith("\n")


def test_prometheus_without_grouping_has_no_labels() -> None:
    text = prometheus(summarise([facts_of(record(acked=1))]), None)
    assert "escalade_mtta_seconds 60\n" in text


def test_naive_timestamps_are_refused() -> None:
    rec = record() | {"opened_at": "2025-03-01T12:00:00"}
    with pytest.raises(ValueError, match="no time zone"):
        facts_of(rec)
