"""The incident list: each filter shows exactly its incidents, and paging with
"Older" reaches every incident once, even a batch opened in the same instant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import FakeClock
from escalade.domain.signals import SignalIn
from support.engines import Harness
from support.site import Site, dashboard_site, older_link, open_incident, shown_incidents, sign_in


@pytest.fixture
def site(harness: Harness, clock: FakeClock) -> Iterator[Site]:
    with dashboard_site(harness) as running:
        yield running


def test_older_pages_through_a_batch_opened_in_one_instant(site: Site) -> None:
    batch = [
        SignalIn.model_validate(
            {"kind": "privacy_leak", "subject": {"model": f"chat-{n}"}, "summary": f"leak {n}"}
        )
        for n in range(30)
    ]
    opened = {a.incident_id for a in site.service.ingest(site.service.accept(batch)).accepted}
    assert len(opened) == 30
    assert len({i["opened_at"] for i in site.service.list_incidents(limit=30)}) == 1
    with site.browser() as client:
        sign_in(client, "bob-token")
        first = client.get("/ui/incidents?status=open").text
        older = older_link(first)
        assert older and "status=open" in older  # the filter stays on
        second = client.get(older).text
    page_one, page_two = shown_incidents(first), shown_incidents(second)
    assert len(page_one) == 25 and len(page_two) == 5
    assert set(page_one) | set(page_two) == opened
    assert older_link(second) is None
    assert ">Newest</a>" in second


def test_a_cursor_that_is_not_one_names_its_field(site: Site) -> None:
    with site.browser() as client:
        sign_in(client, "bob-token")
        bad = client.get("/ui/incidents?before=yesterday")
        assert bad.status_code == 422 and "before: expected" in bad.text


def test_each_filter_shows_exactly_its_incidents(site: Site, clock: FakeClock) -> None:
    """Three incidents a day apart (the policy's zone is Europe/Berlin):
    23 Nov a sev1 privacy leak, triggered, led by the ml-primary rotation;
    24 Nov a sev2 fairness breach on credit-v7, acknowledged, led likewise;
    25 Nov a sev4 customer report, resolved, with no roles at all."""
    service = site.service
    leak = open_incident(service, {"kind": "privacy_leak", "subject": {"model": "chat-v2"}})
    clock.advance(days=1)
    fairness = open_incident(
        service,
        {
            "kind": "fairness",
            "value": 0.3,
            "labels": {"env": "production", "segment": "age_65_plus"},
            "subject": {"model": "credit-v7"},
        },
    )
    service.acknowledge(fairness, "alice")
    clock.advance(days=1)
    report = open_incident(service, {"kind": "user_report", "subject": {"model": "chat-v3"}})
    service.resolve(report, "bob")
    expected = {
        "": [report, fairness, leak],
        "status=open": [fairness, leak],
        "status=triggered": [leak],
        "status=acknowledged": [fairness],
        "status=resolved": [report],
        "tier=sev1": [leak],
        "tier=sev2": [fairness],
        "tier=sev3": [],
        "type=customer": [report],
        "type=fairness": [fairness],
        "model=credit-v7": [fairness],
        "model=chat-v2": [leak],
        "team=ml-oncall": [fairness, leak],
        "team=legal": [],
        "since=2026-11-24": [report, fairness],
        "until=2026-11-24": [fairness, leak],  # the whole of the last day
        "since=2026-11-24&until=2026-11-24": [fairness],
        "status=open&tier=sev2&model=credit-v7&team=ml-oncall": [fairness],
    }
    with site.browser() as client:
        sign_in(client, "bob-token")
        for query, ids in expected.items():
            page = client.get(f"/ui/incidents?{query}")
            assert page.status_code == 200, (query, page.text[:300])
            assert shown_incidents(page.text) == ids, query
            assert ("No incidents match." in page.text) == (not ids), query
