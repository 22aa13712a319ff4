"""`make screenshots`: the main dashboard pages, as people see them, into docs/screenshots.

Starts a real server with the reference policy, plays a short incident (a privacy
leak with a decision and a drafted notice, a fairness breach, a refund review, a
live drill), signs in as the legal liaison and photographs each page on a laptop
and the incident on a phone.

The policy's webhook and mail server are live sinks here, so every page shows
what a working installation shows: deliveries sent, not retries against nothing.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from support.browser import REFERENCE, Dashboard, chromium, dashboard
from support.server import free_port
from support.sink import Sink, start_sink

PAGES = {
    "incidents": "incidents",
    "reviews": "reviews",
    "oncall": "oncall",
    "drills": "drills",
    "policy": "policy",
    "metrics": "metrics",
    "audit": "audit",
}
_SMTP_PORT = 'smtp: {host: "${SMTP_HOST}", port: 25}'


class _Accept:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@contextmanager
def _live_scene(tmp: Path) -> Iterator[tuple[Dashboard, Sink]]:
    """The dashboard with its webhook and SMTP server answering 200 and 250."""
    assert _SMTP_PORT in REFERENCE, "the reference policy's mail server moved"
    port = free_port()
    smtp = Controller(_Accept(), hostname="127.0.0.1", port=port)
    smtp.start()
    sink = start_sink()
    policy = REFERENCE.replace(_SMTP_PORT, f"smtp: {{host: 127.0.0.1, port: {port}}}")
    env = {"OPS_HOOK_URL": f"{sink.url}/ops", "SLACK_WEBHOOK_URL": f"{sink.url}/slack"}
    try:
        with dashboard(tmp, policy_text=policy, env=env) as site:
            yield site, sink
    finally:
        sink.close()
        smtp.stop()


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
    drill = admin.post(
        "/v1/exercises",
        json={
            "name": "monthly on-call check",
            "signal": {"kind": "privacy_leak", "summary": "Drill: a leak nobody caused"},
        },
    )
    assert drill.status_code == 201, drill.text
    admin.post(f"/v1/incidents/{drill.json()['incident_id']}/acknowledge", json={"by": "bob"})
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
    with (
        tempfile.TemporaryDirectory() as tmp,
        _live_scene(Path(tmp)) as (site, sink),
        chromium() as b,
    ):
        incident_id = _scene(site)
        sink.wait_for(1)  # the worker has sent the first pages
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
