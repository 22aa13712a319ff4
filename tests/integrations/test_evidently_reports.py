"""Evidently reports and test suites to signals."""

from __future__ import annotations

from typing import Any

import pytest

from escalade.integrations import evidently
from escalade.integrations.events import InvalidEvent, Trigger

REPORT: dict[str, Any] = {
    "version": "0.4.33",
    "timestamp": "2026-09-01T10:00:00+00:00",
    "metrics": [
        {
            "metric": "DatasetDriftMetric",
            "result": {"drift_share": 0.5, "number_of_drifted_columns": 1, "dataset_drift": False},
        },
        {
            "metric": "DataDriftTable",
            "result": {
                "number_of_drifted_columns": 1,
                "drift_by_columns": {
                    "income": {
                        "column_name": "income",
                        "column_type": "num",
                        "stattest_name": "Wasserstein distance (normed)",
                        "stattest_threshold": 0.1,
                        "drift_score": 0.42,
                        "drift_detected": True,
                        "current": {"small_distribution": {"x": [1, 2]}},
                    },
                    "age": {"column_name": "age", "drift_score": 0.01, "drift_detected": False},
                },
            },
        },
        {
            "metric": "ColumnDriftMetric",
            "result": {
                "column_name": "zip",
                "stattest_name": "chi-square p_value",
                "drift_score": 0.001,
                "drift_detected": True,
            },
        },
    ],
}
SUITE: dict[str, Any] = {
    "tests": [
        {
            "name": "Share of Drifted Columns",
            "description": "The share of drifted columns is 0.5. The test threshold is lt=0.3",
            "status": "FAIL",
            "group": "data_drift",
            "parameters": {"condition": {"lt": 0.3}, "value": 0.5},
        },
        {"name": "Number of Rows", "description": "fine", "status": "SUCCESS", "group": "x"},
    ],
    "summary": {"all_passed": False, "failed_tests": 1},
}
SUBJECT = {"model": "credit-v7"}


def signals(body: object) -> list[Any]:
    actions = evidently.translate(body, SUBJECT, "evidently/prod")
    assert all(isinstance(a, Trigger) for a in actions)
    return [a.signal for a in actions if isinstance(a, Trigger)]


def test_drifted_columns_become_drift_signals_with_their_scores() -> None:
    found = signals(REPORT)
    assert [(s.kind, s.labels["column"], s.value) for s in found] == [
        ("drift", "income", 0.42),
        ("drift", "zip", 0.001),
    ]
    income = found[0]
    assert income.subject == SUBJECT and income.source == "evidently/prod"
    assert "threshold 0.1" in (income.summary or "")
    assert income.details["evidently"]["stattest_threshold"] == 0.1
    assert "current" not in income.details["evidently"]  # distributions stay out


def test_failed_tests_become_signals_and_passed_ones_do_not() -> None:
    (failed,) = signals(SUITE)
    assert failed.kind == "evidently_test"
    assert failed.value == 0.5
    assert failed.labels == {
        "test": "Share_of_Drifted_Columns",
        "status": "FAIL",
        "group": "data_drift",
    }
    assert (failed.summary or "").startswith("Share of Drifted Columns: FAIL")


def test_a_clean_report_gives_nothing() -> None:
    assert signals({"metrics": [{"metric": "DatasetDriftMetric", "result": {}}]}) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "metrics"),
        ({"metrics": {}}, "metrics"),
        ({"tests": [{"name": "x"}]}, "tests[0].status"),
        ({"tests": [{"status": "FAIL"}]}, "tests[0].name"),
        ({"tests": ["x"]}, "tests[0]"),
        ({"metrics": [3]}, "metrics[0]"),
        ({"metrics": [], "timestamp": "noon"}, "timestamp"),
        ([], "(body)"),
    ],
)
def test_bad_bodies_name_the_field(body: object, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        evidently.translate(body, {}, "evidently")
    assert caught.value.errors[0].field == field
