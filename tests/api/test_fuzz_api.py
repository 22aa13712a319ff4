"""Schemathesis against /openapi.json: every operation with valid and invalid
data, bounded examples, an admin token (so requests get past auth and into the
handlers): no 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from support.apps import standalone_app

ADMIN = {"Authorization": "Bearer admin-token"}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with standalone_app(tmp_path_factory.mktemp("fuzz"), {"admin-token": "admin"}) as app:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_operation_answers_a_5xx(api_schema: object) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[attr-defined]
    assert len(operations) > 40

    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in ((o, m) for o in operations for m in modes):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            if "wait" in (case.query or {}):
                case.query = {**case.query, "wait": 0}  # a long-poll only slows the fuzzer
            response = case.call(headers=ADMIN)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300} -> "
                f"{response.status_code}: {response.text[:300]}"
            )

        try:
            check()
        except Unsatisfiable:
            continue  # nothing invalid to say about an operation without parameters
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert not failures, "\n".join(failures)
