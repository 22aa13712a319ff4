"""The dashboard without a browser: sign-in, CSRF, roles, and every page rendering."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from conftest import ROOT, FakeClock
from escalade.app import create_app
from escalade.domain.reviews import ReviewRequestIn
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.settings import Settings
from escalade.storage import tokens
from escalade.web.sessions import COOKIE
from support.engines import Harness
from support.policies import REFERENCE_ENV

REFERENCE = (ROOT / "examples/policies/reference.yaml").read_text()
EMAIL, KEY = "jane.roe@customer.test", "sk-live_4f9aQ2xZ8bN1cV7mK3pL"
# In a draft only: the incident's own summary is not a message and shows as reported.
OTHER_EMAIL, OTHER_KEY = "john.doe@customer.test", "sk-live_Zq8wE3rT6yU1iO9pA2sD"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    service: Escalade
    client: TestClient

    @contextmanager
    def browser(self) -> Iterator[TestClient]:
        """The app's client with an empty cookie jar: a fresh browser."""
        self.client.cookies.clear()
        yield self.client


@pytest.fixture
def site(harness: Harness, clock: FakeClock) -> Iterator[Site]:
    service = harness.service(text=REFERENCE, env=REFERENCE_ENV)
    service.create_token("admin", "admin", "admin-token")
    for person in ("lena", "bob", "alice", "sue"):
        service.create_token(person, "responder", f"{person}-token")
    service.create_token("auditor", "viewer", "viewer-token")
    service.create_token("monitor", "ingest", "ingest-token")
    settings = Settings(
        database_url=harness.database_url,
        policy=service.policies.path,
        run_engine=False,
        secret_key="test-secret",
    )
    app = create_app(settings, service)
    # Session cookies are Secure: the client must speak https to get them back.
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield Site(service, client)


def sign_in(client: TestClient, token: str, person: str = "") -> str:
    """Sign in through the form; returns the session's CSRF token."""
    form = client.get("/ui/signin")
    csrf = _CSRF.search(form.text)
    assert csrf, form.text
    done = client.post(
        "/ui/signin",
        data={"csrf": csrf.group(1), "token": token, "person": person, "next": ""},
    )
    assert done.status_code == 303, done.text
    page = client.get("/ui/incidents")
    assert page.status_code == 200
    found = _CSRF.search(page.text)
    assert found
    return found.group(1)


def leak(service: Escalade) -> str:
    wire = SignalIn.model_validate(
        {
            "kind": "privacy_leak",
            "subject": {"system": "support-chat", "model": "chat-v2"},
            "summary": f"Model answer showed {EMAIL} and the key {KEY}",
        }
    )
    result = service.ingest(service.accept([wire]))
    incident_id = result.accepted[0].incident_id
    assert incident_id
    return incident_id


def test_every_page_renders_for_a_signed_in_responder(site: Site) -> None:
    inc = leak(site.service)
    site.service.request_decision(inc, "notify_regulator", "lena")
    site.service.draft_message(inc, "customer-initial", "bob")
    with site.browser() as client:
        sign_in(client, "lena-token")
        for path in (
            "/ui/incidents",
            "/ui/incidents?status=open&tier=sev1&type=privacy&model=chat-v2&team=ml-oncall",
            "/ui/incidents?since=2026-11-01&until=2026-11-30",
            f"/ui/incidents/{inc}",
            f"/ui/incidents/{inc}/live",
            "/ui/reviews",
            "/ui/oncall",
            "/ui/policy",
            "/ui/metrics",
            "/ui/audit",
        ):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert "<script>" not in response.text and " onclick=" not in response.text
        detail = client.get(f"/ui/incidents/{inc}").text
        assert "notify_regulator" in detail and "gdpr-art33" in detail
        assert "Acknowledge" in detail
        assert "incident.opened" in client.get("/ui/audit").text
        assert "critical" in client.get("/ui/policy").text


def test_pages_need_a_session_and_a_bad_filter_names_its_field(site: Site) -> None:
    with site.browser() as client:
        anonymous = client.get("/ui/incidents/inc_x")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/ui/signin?next=/ui/incidents/inc_x"
        sign_in(client, "lena-token")
        bad = client.get("/ui/incidents?since=yesterday")
        assert bad.status_code == 422 and "since: expected a date" in bad.text
        assert client.get("/ui/incidents/inc_missing").status_code == 404
        client.cookies.clear()
        poll = client.get(
            "/ui/incidents/inc_x/live",
            headers={"HX-Request": "true", "HX-Current-URL": "https://t/ui/incidents/inc_x"},
        )
        assert poll.status_code == 204
        assert poll.headers["HX-Redirect"] == "/ui/signin?next=/ui/incidents/inc_x"
        form_post = client.post("/ui/incidents/inc_x/acknowledge", data={})
        assert form_post.headers["location"] == "/ui/signin?next="
        static = client.get("/ui/static/htmx.min.js")
        assert static.status_code == 200 and "max-age" in static.headers["cache-control"]


def test_sign_in_refuses_bad_tokens_ingest_tokens_and_impersonation(site: Site) -> None:
    with site.browser() as client:
        csrf = _CSRF.search(client.get("/ui/signin").text)
        assert csrf
        attempts = {
            "nope": ("", 401, "unknown or revoked token"),
            "ingest-token": ("", 403, "cannot open the dashboard"),
            "lena-token": ("bob", 403, "cannot act as"),
        }
        for token, (person, status, text) in attempts.items():
            form = {"csrf": csrf.group(1), "token": token, "person": person}
            response = client.post("/ui/signin", data=form)
            assert response.status_code == status and text in response.text
            assert COOKIE not in response.cookies
        no_csrf = client.post("/ui/signin", data={"csrf": "forged", "token": "lena-token"})
        assert no_csrf.status_code == 403


def test_the_session_cookie_is_secure_httponly_and_lax(site: Site) -> None:
    with site.browser() as client:
        csrf = _CSRF.search(client.get("/ui/signin").text)
        assert csrf
        response = client.post("/ui/signin", data={"csrf": csrf.group(1), "token": "lena-token"})
        header = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE)
        ).lower()
        assert "secure" in header and "httponly" in header and "samesite=lax" in header
        assert "lena-token" not in header


def test_every_post_without_the_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    inc = leak(site.service)
    with site.browser() as client:
        csrf = sign_in(client, "alice-token")
        for forged in ({}, {"csrf": "not-the-token"}, {"csrf": csrf[:-1]}):
            refused = client.post(f"/ui/incidents/{inc}/acknowledge", data=forged)
            assert refused.status_code == 403 and "security token" in refused.text
        assert client.post("/ui/signout", data={}).status_code == 403
        record = site.service.incident(inc)
        assert record and record["status"] == "triggered"
        done = client.post(f"/ui/incidents/{inc}/acknowledge", data={"csrf": csrf})
        assert done.status_code == 303
        record = site.service.incident(inc)
        assert record and record["status"] == "acknowledged"
        assert record["acknowledged_by"] == "alice"


def test_a_viewer_sees_no_buttons_and_cannot_act(site: Site) -> None:
    inc = leak(site.service)
    decided = site.service.request_decision(inc, "notify_regulator", "lena")
    decision_id = decided.incident.decisions[-1]["id"]
    site.service.draft_message(inc, "customer-initial", "bob")
    with site.browser() as client:
        csrf = sign_in(client, "viewer-token")
        page = client.get(f"/ui/incidents/{inc}").text
        for hidden in ("/acknowledge", "/resolve", "/vote", "/approve", "/send", "Draft"):
            assert hidden not in page, hidden
        for path, form in (
            (f"/ui/incidents/{inc}/acknowledge", {}),
            (f"/ui/incidents/{inc}/decisions/{decision_id}/vote", {"approve": "yes"}),
        ):
            refused = client.post(path, data={"csrf": csrf, **form})
            assert refused.status_code == 403 and "may look but not act" in refused.text
        record = site.service.incident(inc)
        assert record and record["status"] == "triggered"
        assert not record["decisions"][-1]["votes"]
        wire = ReviewRequestIn.model_validate({"action": "issue_refund", "args": {"amount": 900}})
        site.service.request_review(wire, "support-bot")
        queue = client.get("/ui/reviews").text
        assert "issue_refund" in queue and "/decision" not in queue


def test_redacted_text_stays_redacted_on_the_page(site: Site) -> None:
    inc = leak(site.service)
    site.service.draft_message(inc, "customer-initial", "bob")
    site.service.edit_message(
        inc,
        site.service.incident(inc)["messages"][-1]["id"],  # type: ignore[index]
        "Notice",
        f"Write to {OTHER_EMAIL} with key {OTHER_KEY}",
        "bob",
    )
    with site.browser() as client:
        sign_in(client, "admin-token", "lena")
        for path in (f"/ui/incidents/{inc}", "/ui/audit", f"/ui/incidents/{inc}/live"):
            text = client.get(path).text
            assert OTHER_KEY not in text and OTHER_EMAIL not in text, path
        page = client.get(f"/ui/incidents/{inc}").text
        assert "Redaction preview: 2 item(s) removed" in page


def test_a_revoked_token_or_a_forged_cookie_ends_the_session(site: Site) -> None:
    with site.browser() as client:
        sign_in(client, "bob-token")
        cookie = client.cookies.get(COOKIE)
        assert cookie
        body, _, mac = cookie.partition(".")
        client.cookies.clear()
        client.cookies.set(COOKIE, f"{body}x.{mac}")
        assert client.get("/ui/incidents").status_code == 303
        client.cookies.clear()
        client.cookies.set(COOKIE, cookie)
        assert client.get("/ui/incidents").status_code == 200
    with site.browser() as client:
        sign_in(client, "bob-token")
        with site.service.db.begin() as conn:
            record = tokens.find(conn, "bob-token")
            assert record
            tokens.revoke(conn, record.id, site.service.clock.now())
        assert client.get("/ui/incidents").status_code == 303


def test_a_review_is_approved_with_edited_arguments_by_its_reviewer(site: Site) -> None:
    wire = ReviewRequestIn.model_validate(
        {"action": "issue_refund", "args": {"amount": 900, "order": "o-1"}, "risk": 0.5}
    )
    review_id = site.service.request_review(wire, "support-bot").review.id
    with site.browser() as client:
        csrf = sign_in(client, "sue-token")
        assert "issue_refund" in client.get("/ui/reviews").text
        url = f"/ui/reviews/{review_id}/decision"
        bad = client.post(url, data={"csrf": csrf, "decision": "approve_edited", "args": "{"})
        assert bad.status_code == 422 and "args: not valid JSON" in bad.text
        form = {
            "csrf": csrf,
            "decision": "approve_edited",
            "args": '{"amount": 500, "order": "o-1"}',
        }
        assert client.post(url, data=form).status_code == 303
    review = site.service.review(review_id)
    assert review and review.decision and review.decision.outcome == "approve"
    assert review.decision.edited and review.decision.args["amount"] == 500
