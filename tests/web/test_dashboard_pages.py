"""The dashboard without a browser: sign-in, CSRF, roles, and every page rendering."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from conftest import FakeClock
from escalade.domain.reviews import ReviewRequestIn
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.storage import tokens
from escalade.storage.schema import timeline
from escalade.web.sessions import COOKIE
from support.engines import Harness
from support.site import Site, csrf_of, dashboard_site, open_incident, sign_in

EMAIL, KEY = "jane.roe@customer.test", "sk-live_4f9aQ2xZ8bN1cV7mK3pL"
# In a draft only: the incident's own summary is not a message and shows as reported.
OTHER_EMAIL, OTHER_KEY = "john.doe@customer.test", "sk-live_Zq8wE3rT6yU1iO9pA2sD"


@pytest.fixture
def site(harness: Harness, clock: FakeClock) -> Iterator[Site]:
    with dashboard_site(harness) as running:
        yield running


def leak(service: Escalade) -> str:
    return open_incident(
        service,
        {
            "kind": "privacy_leak",
            "subject": {"system": "support-chat", "model": "chat-v2"},
            "summary": f"Model answer showed {EMAIL} and the key {KEY}",
        },
    )


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


def test_the_metrics_page_shows_the_engine_falling_behind(site: Site, clock: FakeClock) -> None:
    leak(site.service)  # rung 1's pages are due now; this site runs no worker
    with site.browser() as client:
        sign_in(client, "lena-token")
        fresh = client.get("/ui/metrics").text
        assert '<tr><th scope="row">Messages waiting for a worker</th>' in fresh
        clock.advance(minutes=2)
        late = client.get("/ui/metrics").text
    assert re.search(
        r'<tr class="overdue"><th scope="row">Messages waiting for a worker</th>'
        r"<td>\d+ pending; the oldest due 2m ago</td>",
        late,
    ), late
    assert '<tr class="overdue"><th scope="row">Engine processes</th><td>0 alive' in late


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
        csrf = csrf_of(client.get("/ui/signin").text)
        attempts = {
            "nope": ("", 401, "unknown or revoked token"),
            "ingest-token": ("", 403, "cannot open the dashboard"),
            "lena-token": ("bob", 403, "cannot act as"),
        }
        for token, (person, status, text) in attempts.items():
            form = {"csrf": csrf, "token": token, "person": person}
            response = client.post("/ui/signin", data=form)
            assert response.status_code == status and text in response.text
            assert COOKIE not in response.cookies
        no_csrf = client.post("/ui/signin", data={"csrf": "forged", "token": "lena-token"})
        assert no_csrf.status_code == 403


def test_the_session_cookie_is_secure_httponly_and_lax(site: Site) -> None:
    with site.browser() as client:
        csrf = csrf_of(client.get("/ui/signin").text)
        response = client.post("/ui/signin", data={"csrf": csrf, "token": "lena-token"})
        header = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE)
        ).lower()
        assert "secure" in header and "httponly" in header and "samesite=lax" in header
        assert "lena-token" not in header


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


def test_a_responder_starts_a_live_drill_and_a_viewer_only_sees_the_results(site: Site) -> None:
    with site.browser() as client:
        csrf = sign_in(client, "bob-token")
        assert "Start the drill" in client.get("/ui/drills").text
        form = {"csrf": csrf, "name": "night check", "kind": "privacy_leak", "summary": "drill"}
        started = client.post("/ui/drills", data=form)
        assert started.status_code == 303, started.text
        incident_id = started.headers["location"].rsplit("/", 1)[-1]
        assert incident_id.startswith("exr_")
        assert "<strong>[EXERCISE]</strong> A live drill (night check)" in (
            client.get(f"/ui/incidents/{incident_id}").text
        )
        bad = client.post("/ui/drills", data={**form, "kind": ""})
        assert bad.status_code == 422 and "no drill started" in bad.text
    record = site.service.incident(incident_id)
    assert record and record["exercise"] == "night check" and record["obligations"] == []
    with site.browser() as client:
        csrf = sign_in(client, "viewer-token")
        page = client.get("/ui/drills").text
        assert "night check" in page and "Start the drill" not in page
        refused = client.post("/ui/drills", data={"csrf": csrf, "name": "x", "kind": "k"})
        assert refused.status_code == 403
    assert len(site.service.list_exercises()) == 1


_ROLE = re.compile(r"<dt>([a-z_]+)</dt><dd>([^<]+)</dd>")
_CURRENT = re.compile(r'<li class="current" aria-current="step">\s*<strong>Rung (\d+)</strong>')


def test_the_incident_page_shows_roles_the_current_rung_and_its_countdown(
    site: Site, clock: FakeClock
) -> None:
    inc = leak(site.service)  # sev1: the critical ladder, 5 min then 10 min per rung
    with site.browser() as client:
        sign_in(client, "bob-token")
        page = client.get(f"/ui/incidents/{inc}").text
        assert dict(_ROLE.findall(page)) == {
            "comms_lead": "Carol Diaz (carol)",
            "exec_sponsor": "Erin Wolfe (erin)",
            "incident_lead": "Alice Chen (alice)",  # on call for ml-primary this week
            "legal_liaison": "Lena Park (lena)",
            "technical_lead": "Alice Chen (alice)",
        }
        assert "Ladder <code>critical</code>: rung 1 of 3" in page
        assert _CURRENT.findall(page) == ["1"]
        in_five = (clock.now() + timedelta(minutes=5)).isoformat()
        assert f'Next rung <time datetime="{in_five}" data-countdown class="">in 5m</time>' in page
        clock.advance(minutes=2)
        site.service.escalate(inc, "bob")
        live = client.get(f"/ui/incidents/{inc}/live").text
        assert "rung 2 of 3" in live and _CURRENT.findall(live) == ["2"]
        in_ten = (clock.now() + timedelta(minutes=10)).isoformat()
        assert f'<time datetime="{in_ten}" data-countdown class="">in 10m</time>' in live
        site.service.acknowledge(inc, "bob")
        assert "No rung pending." in client.get(f"/ui/incidents/{inc}/live").text


def test_the_on_call_page_names_who_is_on_call_now_and_next(site: Site) -> None:
    with site.browser() as client:
        sign_in(client, "viewer-token")
        page = client.get("/ui/oncall").text
    row = re.search(r'<th scope="row">ml-primary</th>(.*?)</tr>', page, re.DOTALL)
    assert row, page
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.DOTALL)
    # 2026-11-23 11:00 in Berlin: alice's week (weekly from 5 Jan, 09:00) until 30 Nov.
    assert cells[0] == "Alice Chen (alice)" and cells[2] == "Bob Okafor (bob)"
    assert cells[1].startswith("2026-11-30 09:00:00 CET (<time")
    assert ">in 6d 22h</time>" in cells[1]


def test_the_audit_page_says_verified_then_broken_after_a_row_is_edited(site: Site) -> None:
    inc = leak(site.service)
    site.service.acknowledge(inc, "alice", "looking")
    with site.browser() as client:
        sign_in(client, "viewer-token")
        page = client.get("/ui/audit").text
        entries = site.service.verify_audit()["entries"]
        assert f"Verified: {entries} entries in 1 chain(s), no break." in page
        with site.service.db.begin() as conn:
            target = conn.execute(
                select(timeline.c.id).where(timeline.c.kind == "incident.acknowledged")
            ).scalar_one()
            conn.execute(update(timeline).where(timeline.c.id == target).values(actor="mallory"))
        broken = client.get("/ui/audit").text
    assert "Verified" not in broken
    assert 'role="alert" id="verification"><p>Broken: 1 break(s)' in broken
    assert f"<code>{inc} entry #{target} (seq " in broken and "edited" in broken


def test_the_audit_page_checks_the_chains_it_shows_not_the_whole_log(site: Site) -> None:
    older = leak(site.service)
    newer = (
        site.service.ingest(
            site.service.accept(
                [
                    SignalIn.model_validate(
                        {"kind": "privacy_leak", "summary": "again", "dedup_key": "2"}
                    )
                ]
            )
        )
        .accepted[0]
        .incident_id
    )
    assert newer and newer != older
    with site.service.db.begin() as conn:
        first_of_newer = conn.execute(
            select(func.min(timeline.c.id)).where(timeline.c.incident_id == newer)
        ).scalar_one()
        conn.execute(
            update(timeline).where(timeline.c.id == first_of_newer).values(actor="mallory")
        )
    with site.browser() as client:
        sign_in(client, "viewer-token")
        assert "Broken: 1 break(s)" in client.get("/ui/audit").text
        # A page of older entries only: the older incident's chain, which is intact.
        page = client.get(f"/ui/audit?before={first_of_newer}").text
    older_entries = site.service.verify_audit(older)["entries"]
    assert f"Verified: {older_entries} entries in 1 chain(s), no break." in page
