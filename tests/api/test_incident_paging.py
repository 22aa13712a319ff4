"""GET /v1/incidents pages by (opened_at, id): a batch that opened in one instant
spans pages without skipping or repeating an incident."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import FakeClock
from escalade.app import create_app
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.settings import Settings
from support.engines import Harness

ADMIN = {"Authorization": "Bearer admin-token"}


@pytest.fixture
def service(harness: Harness) -> Escalade:
    service = harness.service()
    service.create_token("admin", "admin", "admin-token")
    return service


@pytest.fixture
def client(harness: Harness, service: Escalade) -> Iterator[TestClient]:
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as c:
        yield c


def _batch(service: Escalade, n: int, prefix: str) -> set[str]:
    wire = [
        SignalIn.model_validate({"kind": "privacy_leak", "subject": {"model": f"{prefix}{i}"}})
        for i in range(n)
    ]
    return {a.incident_id for a in service.ingest(service.accept(wire)).accepted if a.incident_id}


def test_next_before_pages_through_one_batch(client: TestClient, service: Escalade) -> None:
    opened = _batch(service, 30, "m")
    assert len(opened) == 30
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 12}
    pages = 0
    while True:
        body = client.get("/v1/incidents", params=params, headers=ADMIN).json()
        seen += [i["id"] for i in body["incidents"]]
        pages += 1
        if body["next_before"] is None:
            break
        params["before"] = body["next_before"]
    assert pages == 3 and len(seen) == 30 and set(seen) == opened


def test_an_old_opened_at_cursor_still_pages_by_time(
    client: TestClient, service: Escalade, clock: FakeClock
) -> None:
    early = _batch(service, 2, "early")
    clock.advance(minutes=1)
    _batch(service, 2, "late")
    cut = clock.now().isoformat()
    body = client.get("/v1/incidents", params={"before": cut}, headers=ADMIN).json()
    assert {i["id"] for i in body["incidents"]} == early


def test_a_cursor_that_is_not_one_is_a_422_naming_it(client: TestClient) -> None:
    bad = client.get("/v1/incidents", params={"before": "last tuesday"}, headers=ADMIN)
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_request"
    assert bad.json()["errors"][0]["field"] == "query.before"
