"""The dashboard's forms: every POST refuses a missing or stale CSRF token, and each
button does what it says (decision reject, review approve and reject, mark done)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from conftest import FakeClock
from escalade import web
from escalade.domain.reviews import ReviewRequestIn
from support.engines import Harness
from support.routes import app_routes
from support.site import Site, csrf_of, dashboard_site, form_action, open_incident, sign_in

LEAK = {
    "kind": "privacy_leak",
    "subject": {"system": "support-chat", "model": "chat-v2"},
    "summary": "Customer email address in a model answer",
}
REFUND = {"action": "issue_refund", "args": {"amount": 900, "order": "o-1"}, "risk": 0.5}


def _dashboard_posts() -> list[str]:
    """Every POST the dashboard installs, read from its routes: a new form is in here
    the moment it exists (and test_the_list_is_every_post_of_the_app proves the app
    adds none of its own under /ui)."""
    app = FastAPI()
    web.install(app, "collection-only")
    return sorted(path for method, path in app_routes(app) if method == "POST")


POSTS = _dashboard_posts()


@pytest.fixture
def site(harness: Harness, clock: FakeClock) -> Iterator[Site]:
    with dashboard_site(harness) as running:
        yield running


@dataclass
class Scene:
    """One of everything a form can act on."""

    incident: str
    decision: str
    message: str
    item: str
    review: str

    def path(self, template: str) -> str:
        return template.format(
            incident_id=self.incident,
            decision_id=self.decision,
            message_id=self.message,
            item_id=self.item,
            review_id=self.review,
        )


def _scene(site: Site, clock: FakeClock) -> Scene:
    service = site.service
    incident = open_incident(service, LEAK)
    decided = service.request_decision(incident, "notify_regulator", "bob")
    drafted = service.draft_message(incident, "customer-initial", "bob")
    added = service.add_action_item(
        incident, "Add a PII filter", "alice", clock.now() + timedelta(days=7), "bob"
    )
    review = service.request_review(ReviewRequestIn.model_validate(REFUND), "support-bot")
    return Scene(
        incident,
        decided.incident.decisions[-1]["id"],
        drafted.incident.messages[-1]["id"],
        added.incident.action_items[-1]["id"],
        review.review.id,
    )


def _state(site: Site, scene: Scene) -> tuple[Any, ...]:
    service = site.service
    return (
        service.audit_log(limit=100_000),
        service.incident(scene.incident),
        service.review(scene.review),
        service.list_exercises(),
    )


# Fields that would make each form act, were its CSRF token right.
_WOULD_ACT = {
    "approve": "yes",
    "comment": "forged",
    "note": "forged",
    "template": "customer-initial",
    "decision": "approve",
    "name": "forged drill",
    "kind": "privacy_leak",
    "token": "lena-token",
}


def test_the_list_is_every_post_of_the_app(site: Site) -> None:
    app = site.client.app
    assert isinstance(app, FastAPI)
    ui_posts = sorted(p for m, p in app_routes(app) if m == "POST" and p.startswith("/ui"))
    assert ui_posts == POSTS
    assert len(POSTS) >= 11


@pytest.mark.parametrize("route", POSTS)
def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(
    site: Site, clock: FakeClock, route: str
) -> None:
    scene = _scene(site, clock)
    path = scene.path(route)
    with site.browser() as client:
        if route == "/ui/signin":
            client.get("/ui/signin")  # the pre-session token's cookie
            for forged in ({}, {"csrf": "not-the-token"}):
                refused = client.post(path, data={**_WOULD_ACT, **forged})
                assert refused.status_code == 403 and "security token" in refused.text
                assert "escalade_session" not in refused.cookies
            return
        csrf = sign_in(client, "lena-token")
        before = _state(site, scene)
        for forged in ({}, {"csrf": "not-the-token"}, {"csrf": csrf[:-1]}):
            refused = client.post(path, data={**_WOULD_ACT, **forged})
            assert refused.status_code == 403, (path, refused.status_code)
            assert "security token" in refused.text
        assert _state(site, scene) == before
        assert client.get("/ui/incidents").status_code == 200  # still signed in


def test_acknowledge_with_the_token_acts(site: Site) -> None:
    incident = open_incident(site.service, LEAK)
    with site.browser() as client:
        sign_in(client, "alice-token")
        page = client.get(f"/ui/incidents/{incident}").text
        done = client.post(form_action(page, "Acknowledge"), data={"csrf": csrf_of(page)})
        assert done.status_code == 303
    record = site.service.incident(incident)
    assert record and record["status"] == "acknowledged" and record["acknowledged_by"] == "alice"


def test_reject_a_decision(site: Site) -> None:
    incident = open_incident(site.service, LEAK)
    site.service.request_decision(incident, "notify_regulator", "bob")
    with site.browser() as client:
        sign_in(client, "lena-token")  # legal liaison: one of the approvers
        page = client.get(f"/ui/incidents/{incident}").text
        action = form_action(page, "Reject", within="/vote")
        form = {"csrf": csrf_of(page), "approve": "no", "comment": "not a breach"}
        assert client.post(action, data=form).status_code == 303
        after = client.get(f"/ui/incidents/{incident}").text
    record = site.service.incident(incident)
    assert record
    decision = record["decisions"][-1]
    assert decision["status"] == "rejected"
    assert [(v["by"], v["approve"]) for v in decision["votes"]] == [("lena", False)]
    assert 'status-rejected">rejected<' in after and "Votes: lena rejected" in after
    with pytest.raises(AssertionError):
        form_action(after, "Reject", within="/vote")  # decided: no more buttons


@pytest.mark.parametrize(("button", "outcome"), [("approve", "approve"), ("reject", "deny")])
def test_a_reviewer_approves_or_rejects_a_review_as_asked(
    site: Site, button: str, outcome: str
) -> None:
    review_id = site.service.request_review(
        ReviewRequestIn.model_validate(REFUND), "support-bot"
    ).review.id
    with site.browser() as client:
        sign_in(client, "sue-token")  # the support lead the policy names
        page = client.get("/ui/reviews").text
        action = form_action(page, "Approve", within=review_id)
        assert form_action(page, "Reject", within=review_id) == action
        # The edit box is submitted too; a plain approve must not take its text.
        form = {"csrf": csrf_of(page), "decision": button, "args": '{"amount": 1}'}
        assert client.post(action, data=form).status_code == 303
        queue = client.get("/ui/reviews").text
    review = site.service.review(review_id)
    assert review and review.decision
    assert review.decision.outcome == outcome
    assert not review.decision.edited and review.decision.args == REFUND["args"]
    assert f"review-{review_id}" not in queue  # gone from the pending list
    assert f"<td>{outcome}</td>" in queue  # shown under recently decided


def test_mark_an_action_item_done(site: Site, clock: FakeClock) -> None:
    incident = open_incident(site.service, LEAK)
    site.service.add_action_item(
        incident, "Add a PII filter", "alice", clock.now() + timedelta(days=7), "bob"
    )
    with site.browser() as client:
        sign_in(client, "alice-token")
        page = client.get(f"/ui/incidents/{incident}").text
        assert "Add a PII filter · alice · open · due" in page
        action = form_action(page, "Mark done", within="/items/")
        assert client.post(action, data={"csrf": csrf_of(page)}).status_code == 303
        after = client.get(f"/ui/incidents/{incident}").text
    record = site.service.incident(incident)
    assert record
    [item] = record["action_items"]
    assert item["state"] == "done"
    assert "Add a PII filter · alice · done" in after and "Mark done" not in after
    kinds = [e["kind"] for e in record["timeline"]]
    assert "action_item.done" in kinds
