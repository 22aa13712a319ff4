"""The dashboard in-process (Starlette's TestClient) over the reference policy, and
the small readers the page tests use: sign in, find a form, list what a page shows."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from escalade.app import create_app
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from escalade.settings import Settings
from support.engines import Harness
from support.policies import REFERENCE_ENV

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "examples/policies/reference.yaml").read_text()
PEOPLE = ("lena", "bob", "alice", "sue")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.DOTALL)
_SHOWN = re.compile(r'<td><a href="/ui/incidents/([a-z]+_[0-9A-Z]+)">')
_OLDER = re.compile(r'<a rel="next" href="([^"]+)">Older</a>')


@dataclass
class Site:
    service: Escalade
    client: TestClient

    @contextmanager
    def browser(self) -> Iterator[TestClient]:
        """The app's client with an empty cookie jar: a fresh browser."""
        self.client.cookies.clear()
        yield self.client


@contextmanager
def dashboard_site(harness: Harness) -> Iterator[Site]:
    """The app on the harness's database: a responder token per person of PEOPLE
    (`<person>-token`), plus admin-token, viewer-token and ingest-token."""
    service = harness.service(text=REFERENCE, env=REFERENCE_ENV)
    service.create_token("admin", "admin", "admin-token")
    for person in PEOPLE:
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


def csrf_of(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(page)
    assert found, page[:500]
    return found.group(1)


def sign_in(client: TestClient, token: str, person: str = "") -> str:
    """Sign in through the form; returns the session's CSRF token."""
    csrf = csrf_of(client.get("/ui/signin").text)
    done = client.post(
        "/ui/signin", data={"csrf": csrf, "token": token, "person": person, "next": ""}
    )
    assert done.status_code == 303, done.text
    page = client.get("/ui/incidents")
    assert page.status_code == 200
    return csrf_of(page.text)


def open_incident(service: Escalade, signal: Mapping[str, object]) -> str:
    result = service.ingest(service.accept([SignalIn.model_validate(signal)]))
    incident_id = result.accepted[0].incident_id
    assert incident_id
    return incident_id


def form_action(page: str, button: str, within: str = "") -> str:
    """Where the page's form with this button posts (the first whose action contains
    `within`); fails when the page offers no such button."""
    for action, body in _FORM.findall(page):
        if f">{button}</button>" in body and within in action:
            return html.unescape(action)
    raise AssertionError(f"no form with a {button!r} button (action containing {within!r})")


def shown_incidents(page: str) -> list[str]:
    """The ids the incident list shows, top to bottom."""
    return _SHOWN.findall(page)


def older_link(page: str) -> str | None:
    found = _OLDER.search(page)
    return html.unescape(found.group(1)) if found else None
