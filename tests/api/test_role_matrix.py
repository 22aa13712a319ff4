"""Every role against every route in the app's route table.

MATRIX is the contract, and docs/security.md carries the same table. A route
missing from MATRIX fails the test with the lines to paste (here and in the
docs), so a route added later cannot slip in without a decision on who may call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import ROOT
from escalade.app import create_app
from escalade.settings import Settings
from support.engines import Harness
from support.routes import app_routes

ROLES = ("admin", "responder", "viewer", "ingest")
PUBLIC = "public"
EVERYONE = "admin, responder, viewer, ingest"
ADMIN = "admin"
READERS = "admin, responder, viewer"
RESPONDERS = "admin, responder"
SENDERS = "admin, responder, ingest"
# Routes with a credential of their own (an integration key, a signed acknowledge
# link): no API token of any scope opens them, and no token at all is refused too.
OWN_KEY = "own key only"
# Dashboard pages and forms: a signed-in session cookie (and a CSRF token on every
# form), never a bearer token; without a session they redirect to sign-in.
SESSION = "dashboard session"
# The sign-in form: anyone may post it, with the CSRF token of the sign-in page.
SIGNIN_FORM = "public, with the form's CSRF token"

# (method, path) -> who may call it: "public" (no token), or the roles that may.
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/v1/signals"): SENDERS,
    ("GET", "/v1/signals/{signal_id}"): READERS,
    ("GET", "/v1/incidents"): READERS,
    ("GET", "/v1/incidents/{incident_id}"): READERS,
    ("POST", "/v1/incidents/{incident_id}/acknowledge"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/resolve"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/escalate"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/facts"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/decisions"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/decisions/{decision_id}/votes"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/obligations/{obligation}/submit"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/roles"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/updates"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/severity"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/log"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/action-items"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/action-items/{item_id}"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/messages"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/messages/{message_id}"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/messages/{message_id}/approve"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/messages/{message_id}/send"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/review"): RESPONDERS,
    ("POST", "/v1/incidents/{incident_id}/review/close"): RESPONDERS,
    ("GET", "/v1/incidents/{incident_id}/review.md"): READERS,
    ("GET", "/v1/incidents/{incident_id}/export"): READERS,
    ("PUT", "/v1/systems/{system_id}"): ADMIN,
    ("PUT", "/v1/systems/{system_id}/models/{model}/versions/{version}"): ADMIN,
    ("GET", "/v1/systems"): READERS,
    ("GET", "/v1/systems/{system_id}"): READERS,
    ("POST", "/v1/incidents/{incident_id}/risks"): RESPONDERS,
    ("GET", "/v1/risks"): READERS,
    ("POST", "/v1/reviews"): SENDERS,
    ("GET", "/v1/reviews"): READERS,
    ("GET", "/v1/reviews/{review_id}"): EVERYONE,
    ("POST", "/v1/reviews/{review_id}/decision"): RESPONDERS,
    ("GET", "/v1/metrics/reviews"): READERS,
    ("GET", "/v1/metrics/incidents"): READERS,
    ("GET", "/v1/policy"): READERS,
    ("POST", "/v1/policy/reload"): ADMIN,
    ("GET", "/v1/tokens"): ADMIN,
    ("POST", "/v1/tokens"): ADMIN,
    ("DELETE", "/v1/tokens/{token_id}"): ADMIN,
    ("GET", "/v1/audit/verify"): ADMIN,
    ("POST", "/v1/integrations"): ADMIN,
    ("GET", "/v1/integrations"): ADMIN,
    ("DELETE", "/v1/integrations/{integration_id}"): ADMIN,
    ("POST", "/v2/enqueue"): OWN_KEY,
    ("POST", "/v1/integrations/alertmanager"): OWN_KEY,
    ("POST", "/v1/integrations/grafana"): OWN_KEY,
    ("POST", "/v1/integrations/evidently"): OWN_KEY,
    ("POST", "/v1/integrations/webhook"): OWN_KEY,
    ("GET", "/v1/metrics/learning"): READERS,
    ("GET", "/v1/policy/versions"): READERS,
    ("GET", "/v1/policy/versions/{ref}"): READERS,
    ("GET", "/v1/ack/{token}"): OWN_KEY,
    ("POST", "/v1/ack/{token}"): OWN_KEY,
    ("POST", "/v1/incidents/{incident_id}/feedback"): RESPONDERS,
    ("GET", "/v1/feedback/{token}"): OWN_KEY,
    ("POST", "/v1/feedback/{token}"): OWN_KEY,
    ("GET", "/v1/metrics/feedback"): READERS,
    ("POST", "/v1/exercises"): RESPONDERS,
    ("GET", "/v1/exercises"): READERS,
    ("GET", "/v1/exercises/{incident_id}/report"): READERS,
    ("GET", "/v1/workers"): READERS,
    ("GET", "/"): PUBLIC,
    ("GET", "/ui/signin"): PUBLIC,
    ("POST", "/ui/signin"): SIGNIN_FORM,
    ("POST", "/ui/signout"): SESSION,
    ("POST", "/ui/incidents/{incident_id}/acknowledge"): SESSION,
    ("POST", "/ui/incidents/{incident_id}/resolve"): SESSION,
    ("POST", "/ui/incidents/{incident_id}/decisions/{decision_id}/vote"): SESSION,
    ("POST", "/ui/incidents/{incident_id}/messages"): SESSION,
    ("POST", "/ui/incidents/{incident_id}/messages/{message_id}/approve"): SESSION,
    ("POST", "/ui/incidents/{incident_id}/messages/{message_id}/send"): SESSION,
    ("POST", "/ui/incidents/{incident_id}/items/{item_id}/done"): SESSION,
    ("POST", "/ui/reviews/{review_id}/decision"): SESSION,
    ("GET", "/ui/"): SESSION,
    ("GET", "/ui/incidents"): SESSION,
    ("GET", "/ui/incidents/{incident_id}"): SESSION,
    ("GET", "/ui/incidents/{incident_id}/live"): SESSION,
    ("GET", "/ui/reviews"): SESSION,
    ("POST", "/ui/drills"): SESSION,
    ("GET", "/ui/drills"): SESSION,
    ("GET", "/ui/oncall"): SESSION,
    ("GET", "/ui/policy"): SESSION,
    ("GET", "/ui/metrics"): SESSION,
    ("GET", "/ui/audit"): SESSION,
}


def row(method: str, path: str, who: str) -> str:
    return f"| {method} | `{path}` | {who} |"


@pytest.fixture
def app_client(harness: Harness) -> Iterator[TestClient]:
    service = harness.service()
    for role in ROLES:
        service.create_token(f"{role}-bot", role, f"{role}-token")
    settings = Settings(
        database_url=harness.database_url, policy=service.policies.path, run_engine=False
    )
    with TestClient(create_app(settings, service)) as client:
        yield client


def test_every_route_is_in_the_matrix_and_the_docs(app_client: TestClient) -> None:
    routes = app_routes(app_client.app)  # type: ignore[arg-type]
    missing = [r for r in routes if r not in MATRIX]
    assert not missing, (
        "routes without a role decision; add to MATRIX in tests/api/test_role_matrix.py:\n"
        + "\n".join(f'    ("{m}", "{p}"): RESPONDERS,' for m, p in missing)
        + "\nand to the table in docs/security.md:\n"
        + "\n".join(row(m, p, "admin, responder") for m, p in missing)
    )
    stale = sorted(set(MATRIX) - set(routes))
    assert not stale, f"MATRIX lists routes the app no longer has: {stale}"
    documented = set(re.findall(r"^\|.*\|$", (ROOT / "docs/security.md").read_text(), re.M))
    undocumented = [
        row(m, p, who) for (m, p), who in MATRIX.items() if row(m, p, who) not in documented
    ]
    assert not undocumented, "docs/security.md lacks (or differs on):\n" + "\n".join(undocumented)


def _call(client: TestClient, method: str, path: str, token: str | None) -> tuple[int, str]:
    url = re.sub(r"\{[^}]+\}", "no-such-id", path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {} if method in ("POST", "PUT") else None
    response = client.request(method, url, headers=headers, json=body, follow_redirects=False)
    return response.status_code, response.text


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_each_role_gets_exactly_what_the_matrix_says(
    app_client: TestClient, method: str, path: str
) -> None:
    who = MATRIX[(method, path)]
    status, _ = _call(app_client, method, path, None)
    if who == PUBLIC:
        assert status not in (401, 403)
        return
    if who in (SESSION, SIGNIN_FORM):
        for token in (None, *(f"{role}-token" for role in ROLES)):
            status, _ = _call(app_client, method, path, token)
            assert status == 303 or 400 <= status < 500, f"{method} {path} with {token}: {status}"
        return
    if who == OWN_KEY:
        for token in (None, *(f"{role}-token" for role in ROLES)):
            status, _ = _call(app_client, method, path, token)
            assert 400 <= status < 500, f"{method} {path} with {token} answered {status}"
        return
    assert status == 401, f"{method} {path} without a token answered {status}"
    allowed = {r.strip() for r in who.split(",")}
    for role in ROLES:
        status, text = _call(app_client, method, path, f"{role}-token")
        refused = status == 403 and "may not do this" in text
        if role in allowed:
            assert status != 401 and not refused, f"{role} refused on {method} {path}"
        else:
            assert refused, f"{role} got {status} on {method} {path}, expected 403"
