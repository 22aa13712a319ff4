"""`make screenshots`: the main dashboard pages, as people see them, into docs/screenshots.

Starts a real server with the reference policy, plays a short incident (a privacy
leak with a decision and a drafted notice, a fairness breach, a refund review),
signs in as the legal liaison and photographs each page on a laptop and the
incident on a phone.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from support.browser import Dashboard, chromium, dashboard

PAGES = {
    "incidents": "incidents",
    "reviews": "reviews",
    "oncall": "oncall",
    "policy": "policy",
    "metrics": "metrics",
    "audit": "audit",
}


def _scene(site: Dashboard) -> str:
    leak = site.signal(
        {
            "kind": "privacy_leak",
            "source": "guardrail/chat",
            "subject": {"system": "support-chat", "model": "chat-v2"},
            "summary": "Customer email address in a model answer",
        }
    )
    site.signal(
        {
            "kind": "fairness",
            "value": 0.31,
            "labels": {"env": "production", "segment": "age_65_plus"},
            "subject": {"system": "lending", "model": "credit-v7"},
            "summary": "Approval-rate gap for applicants over 65",
        }
    )
    admin = site.api()
    admin.post(f"/v1/incidents/{leak}/acknowledge", json={"by": "alice"})
    admin.post(f"/v1/incidents/{leak}/decisions", json={"action": "notify_regulator", "by": "lena"})
    admin.post(f"/v1/incidents/{leak}/messages", json={"template": "customer-initial", "by": "bob"})
    site.api("bot").post(
        "/v1/reviews",
        json={
            "action": "issue_refund",
            "args": {"amount": 900, "order": "o-1042"},
            "risk": 0.4,
            "summary": "Refund above the automatic limit",
        },
    )
    return leak


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, dashboard(Path(tmp)) as site, chromium() as b:
        incident_id = _scene(site)
        laptop = b.new_context(viewport={"width": 1280, "height": 860})
        page = laptop.new_page()
        site.sign_in(page, "lena")
        page.goto(f"{site.url}/incidents/{incident_id}")
        page.screenshot(path=str(out / "incident.png"), full_page=True)
        for name, path in PAGES.items():
            page.goto(f"{site.url}/{path}")
            # The audit log grows without end: one screen of it tells enough.
            page.screenshot(path=str(out / f"{name}.png"), full_page=name != "audit")
        page.context.clear_cookies()
        page.goto(f"{site.url}/signin")
        page.screenshot(path=str(out / "signin.png"))
        phone = b.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        small = phone.new_page()
        site.sign_in(small, "lena")
        small.goto(f"{site.url}/incidents/{incident_id}")
        small.screenshot(path=str(out / "incident-phone.png"), full_page=True)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
