"""The dashboard in Debian's Chromium against a real `escalade serve`.

People run incidents from here, so each test clicks what they click: sign in,
acknowledge, approve a decision, approve and send a message, decide a review,
and watch the timeline update without reloading. Every page is also checked for
Content-Security-Policy violations (the markup has no inline script).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from support.browser import Dashboard, chromium, dashboard

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with dashboard(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    tab.on("console", watch)
    yield tab
    context.close()
    assert not [p for p in problems if "Content Security Policy" in p], problems


def leak(site: Dashboard, model: str) -> str:
    """A sev1 privacy incident of its own (one per model: signals group by subject)."""
    return site.signal(
        {
            "kind": "privacy_leak",
            "subject": {"system": "support-chat", "model": model},
            "summary": "Customer email address in a model answer",
        }
    )


def fairness(site: Dashboard, segment: str) -> str:
    return site.signal(
        {
            "kind": "fairness",
            "value": 0.3,
            "labels": {"env": "production", "segment": segment},
            "subject": {"system": "lending", "model": "credit-v7"},
            "summary": f"approval gap for {segment}",
        }
    )


def test_sign_in_then_acknowledge_an_incident(site: Dashboard, page: Page) -> None:
    incident_id = leak(site, "chat-v2")
    page.goto(f"{site.url}/incidents/{incident_id}")
    page.wait_for_url(re.compile(r".*/ui/signin\?next=/ui/incidents/"))
    site.sign_in(page, "alice")
    page.goto(f"{site.url}/incidents")
    page.get_by_role("link", name="Customer email address in a model answer").first.click()
    expect(page.locator("#status")).to_have_text("triggered")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#status")).to_have_text("acknowledged")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    body = site.api().get(f"/v1/incidents/{incident_id}").json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "alice"


def test_a_viewer_signs_in_and_sees_no_buttons(site: Dashboard, page: Page) -> None:
    incident_id = leak(site, "chat-v3")
    site.sign_in(page, "auditor")
    page.goto(f"{site.url}/incidents/{incident_id}")
    expect(page.locator("#status")).to_have_text("triggered")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)


def test_approve_a_decision(site: Dashboard, page: Page) -> None:
    incident_id = fairness(site, "age_65_plus")
    asked = site.api().post(
        f"/v1/incidents/{incident_id}/decisions",
        json={"action": "rollback_model", "by": "bob", "args": {"to": "7.3.0"}},
    )
    assert asked.status_code == 200, asked.text
    site.sign_in(page, "alice")
    page.goto(f"{site.url}/incidents/{incident_id}")
    card = page.locator("article", has_text="rollback_model")
    expect(card.locator(".status")).to_have_text("pending")
    card.get_by_label("Comment").fill("rollback is safe")
    card.get_by_role("button", name="Approve").click()
    expect(page.locator("article", has_text="rollback_model").locator(".status")).to_have_text(
        "approved"
    )
    decision = site.api().get(f"/v1/incidents/{incident_id}").json()["decisions"][-1]
    assert decision["status"] == "approved"
    assert decision["votes"][0]["by"] == "alice"


def test_draft_approve_and_send_a_message(site: Dashboard, page: Page) -> None:
    incident_id = leak(site, "chat-v4")
    site.sign_in(page, "lena")  # legal liaison of every sev1
    page.goto(f"{site.url}/incidents/{incident_id}")
    page.get_by_label("Draft from template").select_option("regulator-gdpr")
    page.get_by_role("button", name="Draft", exact=True).click()
    card = page.locator("article", has_text="regulator-gdpr")
    expect(card.locator(".status")).to_have_text("draft")
    card.get_by_role("button", name="Approve text").click()
    card = page.locator("article", has_text="regulator-gdpr")
    expect(card).to_contain_text("approved by legal_liaison")
    card.get_by_role("button", name="Send").click()
    expect(page.locator("article", has_text="regulator-gdpr").locator(".status")).to_have_text(
        "sent"
    )
    kinds = [e["kind"] for e in site.api().get(f"/v1/incidents/{incident_id}").json()["timeline"]]
    assert "message.approved" in kinds and "message.sent" in kinds


def test_decide_a_review_with_edited_arguments(site: Dashboard, page: Page) -> None:
    asked = site.api("bot").post(
        "/v1/reviews",
        json={"action": "issue_refund", "args": {"amount": 900, "order": "o-77"}, "risk": 0.4},
    )
    assert asked.status_code == 201, asked.text
    review_id = asked.json()["review"]["id"]
    site.sign_in(page, "sue")  # the support lead the policy names
    page.goto(f"{site.url}/reviews")
    card = page.locator(f"#review-{review_id}")
    card.get_by_label("Arguments to approve").fill('{"amount": 450, "order": "o-77"}')
    card.get_by_label("Comment").fill("half now, rest after the investigation")
    card.get_by_role("button", name="Approve with edits").click()
    expect(page.locator(f"#review-{review_id}")).to_have_count(0)
    review = site.api().get(f"/v1/reviews/{review_id}").json()["review"]
    assert review["decision"]["outcome"] == "approve"
    assert review["decision"]["args"] == {"amount": 450, "order": "o-77"}


def test_a_live_update_arrives_without_reload(site: Dashboard, page: Page) -> None:
    incident_id = fairness(site, "zip_9")
    site.sign_in(page, "bob")
    page.goto(f"{site.url}/incidents/{incident_id}")
    expect(page.locator("#status")).to_have_text("triggered")
    page.evaluate("window.stillTheSamePage = true")
    # Someone else acknowledges through the API, and a second signal joins.
    done = site.api("alice").post(f"/v1/incidents/{incident_id}/acknowledge", json={})
    assert done.status_code == 200, done.text
    assert fairness(site, "zip_9") == incident_id
    expect(page.locator("#status")).to_have_text("acknowledged", timeout=15_000)
    expect(page.locator('.timeline li[data-kind="signal.attached"]')).to_have_count(
        1, timeout=15_000
    )
    assert page.evaluate("window.stillTheSamePage") is True


def test_every_page_opens_on_a_phone(site: Dashboard, browser: Browser, tmp_path: Path) -> None:
    incident_id = leak(site, "chat-v6")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()

    def fits(path: str) -> None:
        phone.goto(f"{site.url}/{path}")
        expect(phone.get_by_role("main")).to_be_visible()
        expect(phone.locator("h1")).to_be_visible()
        # Readable without sideways scrolling of the page itself.
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, (path, width)

    try:
        fits("signin")
        site.sign_in(phone, "alice")
        for path in (
            "incidents",
            f"incidents/{incident_id}",
            "reviews",
            "oncall",
            "drills",
            "policy",
            "metrics",
            "audit",
        ):
            fits(path)
    finally:
        context.close()


def test_a_page_whose_session_ends_goes_to_sign_in(site: Dashboard, page: Page) -> None:
    incident_id = leak(site, "chat-v5")
    site.sign_in(page, "carol")
    page.goto(f"{site.url}/incidents/{incident_id}")
    page.context.clear_cookies()  # as when the session expires or is signed out elsewhere
    page.wait_for_url(re.compile(rf".*/ui/signin\?next=/ui/incidents/{incident_id}$"))
    site.sign_in(page, "carol", then=f"/incidents/{incident_id}")
    expect(page.locator("h1")).to_have_text("Customer email address in a model answer")
