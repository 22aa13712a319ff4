"""Hypothesis against the two parsers that take untrusted input: the policy
loader (mutated real policies) and signal validation (arbitrary JSON through
the HTTP API). No crash, a clear error, and nothing half-written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from conftest import ROOT
from escalade.domain.policy_loader import PolicyError, parse_policy
from escalade.storage.schema import incidents, signals, timeline
from support.apps import standalone_app

DEMO = yaml.safe_load((ROOT / "examples/policies/demo.yaml").read_text())
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["5m", "-1s", "sev1", "${NOPE}", "0", "P1D", "{{ x }}", "*", ""]),
)
JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=False),
        st.text(max_size=20),
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


PATHS = [p for p in _paths(DEMO) if p]


def _mutate(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    copy = orjson.loads(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS, default=str))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "wrap":
        parent[last] = [parent[last]]
    else:
        parent[last] = value
    return copy


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(PATHS),
    action=st.sampled_from(["delete", "replace", "wrap"]),
    value=SCALARS,
)
def test_a_mutated_policy_loads_or_fails_with_located_issues(
    path: tuple[Any, ...], action: str, value: Any
) -> None:
    text = yaml.safe_dump(_mutate(DEMO, path, action, value), sort_keys=False)
    try:
        parse_policy([("mutated.yaml", text)], {})
    except PolicyError as exc:
        assert exc.issues, "a PolicyError must say what is wrong"
        for issue in exc.issues:
            assert issue.line >= 1 and issue.column >= 1 and issue.message.strip()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with (
        standalone_app(tmp_path_factory.mktemp("signals"), {"ingest-token": "ingest"}) as app,
        TestClient(app, raise_server_exceptions=False) as c,
    ):
        yield c


def _counts(client: TestClient) -> tuple[int, ...]:
    service = client.app.state.escalade  # type: ignore[attr-defined]
    with service.db.connect() as conn:
        return tuple(
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (signals, incidents, timeline)
        )


SIGNALISH = st.fixed_dictionaries(
    {"kind": st.one_of(st.sampled_from(["privacy_leak", "fairness"]), JSON)},
    optional={
        "subject": st.one_of(st.dictionaries(st.sampled_from(["model", "system"]), JSON), JSON),
        "labels": st.one_of(st.dictionaries(st.text(max_size=8), st.text(max_size=8)), JSON),
        "value": JSON,
        "summary": JSON,
        "occurred_at": st.one_of(st.sampled_from(["2026-11-23T10:00:00Z", "yesterday"]), JSON),
        "details": JSON,
        "extra": JSON,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        SIGNALISH,
        st.fixed_dictionaries({"signals": st.lists(SIGNALISH, min_size=1, max_size=3)}),
        JSON,
    )
)
def test_any_json_is_accepted_whole_or_refused_whole_naming_a_field(
    client: TestClient, body: Any
) -> None:
    before = _counts(client)
    raw = json.dumps(body).encode()  # stdlib: integers of any size, as a client may send
    response = client.post(
        "/v1/signals",
        content=raw,
        headers={"Authorization": "Bearer ingest-token", "content-type": "application/json"},
    )
    assert response.status_code in (202, 400, 413, 422), response.text
    if response.status_code != 202:
        assert response.json()["message"]
        assert _counts(client) == before, "a refused body wrote something"
    else:
        assert _counts(client)[0] > before[0]
