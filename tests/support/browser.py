"""A real `escalade serve` with the reference policy, and Debian's Chromium driven by
Playwright, for the dashboard's browser tests and `make screenshots`.

Playwright never downloads a browser here: it launches /usr/bin/chromium (`make
chromium` installs it) with the flags this machine's closed network needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

from support.policies import REFERENCE_ENV
from support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PEOPLE = ("alice", "bob", "lena", "sue", "carol", "erin")


@dataclass
class Dashboard:
    server: ServerProcess
    tokens: dict[str, str] = field(default_factory=dict)
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.server.url}/ui"

    def api(self, name: str = "admin") -> httpx.Client:
        """The HTTP API as `name` (an admin by default)."""
        if name == "admin":
            return self.server.client
        if name not in self.clients:
            self.clients[name] = self.server.as_token(self.tokens[name])
        return self.clients[name]

    def signal(self, body: dict[str, Any]) -> str:
        response = self.server.client.post("/v1/signals", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["signals"][0]["incident_id"])

    def sign_in(self, page: Page, who: str, person: str = "", then: str | None = None) -> None:
        """Sign in; on the sign-in page already when `then` (where it should lead) is given."""
        if then is None:
            page.goto(f"{self.url}/signin")
        page.get_by_label("API token").fill(self.tokens[who])
        if person:
            page.get_by_label("Acting as (person id, optional)").fill(person)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.url}{then or '/incidents'}")


REFERENCE = (ROOT / "examples/policies/reference.yaml").read_text()


@contextmanager
def dashboard(
    tmp: Path, *, policy_text: str = REFERENCE, env: dict[str, str] | None = None
) -> Iterator[Dashboard]:
    """A server on a fresh SQLite file, with a responder token per person; the
    reference policy and its test environment unless told otherwise."""
    policy = tmp / "policy.yaml"
    policy.write_text(policy_text)
    env = {**REFERENCE_ENV, **(env or {}), "ESCALADE_SECRET_KEY": "browser-test-key"}
    server = ServerProcess(f"sqlite:///{tmp / 'escalade.db'}", policy, tmp / "server.log", env)
    server.start()
    site = Dashboard(server)
    try:
        for person in PEOPLE:
            site.tokens[person] = server.token(person, "responder")
        site.tokens["auditor"] = server.token("auditor", "viewer")
        site.tokens["bot"] = server.token("support-bot", "ingest")
        yield site
    finally:
        for client in site.clients.values():
            client.close()
        server.stop()


@contextmanager
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(f"{CHROMIUM} is missing: run `make chromium`")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
