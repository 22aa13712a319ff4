"""The SDK's trust checks: a decision is returned only for what was asked, unexpired.

Records are built with the server's own `ReviewDecision.to_record()`, so these tests
also pin the wire format the SDK reads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from escalade.domain.decisions import canonical_hash
from escalade.domain.reviews import Outcome, Reason, ReviewDecision
from escalade.sdk import EscaladeClient, UntrustedDecision, args_hash
from escalade.sdk.reviews import decision_from

ACTION = "issue_refund"
ARGS = {"order": "o-7", "amount": 400, "note": "café ☕", "lines": [1, 2.5, None]}


def record(
    *,
    outcome: Outcome = Outcome.APPROVE,
    args: dict[str, Any] | None = None,
    expires_in: timedelta = timedelta(hours=1),
) -> dict[str, Any]:
    """A decided review as `GET /v1/reviews/{id}` returns it."""
    args = dict(ARGS if args is None else args)
    now = datetime.now(UTC)
    decision = ReviewDecision(
        outcome=outcome,
        reason=Reason.REVIEWED,
        by=("alice",),
        action=ACTION,
        args=args,
        args_hash=canonical_hash(ACTION, args),
        edited=False,
        comment="ok",
        decided_at=now - timedelta(minutes=1),
        expires_at=now + expires_in,
    )
    return {"id": "rev_1", "status": "decided", "decision": decision.to_record()}


def test_the_sdk_hashes_arguments_as_the_server_does() -> None:
    assert args_hash(ACTION, ARGS) == canonical_hash(ACTION, ARGS)


def test_a_matching_unexpired_approval_is_trusted() -> None:
    decision = decision_from(record(), ACTION)
    assert decision.approved and decision.args == ARGS and decision.by == ("alice",)
    assert decision.review_id == "rev_1" and decision.expires_at is not None


def test_arguments_that_do_not_match_their_hash_are_refused() -> None:
    tampered = record()
    tampered["decision"]["args"]["amount"] = 40_000  # changed after the reviewer approved
    with pytest.raises(UntrustedDecision, match="do not match their hash"):
        decision_from(tampered, ACTION)


def test_a_hash_for_other_arguments_is_refused() -> None:
    tampered = record()
    tampered["decision"]["args_hash"] = args_hash(ACTION, {**ARGS, "amount": 1})
    with pytest.raises(UntrustedDecision, match="do not match their hash"):
        decision_from(tampered, ACTION)


def test_a_decision_for_another_action_is_refused() -> None:
    with pytest.raises(UntrustedDecision, match="not 'wire_transfer'"):
        decision_from(record(), "wire_transfer")


def test_an_expired_approval_is_refused() -> None:
    with pytest.raises(UntrustedDecision, match="expired"):
        decision_from(record(expires_in=timedelta(seconds=-1)), ACTION)


def test_an_expired_denial_stays_a_denial() -> None:
    decision = decision_from(record(outcome=Outcome.DENY, expires_in=-timedelta(hours=2)), ACTION)
    assert decision.outcome == "deny" and not decision.approved


def test_a_review_without_a_decision_is_refused() -> None:
    with pytest.raises(UntrustedDecision, match="carries no decision"):
        decision_from({"id": "rev_1", "status": "decided", "decision": None}, ACTION)


@contextmanager
def lying_server(body: dict[str, Any]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers every POST with `body` (201)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            payload = json.dumps(body).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_client_refuses_a_tampered_decision_from_the_server() -> None:
    tampered = record()
    tampered["decision"]["args"]["amount"] = 40_000
    with (
        lying_server({"review": tampered, "created": True}) as url,
        EscaladeClient(url, "t") as client,
        pytest.raises(UntrustedDecision),
    ):
        client.review(ACTION, ARGS)
