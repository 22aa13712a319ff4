"""Human review through a real `escalade serve`: HTTP in, long-poll, callbacks, the SDK."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT
from escalade.sdk import (
    AsyncEscaladeClient,
    EscaladeClient,
    ReviewDenied,
    ReviewHalted,
    args_hash,
    verify_signature,
)
from support.server import TOKEN, ServerProcess, free_port
from support.sink import Sink

pytestmark = pytest.mark.process

POLICY = """
version: 1
people:
  alice: {name: Alice, contacts: [hook]}
  bob:   {name: Bob, contacts: [hook]}
  carol: {name: Carol, contacts: [hook]}
  erin:  {name: Erin, contacts: [hook]}
teams:
  support: {members: [alice, bob]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook", secret: "${SINK_SECRET}"}
tiers:
  sev2: {name: High, ack_within: 1h, ladder: std}
ladders:
  std: {rungs: [{notify: [person:erin], escalate_after: 1h}]}
rules:
  - {id: review-timeout, match: {kind: review_timeout}, tier: sev2, type: ai_action}
default: {tier: sev2}
reviews:
  refund:
    match: {action: issue_refund}
    reviewers: [team:support]
    respond_within: 1m
    on_timeout: deny
  slow-answer:
    match: {action: close_account}
    reviewers: [person:alice]
    respond_within: 1s
    escalate_to: [person:erin]
    on_timeout: deny
    open_incident_on: [timeout]
  auto-approve:
    match: {action: resend_email}
    reviewers: [person:alice]
    respond_within: 1s
    on_timeout: approve
  halt:
    match: {action: send_medical_advice}
    reviewers: [person:alice]
    respond_within: 1s
    on_timeout: halt
  quorum:
    match: {action: publish_model}
    reviewers: {m_of_n: {m: 2, of: [team:support, person:carol]}}
    respond_within: 1m
  default: {deny: automatically}
"""

CALLBACK_SECRET = "callback-secret-for-tests"


@dataclass
class Review:
    server: ServerProcess
    bot: httpx.Client
    bot_token: str
    people: dict[str, httpx.Client]

    def ask(self, action: str, args: dict[str, Any], **fields: Any) -> httpx.Response:
        return self.bot.post("/v1/reviews", json={"action": action, "args": args, **fields})

    def decide(self, review_id: str, person: str, decision: str, **fields: Any) -> httpx.Response:
        return self.people[person].post(
            f"/v1/reviews/{review_id}/decision", json={"decision": decision, **fields}
        )

    def get(self, review_id: str, wait: float = 0) -> dict[str, Any]:
        response = self.bot.get(f"/v1/reviews/{review_id}", params={"wait": wait})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def sdk(self, **options: Any) -> EscaladeClient:
        return EscaladeClient(self.server.url, self.bot_token, **options)

    def pending(self, action: str, timeout: float = 20) -> str:
        """The id of the pending review for `action`, once the SDK has asked."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.server.client.get("/v1/reviews", params={"status": "pending"}).json()
            ids = [r["id"] for r in found["reviews"] if r["action"] == action]
            if ids:
                return str(ids[0])
            time.sleep(0.05)
        raise AssertionError(f"no pending review for {action}")


@pytest.fixture
def reviews(database_url: str, tmp_path: Path, sink: Sink) -> Iterator[Review]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {
        "SINK_URL": sink.url,
        "SINK_SECRET": "s3cret",
        "ESCALADE_CALLBACK_SECRET": CALLBACK_SECRET,
        "ESCALADE_CALLBACK_URLS": f"{sink.url}/cb",
    }
    server = ServerProcess(database_url, policy, tmp_path / "server.log", env)
    server.start()
    bot_token = server.token("support-bot", "ingest")
    people = {
        p: server.as_token(server.token(p, "responder")) for p in ("alice", "bob", "carol", "erin")
    }
    bot = server.as_token(bot_token)
    yield Review(server, bot, bot_token, people)
    for client in (bot, *people.values()):
        client.close()
    server.stop()


def in_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Run `call` in a thread; the returned function joins and returns (or raises)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed back to the test thread
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()

    def result() -> Any:
        thread.join(timeout=60)
        assert not thread.is_alive(), "the call did not return"
        if "error" in box:
            raise box["error"]
        return box["value"]

    return result


def test_approve_reject_and_edit_over_http(reviews: Review, sink: Sink) -> None:
    asked = reviews.ask("issue_refund", {"order": "o-1", "amount": 900}, idempotency_key="o-1")
    assert asked.status_code == 201, asked.text
    review_id = asked.json()["review"]["id"]
    again = reviews.ask("issue_refund", {"order": "o-1", "amount": 900}, idempotency_key="o-1")
    assert again.status_code == 200 and again.json()["review"]["id"] == review_id
    paged = sorted(r.json()["recipient"]["person"] for r in sink.wait_for(2))
    assert paged == ["alice", "bob"]

    waiting = in_thread(lambda: reviews.get(review_id, wait=20))
    time.sleep(0.3)
    edited = {"order": "o-1", "amount": 500}
    answer = reviews.decide(review_id, "bob", "approve", args=edited, comment="cap at 500")
    assert answer.status_code == 200, answer.text
    decision = waiting()["review"]["decision"]
    assert decision["outcome"] == "approve" and decision["edited"] is True
    assert decision["args"] == edited and decision["by"] == ["bob"]
    assert decision["args_hash"] == args_hash("issue_refund", edited)
    assert decision["expires_at"] > decision["decided_at"]
    late = reviews.decide(review_id, "alice", "reject")
    assert late.status_code == 409 and late.json()["error"] == "already_decided"

    rejected = reviews.ask("issue_refund", {"order": "o-2", "amount": 90}).json()["review"]["id"]
    assert (
        reviews.decide(rejected, "alice", "reject", comment="looks like fraud").status_code == 200
    )
    decision = reviews.get(rejected)["review"]["decision"]
    assert (decision["outcome"], decision["comment"]) == ("deny", "looks like fraud")


def test_only_the_named_reviewers_decide(reviews: Review) -> None:
    review_id = reviews.ask("issue_refund", {"amount": 900}).json()["review"]["id"]
    outsider = reviews.decide(review_id, "carol", "approve")
    assert outsider.status_code == 403 and outsider.json()["error"] == "not_a_reviewer"
    posing = reviews.decide(review_id, "carol", "approve", by="alice")
    assert posing.status_code == 403  # a person's token acts only as that person
    body = reviews.get(review_id)
    assert body["review"]["status"] == "pending"
    refused = [e for e in body["timeline"] if e["kind"] == "review.refused"]
    assert [(e["actor"], e["data"]["reason"]) for e in refused] == [
        ("carol", "not_a_reviewer"),
        ("carol", "cannot_act_as"),
    ]
    assert refused[1]["data"]["acting_as"] == "alice"
    ingest_only = reviews.bot.post(
        f"/v1/reviews/{review_id}/decision", json={"decision": "approve", "by": "alice"}
    )
    assert ingest_only.status_code == 403  # the asking system cannot approve itself
    last = [e for e in reviews.get(review_id)["timeline"] if e["kind"] == "review.refused"][-1]
    assert (last["data"]["reason"], last["data"]["scope"]) == ("scope", "ingest")


def test_m_of_n_needs_distinct_reviewers(reviews: Review) -> None:
    review_id = reviews.ask("publish_model", {"model": "m7"}).json()["review"]["id"]
    assert reviews.decide(review_id, "alice", "approve").status_code == 200
    duplicate = reviews.decide(review_id, "alice", "approve")
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "already_answered"
    assert reviews.decide(review_id, "bob", "approve").status_code == 200
    assert reviews.get(review_id)["review"]["status"] == "pending"  # same group as alice
    assert reviews.decide(review_id, "carol", "approve").status_code == 200
    decision = reviews.get(review_id)["review"]["decision"]
    assert decision["outcome"] == "approve" and sorted(decision["by"]) == ["alice", "bob", "carol"]


def test_silence_escalates_then_each_on_timeout_decides_and_is_counted(
    reviews: Review, sink: Sink
) -> None:
    denied = reviews.ask("close_account", {"account": "a-9"}, subject={"system": "crm"})
    approved = reviews.ask("resend_email", {"to": "customer"})
    halted = reviews.ask("send_medical_advice", {"dose": "2x"})
    ids = [r.json()["review"]["id"] for r in (denied, approved, halted)]
    outcomes = {}
    for review_id in ids:
        body = reviews.get(review_id, wait=20)
        assert body["review"]["status"] == "decided", body
        outcomes[review_id] = body["review"]["decision"]
    assert [(outcomes[i]["outcome"], outcomes[i]["reason"]) for i in ids] == [
        ("deny", "timeout"),
        ("approve", "timeout"),
        ("halt", "timeout"),
    ]
    escalated = reviews.get(ids[0])
    assert "review.escalated" in [e["kind"] for e in escalated["timeline"]]
    hook = [r.json() for r in sink.snapshot() if r.path == "/hook"]
    assert any(
        b["recipient"]["person"] == "erin" and b["incident_id"] == ids[0] for b in hook
    )  # escalate_to was paged
    incidents = reviews.server.client.get("/v1/incidents").json()["incidents"]
    assert [i["type"] for i in incidents] == ["ai_action"]  # open_incident_on: [timeout]

    answered = reviews.ask("issue_refund", {"amount": 5}).json()["review"]["id"]
    assert reviews.decide(answered, "alice", "approve").status_code == 200
    automatic = reviews.ask("wire_money", {"to": "x"}).json()["review"]  # default: deny
    assert automatic["decision"]["reason"] == "automatic"
    metrics = reviews.server.client.get("/v1/metrics/reviews", params={"days": 7}).json()
    assert metrics["days"] == 7
    policies = metrics["policies"]
    assert sorted(policies) == ["auto-approve", "default", "halt", "refund", "slow-answer"]
    slow = policies["slow-answer"]
    assert (slow["decided"], slow["timed_out"], slow["automatic"]) == (1, 1, 0)
    assert slow["timeout_rate"] == 1.0
    assert slow["time_to_decision_p50_seconds"] >= 2  # respond_within, then escalate_to: 1 s each
    assert (policies["refund"]["timed_out"], policies["refund"]["timeout_rate"]) == (0, 0.0)
    default = policies["default"]
    assert (default["automatic"], default["timeout_rate"]) == (1, None)
    assert default["time_to_decision_p50_seconds"] is None  # nobody was asked


def test_signed_callback_is_retried_and_verifies(reviews: Review, sink: Sink) -> None:
    sink.fail_path["/cb"] = [500]
    review_id = reviews.ask("issue_refund", {"amount": 700}, callback_url=f"{sink.url}/cb").json()[
        "review"
    ]["id"]
    assert reviews.decide(review_id, "alice", "approve").status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        calls = [r for r in sink.snapshot() if r.path == "/cb"]
        if calls:
            break
        time.sleep(0.1)
    first, second = sink.refused[0], calls[0]
    assert first.path == "/cb"
    assert first.headers["X-Escalade-Delivery"] == second.headers["X-Escalade-Delivery"]
    assert verify_signature(CALLBACK_SECRET, second.body, second.headers)
    assert not verify_signature("wrong-secret", second.body, second.headers)
    assert not verify_signature(CALLBACK_SECRET, second.body + b" ", second.headers)
    body = second.json()
    assert body["type"] == "escalade.review.decided"
    assert body["review"]["id"] == review_id and body["review"]["decision"]["outcome"] == "approve"
    elsewhere = reviews.ask("issue_refund", {"amount": 1}, callback_url="http://10.0.0.1/steal")
    assert elsewhere.status_code == 422 and "ESCALADE_CALLBACK_URLS" in elsewhere.json()["message"]


def test_sdk_decorator_runs_only_what_was_approved(reviews: Review) -> None:
    client = reviews.sdk()
    refunds: list[tuple[str, int]] = []

    @client.require_approval(action="issue_refund", risk=0.7, exclude=("note",))
    def issue_refund(order: str, amount: int, note: object = None) -> str:
        refunds.append((order, amount))
        return f"refunded {amount}"

    result = in_thread(lambda: issue_refund("o-7", 900, note=object()))
    review_id = reviews.pending("issue_refund")
    reviews.decide(review_id, "alice", "approve", args={"order": "o-7", "amount": 400})
    assert result() == "refunded 400"
    assert refunds == [("o-7", 400)]

    denied = in_thread(lambda: issue_refund("o-8", 900))
    reviews.decide(reviews.pending("issue_refund"), "bob", "reject", comment="no")
    with pytest.raises(ReviewDenied) as raised:
        denied()
    assert raised.value.decision.by == ("bob",) and refunds == [("o-7", 400)]

    @client.require_approval(action="send_medical_advice")
    def advise(dose: str) -> None:
        raise AssertionError("must not run")

    with pytest.raises(ReviewHalted):
        advise("2x")
    client.close()


def test_sdk_async_decorator(reviews: Review) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with AsyncEscaladeClient(reviews.server.url, reviews.bot_token) as client:

            @client.require_approval(action="issue_refund")
            async def refund(order: str, amount: int) -> int:
                return amount

            approved = asyncio.create_task(refund("o-1", 50))
            review_id = await asyncio.to_thread(reviews.pending, "issue_refund")
            await asyncio.to_thread(reviews.decide, review_id, "alice", "approve")
            denied = asyncio.create_task(refund("o-2", 60))
            other = await asyncio.to_thread(reviews.pending, "issue_refund")
            async with AsyncEscaladeClient(reviews.server.url, TOKEN) as admin:
                queue = await admin.reviews(status="pending")
                assert [r["id"] for r in queue] == [other]
                answered = await admin.decide(other, False, comment="no", by="bob")
                assert (await admin.get_review(other))["status"] == "decided"
                asked = await client.request_review("issue_refund", {"order": "o-3"}, summary="s")
                assert asked["status"] == "pending"
                await admin.decide(asked["id"], True, by="alice")
                decided = await client.get_review(asked["id"], wait=10)
                assert decided["decision"]["by"] == ["alice"]
            assert answered["decision"]["by"] == ["bob"]
            return await approved, await asyncio.gather(denied, return_exceptions=True)

    amount, [error] = asyncio.run(scenario())
    assert amount == 50 and isinstance(error, ReviewDenied)


def test_the_sdk_fails_closed_when_escalade_is_down() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    closed = EscaladeClient(nowhere, "t", retry_for=0.3)
    decision = closed.review("issue_refund", {"amount": 1})
    assert (decision.outcome, decision.reason, decision.approved) == ("deny", "unreachable", False)
    opened = EscaladeClient(nowhere, "t", retry_for=0.3, on_unreachable="approve")
    assert opened.review("issue_refund", {"amount": 1}).approved
    closed.close()
    opened.close()


def test_the_async_sdk_fails_closed_when_escalade_is_down() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"

    async def scenario() -> tuple[Any, Any, list[BaseException | None]]:
        async with (
            AsyncEscaladeClient(nowhere, "t", retry_for=0.3) as closed,
            AsyncEscaladeClient(nowhere, "t", retry_for=0.3, on_unreachable="approve") as opened,
        ):

            @closed.require_approval(action="issue_refund")
            async def refund(amount: int) -> int:
                raise AssertionError("must not run")

            denied = await closed.review("issue_refund", {"amount": 1})
            approved = await opened.review("issue_refund", {"amount": 1})
            raised = await asyncio.gather(refund(1), return_exceptions=True)
            return denied, approved, raised

    denied, approved, [error] = asyncio.run(scenario())
    assert (denied.outcome, denied.reason, denied.approved) == ("deny", "unreachable", False)
    assert approved.approved and approved.reason == "unreachable"
    assert isinstance(error, ReviewDenied) and error.decision.reason == "unreachable"


def test_the_sdk_fails_closed_on_a_server_error(sink: Sink) -> None:
    """A real server on 127.0.0.1 that answers 503: retried, then denied, sync and async."""
    sink.down_until["/v1/reviews"] = time.time() + 60
    with EscaladeClient(sink.url, "t", retry_for=0.5) as client:
        decision = client.review("issue_refund", {"amount": 1})
    assert (decision.outcome, decision.reason) == ("deny", "unreachable")
    assert decision.comment is not None and "HTTP 503" in decision.comment
    tried = len(sink.refused)
    assert tried >= 2  # retried before deciding on its own

    async def scenario() -> Any:
        async with AsyncEscaladeClient(sink.url, "t", retry_for=0.5) as client:
            return await client.review("issue_refund", {"amount": 1})

    decision = asyncio.run(scenario())
    assert (decision.outcome, decision.reason) == ("deny", "unreachable")
    assert decision.comment is not None and "HTTP 503" in decision.comment
    assert len(sink.refused) >= tried + 2
    assert sink.received == []  # nothing ever got through


def test_the_example_agent_acts_only_as_a_reviewer_decides(reviews: Review) -> None:
    """examples/agent.py, the agent of docs/reviews.md, against a real server."""
    env = {**os.environ, "ESCALADE_URL": reviews.server.url, "ESCALADE_TOKEN": reviews.bot_token}

    def agent(order: str, amount: int) -> subprocess.Popen[str]:
        command = [sys.executable, str(ROOT / "examples/agent.py"), order, str(amount)]
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)

    def outcome(process: subprocess.Popen[str]) -> tuple[int, str]:
        try:
            out, _ = process.communicate(timeout=60)
        finally:
            process.kill()
        return process.returncode, out.strip()

    refunding = agent("o-1043", 900)
    review_id = reviews.pending("issue_refund")
    assert reviews.get(review_id)["review"]["args"] == {"order": "o-1043", "amount": 900}
    edited = {"order": "o-1043", "amount": 400}
    assert reviews.decide(review_id, "alice", "approve", args=edited).status_code == 200
    assert outcome(refunding) == (0, "refunded 400 on order o-1043")

    refused = agent("o-1044", 900)
    reviews.decide(reviews.pending("issue_refund"), "bob", "reject", comment="looks like fraud")
    code, out = outcome(refused)
    assert code == 1 and out.startswith("not refunded: issue_refund was denied (bob)"), out
    assert "looks like fraud" in out


def test_a_waiting_review_survives_a_restart(reviews: Review) -> None:
    client = reviews.sdk(retry_for=30)
    waiting = in_thread(lambda: client.review("issue_refund", {"order": "o-9", "amount": 900}))
    review_id = reviews.pending("issue_refund")
    reviews.server.kill()
    reviews.server.start()
    assert reviews.decide(review_id, "bob", "approve").status_code == 200
    decision = waiting()
    assert decision.approved and decision.review_id == review_id
    silent = reviews.ask("close_account", {"account": "a-1"}).json()["review"]["id"]
    reviews.server.kill()
    time.sleep(2.5)  # both windows pass while nothing runs
    reviews.server.start()
    after = reviews.get(silent, wait=20)["review"]
    assert after["decision"]["reason"] == "timeout"  # the timers were kept and fired
    client.close()


def test_sdk_imports_without_the_server_dependencies(tmp_path: Path) -> None:
    blocked = [
        "fastapi",
        "sqlalchemy",
        "pydantic",
        "alembic",
        "uvicorn",
        "jinja2",
        "starlette",
        "psycopg",
    ]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from escalade.sdk import EscaladeClient, AsyncEscaladeClient, verify_signature\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
