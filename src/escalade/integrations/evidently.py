"""Evidently reports and test suites (their JSON, as `json()` or `as_dict()` gives it).

Failed tests (status FAIL, ERROR or WARNING) and drifted columns become signals
with their values, so a policy can route `kind: drift` on `signal.value`.
Drift is read from the `DataDriftTable` and `ColumnDriftMetric` results
(`metrics[].metric` + `result`); tests from `tests[]` with `name` and `status`,
which both the classic and the 0.7 layouts share.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from escalade.integrations.events import Action, Trigger, build_signal, fail, parse_time, slug

FAILING = frozenset({"FAIL", "ERROR", "WARNING"})
_DRIFT_TABLES = frozenset({"DataDriftTable", "ColumnDriftMetric"})


def translate(data: object, subject: Mapping[str, str], source: str) -> list[Action]:
    """Signals for one report or test suite; `subject` names the model it is about."""
    if not isinstance(data, Mapping):
        raise fail("(body)", "expected a JSON object")
    metrics, tests = data.get("metrics"), data.get("tests")
    if metrics is None and tests is None:
        raise fail("metrics", "a report needs 'metrics' and a test suite needs 'tests'")
    for part, value in (("metrics", metrics), ("tests", tests)):
        if value is not None and not isinstance(value, list):
            raise fail(part, "expected a list")
    at = parse_time(data.get("timestamp"), "timestamp")
    base = {"source": source, "subject": dict(subject), "occurred_at": at}
    actions: list[Action] = []
    for index, column, result in _drifted(metrics or []):
        fields = {
            **base,
            "kind": "drift",
            "summary": _drift_summary(column, result),
            "value": _number(result.get("drift_score")),
            "labels": {"column": column, "stattest": str(result.get("stattest_name", ""))},
            "details": {"evidently": {k: v for k, v in result.items() if _plain(v)}},
        }
        actions.append(Trigger(build_signal(fields, f"metrics[{index}].")))
    for index, test in enumerate(tests or []):
        if not isinstance(test, Mapping):
            raise fail(f"tests[{index}]", "expected an object")
        status = test.get("status")
        if not isinstance(status, str):
            raise fail(f"tests[{index}].status", "required: a string")
        if status.upper() not in FAILING:
            continue
        name = test.get("name")
        if not isinstance(name, str) or not name:
            raise fail(f"tests[{index}].name", "required: a non-empty string")
        parameters = test.get("parameters")
        parameters = parameters if isinstance(parameters, Mapping) else {}
        fields = {
            **base,
            "kind": "evidently_test",
            "summary": f"{name}: {status}. {test.get('description') or ''}".strip()[:1024],
            "value": _number(parameters.get("value")),
            "labels": {
                "test": slug(name, "test"),
                "status": status.upper(),
                **({"group": str(test["group"])} if test.get("group") else {}),
            },
            "details": {"evidently": {k: v for k, v in test.items() if k != "description"}},
        }
        actions.append(Trigger(build_signal(fields, f"tests[{index}].")))
    return actions


def _drifted(metrics: list[Any]) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """(metric index, column, per-column result) for every column found drifted."""
    for index, metric in enumerate(metrics):
        if not isinstance(metric, Mapping):
            raise fail(f"metrics[{index}]", "expected an object")
        result = metric.get("result")
        if metric.get("metric") not in _DRIFT_TABLES or not isinstance(result, Mapping):
            continue
        columns = result.get("drift_by_columns")
        if isinstance(columns, Mapping):
            for column, per_column in columns.items():
                if isinstance(per_column, Mapping) and per_column.get("drift_detected") is True:
                    yield index, str(column), per_column
        elif result.get("drift_detected") is True:
            yield index, str(result.get("column_name", "column")), result


def _drift_summary(column: str, result: Mapping[str, Any]) -> str:
    score, test = result.get("drift_score"), result.get("stattest_name", "drift test")
    threshold = result.get("stattest_threshold")
    bound = f" (threshold {threshold})" if threshold is not None else ""
    return f"Drift on column {column}: {test} = {score}{bound}"[:1024]


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _plain(value: object) -> bool:
    """Scalars only: the per-column result also holds whole distributions."""
    return value is None or isinstance(value, str | int | float | bool)
