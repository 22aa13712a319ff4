"""What pages show, decided outside templates: countdowns and chart geometry."""

from datetime import UTC, datetime, timedelta

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
