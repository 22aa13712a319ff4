"""What pages show, decided outside templates: countdowns and chart geometry."""

from datetime import UTC, datetime, timedelta

import pytest

from escalade.engine.backlog import Backlog
from escalade.web import views
from escalade.web.views import bar_chart, countdown, span_text

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_countdowns_read_as_time_left_or_time_overdue() -> None:
    ahead = countdown(NOW + timedelta(hours=2, minutes=3, seconds=4), NOW)
    assert ahead and ahead.text == "in 2h 3m" and not ahead.overdue
    behind = countdown((NOW - timedelta(seconds=90)).isoformat(), NOW)
    assert behind and behind.text == "1m 30s ago" and behind.overdue
    assert countdown(None, NOW) is None
    assert span_text(timedelta(days=3, hours=1)) == "3d 1h"
    assert span_text(timedelta(0)) == "0s"


def test_bars_scale_to_the_largest_value_and_skip_the_unmeasured() -> None:
    chart = bar_chart("MTTA", "seconds", {"sev1": 60.0, "sev2": 240.0, "sev3": None})
    assert [b["label"] for b in chart["bars"]] == ["sev1", "sev2"]
    assert [b["width"] for b in chart["bars"]] == [55, 220]
    assert [b["value"] for b in chart["bars"]] == ["1m", "4m"]
    assert chart["summary"] == "sev1: 1m; sev2: 4m"
    empty = bar_chart("Timeouts", "rate", {"refund": None})
    assert empty["empty"] and empty["summary"] == "no data"
    assert bar_chart("r", "rate", {"a": 0.25})["bars"][0]["value"] == "25%"
    assert bar_chart("s", "seconds", {"a": 0.4})["bars"][0]["value"] == "under 1s"


def backlog_of(lags: tuple[float, float, float], alive: int, depth: int = 0) -> Backlog:
    """Timers, messages and inbox lags in seconds; 7 pending, 2 failed, 1 stale."""
    timers, messages, inbox = lags
    deliveries = {"pending": 7, "failed": 2}
    return Backlog(3, 4, timers, depth, inbox, deliveries, messages, {"alive": alive, "stale": 1})


@pytest.mark.parametrize(
    ("found", "values", "late"),
    [
        (
            backlog_of((0, 0, 0), alive=1),
            ["none", "7 pending; none due", "0; none", "1 alive, 1 presumed dead", "2"],
            [False] * 5,
        ),
        (  # at the thresholds is not past them
            backlog_of((30, 60, 10), alive=1, depth=1),
            [
                "the oldest was due 30s ago",
                "7 pending; the oldest due 1m ago",
                "1; the oldest accepted 10s ago",
                "1 alive, 1 presumed dead",
                "2",
            ],
            [False] * 5,
        ),
        (
            backlog_of((31, 60.5, 10.5), alive=0, depth=250),
            [
                "the oldest was due 31s ago",
                "7 pending; the oldest due 1m ago",
                "250; the oldest accepted 10s ago",
                "0 alive, 1 presumed dead",
                "2",
            ],
            [True, True, True, True, False],
        ),
    ],
)
def test_engine_rows_are_late_past_the_suggested_alert_thresholds(
    found: Backlog, values: list[str], late: list[bool]
) -> None:
    rows = views.engine_rows(found)
    assert [r.value for r in rows] == values
    assert [r.late for r in rows] == late
