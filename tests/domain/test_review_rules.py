"""The review core: routing, quorum, edits, escalation and timeouts, in pure code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalade.domain.decisions import canonical_hash
from escalade.domain.effects import CancelTimers, Notify, Record, SetTimer, TimerKind
from escalade.domain.reviews import (
    CALLBACK_CHANNEL,
    Outcome,
    Reason,
    Review,
    ReviewRefused,
    ReviewRequestIn,
    Step,
    answer,
    incident_signal,
    open_review,
    opens_incident,
    review_stats,
    route,
    timer_fired,
)
from support.policies import REVIEWS, policy

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = policy(REVIEWS)


def ask(action: str = "issue_refund", **fields: Any) -> Step:
    body = {"args": {"amount": 900, "order": "o-1"}, **fields}
    request = ReviewRequestIn(action=action, **body)
    return open_review(
        POLICY,
        request,
        review_id="rev_1",
        requested_by="shop-bot",
        incident_id=None,
        roles={},
        now=NOW,
    )


def say(review: Review, person: str, approve: bool = True, **kw: Any) -> Step:
    return answer(
        POLICY,
        review,
        person=person,
        approve=approve,
        edited_args=kw.get("args"),
        comment=kw.get("comment"),
        now=NOW + timedelta(seconds=30),
    )


def test_routes_by_action_and_condition_else_default() -> None:
    big = ReviewRequestIn(action="issue_refund", args={"amount": 900})
    small = ReviewRequestIn(action="issue_refund", args={"amount": 20})
    assert route(POLICY, big).policy_id == "refund-over-limit"
    assert route(POLICY, small).policy_id == "default"
    assert route(POLICY, ReviewRequestIn(action="other")).policy_id == "default"


def test_a_condition_that_cannot_be_evaluated_asks_a_human() -> None:
    routed = route(POLICY, ReviewRequestIn(action="issue_refund", args={}))
    assert routed.policy_id == "refund-over-limit"
    assert routed.note is not None and "could not be evaluated" in routed.note


def test_opening_notifies_every_reviewer_and_sets_the_window() -> None:
    step = ask()
    review = step.review
    assert review.pending and review.reviewers == ("alice", "bob")
    notes = [e for e in step.effects if isinstance(e, Notify)]
    assert {n.person for n in notes} == {"alice", "bob"}
    assert all(n.incident_id == "rev_1" and "issue_refund" in n.subject for n in notes)
    timers = [e for e in step.effects if isinstance(e, SetTimer)]
    assert timers == [SetTimer("rev_1", TimerKind.REVIEW, 0, NOW + timedelta(minutes=2))]


def test_the_default_decides_at_once() -> None:
    step = ask(args={"amount": 5})
    decision = step.review.decision
    assert decision is not None and decision.outcome is Outcome.APPROVE
    assert decision.reason is Reason.AUTOMATIC
    assert not [e for e in step.effects if isinstance(e, Notify)]


def test_an_approval_is_bound_to_the_arguments_and_expires() -> None:
    review = say(ask().review, "bob", comment="fine").review
    decision = review.decision
    assert decision is not None and decision.approved and decision.by == ("bob",)
    assert decision.args_hash == canonical_hash("issue_refund", {"amount": 900, "order": "o-1"})
    assert decision.expires_at == NOW + timedelta(seconds=30) + timedelta(hours=1)
    assert decision.comment == "fine"


def test_an_edit_approves_the_edited_arguments() -> None:
    review = say(ask().review, "alice", args={"amount": 500, "order": "o-1"}).review
    decision = review.decision
    assert decision is not None and decision.approved and decision.edited
    assert decision.args == {"amount": 500, "order": "o-1"}
    assert decision.args_hash == canonical_hash("issue_refund", {"amount": 500, "order": "o-1"})


def test_a_rejection_denies() -> None:
    step = say(ask().review, "alice", approve=False, comment="fraud pattern")
    decision = step.review.decision
    assert decision is not None and decision.outcome is Outcome.DENY
    assert decision.reason is Reason.REVIEWED and decision.expires_at is None
    assert any(isinstance(e, CancelTimers) for e in step.effects)


def test_only_named_reviewers_may_answer_and_only_once() -> None:
    review = ask().review
    with pytest.raises(ReviewRefused) as refused:
        say(review, "carol")
    assert refused.value.reason == "not_a_reviewer"
    decided = say(review, "alice").review
    with pytest.raises(ReviewRefused) as again:
        say(decided, "bob")
    assert again.value.reason == "already_decided"


def test_silence_climbs_to_escalate_to_then_on_timeout_decides() -> None:
    review = ask().review
    later = NOW + timedelta(minutes=2)
    escalated = timer_fired(POLICY, review, 0, {}, later)
    assert escalated.review.escalated_to == ("erin",) and escalated.review.pending
    assert {e.person for e in escalated.effects if isinstance(e, Notify)} == {"erin"}
    stale = timer_fired(POLICY, escalated.review, 0, {}, later)
    assert stale.review is escalated.review and not stale.effects
    timed_out = timer_fired(POLICY, escalated.review, 1, {}, later + timedelta(minutes=2))
    decision = timed_out.review.decision
    assert decision is not None and decision.outcome is Outcome.DENY
    assert decision.reason is Reason.TIMEOUT and decision.by == ()


def test_an_escalation_contact_decides_alone() -> None:
    escalated = timer_fired(POLICY, ask().review, 0, {}, NOW + timedelta(minutes=2)).review
    decision = say(escalated, "erin").review.decision
    assert decision is not None and decision.approved and decision.by == ("erin",)


@pytest.mark.parametrize(
    ("action", "outcome"), [("wire", Outcome.APPROVE), ("send_medical_advice", Outcome.HALT)]
)
def test_on_timeout_without_escalation(action: str, outcome: Outcome) -> None:
    review = ask(action).review
    decision = timer_fired(POLICY, review, 0, {}, NOW + timedelta(minutes=10)).review.decision
    assert (
        decision is not None and decision.outcome is outcome and decision.reason is Reason.TIMEOUT
    )


def test_m_of_n_needs_distinct_people_from_distinct_groups() -> None:
    review = ask("send_medical_advice").review
    assert review.required == 2 and review.groups == (("alice", "bob"), ("carol",))
    after_alice = say(review, "alice").review
    after_bob = say(after_alice, "bob").review
    assert after_bob.pending  # both stand for the same group
    with pytest.raises(ReviewRefused) as duplicate:
        say(after_bob, "alice")
    assert duplicate.value.reason == "already_answered"
    decision = say(after_bob, "carol").review.decision
    assert decision is not None and decision.approved
    assert set(decision.by) == {"alice", "bob", "carol"}


def test_m_of_n_counts_approvals_of_the_same_arguments_only() -> None:
    review = ask("send_medical_advice").review
    edited = say(review, "alice", args={"amount": 1}).review
    assert say(edited, "carol").review.pending  # carol approved the original, alice an edit


def test_callbacks_and_incidents_follow_the_policy() -> None:
    step = ask("send_medical_advice", callback_url="http://127.0.0.1:1/cb")
    denied = say(step.review, "carol", approve=False)
    callbacks = [
        e for e in denied.effects if isinstance(e, Notify) and e.channel == CALLBACK_CHANNEL
    ]
    assert len(callbacks) == 1 and callbacks[0].data["review"]["decision"]["outcome"] == "deny"
    assert opens_incident(POLICY, denied.review) == "deny"
    signal = incident_signal(denied.review, "deny", NOW)
    assert signal.kind == "review_deny" and signal.id == "review-rev_1"
    assert opens_incident(POLICY, say(ask().review, "alice", approve=False).review) is None


def test_reviews_appear_on_the_subject_incident_timeline() -> None:
    request = ReviewRequestIn(
        action="issue_refund", args={"amount": 900}, subject={"system": "shop"}
    )
    step = open_review(
        POLICY,
        request,
        review_id="rev_2",
        requested_by="bot",
        incident_id="inc_9",
        roles={},
        now=NOW,
    )
    owners = {e.incident_id for e in step.effects if isinstance(e, Record)}
    assert owners == {"rev_2", "inc_9"}


def test_records_round_trip() -> None:
    review = say(ask("send_medical_advice").review, "alice").review
    assert Review.from_record(review.to_record()) == review


def test_stats_per_policy() -> None:
    rows = [
        {
            "policy_id": "refund",
            "requested_at": NOW,
            "decided_at": NOW + timedelta(seconds=s),
            "reason": r,
        }
        for s, r in [(10, "reviewed"), (30, "reviewed"), (120, "timeout"), (0, "automatic")]
    ]
    stats = review_stats(rows)["refund"]
    assert stats.decided == 4 and stats.timed_out == 1 and stats.automatic == 1
    assert stats.timeout_rate == pytest.approx(1 / 3)
    assert stats.median_seconds == 30 and stats.p90_seconds == 120


def test_the_wire_format_is_strict() -> None:
    with pytest.raises(ValueError, match="callback_url"):
        ReviewRequestIn(action="x", callback_url="ftp://nope")
    with pytest.raises(ValueError, match="risk"):
        ReviewRequestIn(action="x", risk=2)
    with pytest.raises(ValueError, match="surprise"):
        ReviewRequestIn.model_validate({"action": "x", "surprise": 1})
