"""Decision rights: every rule, every allowed and forbidden move, and a counting property."""

import contextlib
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalade.domain.decisions import (
    ALLOWED,
    Decision,
    DecisionRefused,
    DecisionStatus,
    Transition,
    canonical_hash,
    is_authorised,
    quorum_state,
    request,
    stall,
    vote,
)
from escalade.domain.policy_governance import DecisionRight

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

ROLLBACK = DecisionRight.model_validate(
    {
        "approvers": {"any_of": ["technical_lead", "incident_lead"]},
        "decide_within": "15m",
        "fallback": "exec_sponsor",
        "blocked_by_evidence_hold": True,
    }
)
HALT = DecisionRight.model_validate(
    {
        "approvers": {
            "m_of_n": {"m": 2, "of": ["technical_lead", "security_lead", "legal_liaison"]}
        },
        "separation_of_duties": True,
        "decide_within": "30m",
        "fallback": "exec_sponsor",
    }
)
NOTIFY = DecisionRight.model_validate(
    {
        "approvers": {"all_of": ["legal_liaison", "exec_sponsor"]},
        "decide_within": "4h",
        "fallback": "exec_sponsor",
    }
)
ROLES = {
    "technical_lead": "tina",
    "incident_lead": "ivan",
    "security_lead": "sam",
    "legal_liaison": "lena",
    "exec_sponsor": "erin",
}


def open_(
    right: DecisionRight,
    action: str = "act",
    by: str = "ivan",
    hold: bool = False,
    args: dict[str, Any] | None = None,
) -> Decision:
    return request(
        action,
        right,
        decision_id="d1",
        args=args if args is not None else {"model": "m-7"},
        by=by,
        evidence_hold_active=hold,
        now=T0,
    )


def cast(
    decision: Decision,
    right: DecisionRight,
    by: str,
    approve: bool = True,
    roles: dict[str, str] = ROLES,
    at: timedelta = MINUTE,
) -> Decision:
    return vote(decision, right, by=by, approve=approve, roles=roles, now=T0 + at)


def refusal(excinfo: pytest.ExceptionInfo[DecisionRefused]) -> str:
    return excinfo.value.reason


# --- Requests -----------------------------------------------------------------------


def test_a_request_is_pending_and_due_after_decide_within() -> None:
    decision = open_(ROLLBACK)
    assert decision.status is DecisionStatus.PENDING
    assert decision.due_at == T0 + 15 * MINUTE
    assert decision.args_hash == canonical_hash("act", {"model": "m-7"})
    assert decision.reason is None and decision.votes == ()


def test_an_action_without_a_right_is_refused() -> None:
    with pytest.raises(DecisionRefused) as excinfo:
        open_(None)  # type: ignore[arg-type]
    assert refusal(excinfo) == "no_such_right"


def test_an_evidence_hold_blocks_the_request_and_the_block_is_returned() -> None:
    decision = open_(ROLLBACK, hold=True)
    assert (decision.status, decision.reason) == (DecisionStatus.BLOCKED, "evidence_hold")
    with pytest.raises(DecisionRefused) as excinfo:
        cast(decision, ROLLBACK, "tina")
    assert refusal(excinfo) == "not_pending"
    assert quorum_state(decision, ROLLBACK, ROLES) == "blocked (evidence_hold)"


def test_a_hold_does_not_block_a_right_that_ignores_holds() -> None:
    assert open_(NOTIFY, hold=True).status is DecisionStatus.PENDING


def test_business_day_windows_take_an_explicit_due_time() -> None:
    right = NOTIFY.model_copy(update={"decide_within": NOTIFY.decide_within.parse("2bd")})
    with pytest.raises(ValueError, match="business days"):
        open_(right)
    decision = request(
        "act", right, decision_id="d", args={}, by="a", evidence_hold_active=False, now=T0,
        due_at=T0 + timedelta(days=4),
    )  # fmt: skip
    assert decision.due_at == T0 + timedelta(days=4)


# --- Forms of approvers -------------------------------------------------------------


def test_any_of_one_approver_decides() -> None:
    decision = cast(open_(ROLLBACK), ROLLBACK, "tina")
    assert (decision.status, decision.reason) == (DecisionStatus.APPROVED, "quorum")
    assert decision.decided_at == T0 + MINUTE
    assert decision.valid_until == T0 + MINUTE + timedelta(hours=24)
    assert decision.votes[0].roles == ("technical_lead",)


def test_all_of_needs_every_role() -> None:
    decision = cast(open_(NOTIFY), NOTIFY, "lena")
    assert decision.status is DecisionStatus.PENDING
    assert quorum_state(decision, NOTIFY, ROLES) == "1 of 2 approvals (legal_liaison, exec_sponsor)"
    decision = cast(decision, NOTIFY, "erin")
    assert decision.status is DecisionStatus.APPROVED


def test_all_of_needs_a_distinct_person_for_each_role() -> None:
    roles = {**ROLES, "exec_sponsor": "lena"}
    decision = cast(open_(NOTIFY), NOTIFY, "lena", roles=roles)
    assert decision.status is DecisionStatus.PENDING
    assert decision.votes[0].roles == ("legal_liaison", "exec_sponsor")
    assert quorum_state(decision, NOTIFY, roles).startswith("1 of 2 approvals")


def test_m_of_n_two_of_three_and_a_second_vote_is_refused() -> None:
    decision = cast(open_(HALT), HALT, "tina")
    assert decision.status is DecisionStatus.PENDING
    with pytest.raises(DecisionRefused) as excinfo:
        cast(decision, HALT, "tina", at=2 * MINUTE)
    assert refusal(excinfo) == "already_voted"
    decision = cast(decision, HALT, "sam")
    assert decision.status is DecisionStatus.APPROVED
    assert quorum_state(decision, HALT, ROLES) == (
        "approved (2 of 2 approvals (technical_lead, security_lead, legal_liaison))"
    )


def test_a_person_holding_two_roles_counts_once() -> None:
    roles = {**ROLES, "security_lead": "tina"}
    decision = cast(open_(HALT), HALT, "tina", roles=roles)
    assert decision.status is DecisionStatus.PENDING
    assert quorum_state(decision, HALT, roles).startswith("1 of 2 approvals")


def test_a_role_handed_over_mid_decision_counts_once() -> None:
    decision = cast(open_(HALT), HALT, "tina")
    handed_over = {**ROLES, "technical_lead": "tom"}
    decision = cast(decision, HALT, "tom", roles=handed_over)
    assert decision.status is DecisionStatus.PENDING
    assert quorum_state(decision, HALT, handed_over).startswith("1 of 2 approvals")
    assert cast(decision, HALT, "sam", roles=handed_over).status is DecisionStatus.APPROVED


# --- Who may vote -------------------------------------------------------------------


def test_separation_of_duties_forbids_the_requester() -> None:
    decision = open_(HALT, by="tina")
    for approve in (True, False):
        with pytest.raises(DecisionRefused) as excinfo:
            cast(decision, HALT, "tina", approve=approve)
        assert refusal(excinfo) == "requester_cannot_approve"


def test_without_separation_of_duties_the_requester_may_approve() -> None:
    assert cast(open_(ROLLBACK, by="tina"), ROLLBACK, "tina").status is DecisionStatus.APPROVED


def test_someone_holding_no_approver_role_is_refused() -> None:
    for person in ("erin", "mallory"):
        with pytest.raises(DecisionRefused) as excinfo:
            cast(open_(ROLLBACK), ROLLBACK, person)
        assert refusal(excinfo) == "not_an_approver"
        assert "holds none of the roles" in str(excinfo.value)


def test_any_rejection_ends_the_decision() -> None:
    decision = cast(open_(HALT), HALT, "tina")
    decision = cast(decision, HALT, "lena", approve=False)
    assert (decision.status, decision.reason) == (DecisionStatus.REJECTED, "rejected")
    assert decision.decided_at == T0 + MINUTE and decision.valid_until is None
    with pytest.raises(DecisionRefused) as excinfo:
        cast(decision, HALT, "sam")
    assert refusal(excinfo) == "not_pending"


def test_voting_on_a_decided_decision_is_refused() -> None:
    decision = cast(open_(ROLLBACK), ROLLBACK, "tina")
    for person, approve in (("ivan", True), ("ivan", False), ("tina", True)):
        with pytest.raises(DecisionRefused) as excinfo:
            cast(decision, ROLLBACK, person, approve=approve)
        assert refusal(excinfo) == "not_pending"


# --- Stalling and the fallback ------------------------------------------------------


def test_stall_before_due_changes_nothing() -> None:
    decision = open_(HALT)
    assert stall(decision, HALT, now=T0 + 29 * MINUTE) is decision


def test_stall_activates_the_fallback_who_may_then_approve_alone() -> None:
    decision = cast(open_(HALT), HALT, "tina")
    with pytest.raises(DecisionRefused) as excinfo:
        cast(decision, HALT, "erin")
    assert refusal(excinfo) == "not_an_approver"
    stalled = stall(decision, HALT, now=T0 + 30 * MINUTE)
    assert stalled.fallback_active and stalled.status is DecisionStatus.PENDING
    assert quorum_state(stalled, HALT, ROLES).endswith(
        "overdue: the fallback exec_sponsor (erin) may approve alone"
    )
    assert stall(stalled, HALT, now=T0 + 40 * MINUTE) is stalled
    approved = cast(stalled, HALT, "erin", at=31 * MINUTE)
    assert (approved.status, approved.reason) == (DecisionStatus.APPROVED, "fallback")
    assert approved.votes[-1].as_fallback and approved.votes[-1].roles == ("exec_sponsor",)
    assert quorum_state(approved, HALT, ROLES).startswith("approved by the fallback exec_sponsor")


def test_the_fallback_may_also_reject() -> None:
    stalled = stall(open_(HALT), HALT, now=T0 + 30 * MINUTE)
    assert cast(stalled, HALT, "erin", approve=False).status is DecisionStatus.REJECTED


def test_ordinary_approvers_still_count_after_a_stall() -> None:
    stalled = stall(cast(open_(HALT), HALT, "tina"), HALT, now=T0 + 30 * MINUTE)
    approved = cast(stalled, HALT, "sam", at=31 * MINUTE)
    assert (approved.status, approved.reason) == (DecisionStatus.APPROVED, "quorum")


def test_a_fallback_who_approved_as_an_approver_may_confirm_alone_once() -> None:
    decision = cast(open_(NOTIFY), NOTIFY, "erin")
    stalled = stall(decision, NOTIFY, now=T0 + 4 * 60 * MINUTE)
    approved = cast(stalled, NOTIFY, "erin", at=5 * 60 * MINUTE)
    assert (approved.status, approved.reason) == (DecisionStatus.APPROVED, "fallback")
    fresh = stall(open_(NOTIFY), NOTIFY, now=T0 + 4 * 60 * MINUTE)
    stalled_twice = cast(fresh, NOTIFY, "lena")
    assert stalled_twice.status is DecisionStatus.PENDING


def test_separation_of_duties_binds_the_fallback_too() -> None:
    stalled = stall(open_(HALT, by="erin"), HALT, now=T0 + 30 * MINUTE)
    with pytest.raises(DecisionRefused) as excinfo:
        cast(stalled, HALT, "erin")
    assert refusal(excinfo) == "requester_cannot_approve"


def test_stall_without_a_fallback_or_after_a_decision_changes_nothing() -> None:
    no_fallback = HALT.model_copy(update={"fallback": None})
    decision = open_(no_fallback)
    assert stall(decision, no_fallback, now=T0 + timedelta(days=1)) is decision
    approved = cast(open_(ROLLBACK), ROLLBACK, "tina")
    assert stall(approved, ROLLBACK, now=T0 + timedelta(days=1)) is approved


def test_quorum_state_names_roles_nobody_holds() -> None:
    roles = {k: v for k, v in ROLES.items() if k != "legal_liaison"}
    state = quorum_state(open_(NOTIFY), NOTIFY, roles)
    assert state == "0 of 2 approvals (legal_liaison, exec_sponsor); nobody holds legal_liaison"


# --- What an approval authorises ----------------------------------------------------


def test_an_approval_is_bound_to_its_action_and_arguments_and_expires() -> None:
    decision = cast(open_(ROLLBACK, args={"model": "m-7", "to": 3}), ROLLBACK, "tina")
    now = T0 + timedelta(hours=1)
    assert is_authorised(decision, action="act", args={"to": 3, "model": "m-7"}, now=now)
    assert not is_authorised(decision, action="act", args={"model": "m-8", "to": 3}, now=now)
    assert not is_authorised(decision, action="other", args={"model": "m-7", "to": 3}, now=now)
    expiry = T0 + MINUTE + timedelta(hours=24)
    assert is_authorised(decision, action="act", args=decision.args, now=expiry - MINUTE)
    assert not is_authorised(decision, action="act", args=decision.args, now=expiry)


def test_pending_and_rejected_decisions_authorise_nothing() -> None:
    pending = open_(HALT)
    rejected = cast(pending, HALT, "sam", approve=False)
    for decision in (pending, rejected):
        assert not is_authorised(decision, action="act", args=decision.args, now=T0)


def test_validity_is_chosen_at_request_time() -> None:
    decision = request(
        "act", ROLLBACK, decision_id="d", args={}, by="a", evidence_hold_active=False, now=T0,
        validity=timedelta(minutes=10),
    )  # fmt: skip
    assert cast(decision, ROLLBACK, "tina").valid_until == T0 + 11 * MINUTE
    with pytest.raises(ValueError, match="valid"):
        request(
            "act", ROLLBACK, decision_id="d", args={}, by="a", evidence_hold_active=False,
            now=T0, validity=timedelta(0),
        )  # fmt: skip


def test_canonical_hash_ignores_key_order_and_spacing() -> None:
    expected = '{"action":"a","args":{"x":1,"y":[1,2]}}'
    assert (
        canonical_hash("a", {"y": [1, 2], "x": 1}) == hashlib.sha256(expected.encode()).hexdigest()
    )
    assert canonical_hash("a", {"x": 1}) != canonical_hash("b", {"x": 1})


# --- Records and the transition table -----------------------------------------------


def test_records_round_trip_through_json() -> None:
    decisions = [
        open_(ROLLBACK, hold=True),
        cast(open_(HALT), HALT, "tina"),
        cast(stall(cast(open_(HALT), HALT, "tina"), HALT, now=T0 + 30 * MINUTE), HALT, "erin"),
        cast(open_(HALT), HALT, "sam", approve=False),
    ]
    for decision in decisions:
        record = json.loads(json.dumps(decision.to_record()))
        assert Decision.from_record(record) == decision
        assert record == decision.to_record()


def test_only_a_pending_decision_moves() -> None:
    assert ALLOWED[DecisionStatus.PENDING] == frozenset(Transition)
    for status in (DecisionStatus.APPROVED, DecisionStatus.REJECTED, DecisionStatus.BLOCKED):
        assert ALLOWED[status] == frozenset()


# --- Property -----------------------------------------------------------------------

PEOPLE = ("p0", "p1", "p2", "p3")
ROLE_NAMES = ("r0", "r1", "r2")


@st.composite
def rights(draw: st.DrawFn) -> DecisionRight:
    names = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=1, max_size=3, unique=True))
    form = draw(st.sampled_from(["any_of", "all_of", "m_of_n"]))
    approvers: dict[str, Any] = {form: names}
    if form == "m_of_n":
        approvers = {"m_of_n": {"m": draw(st.integers(1, len(names))), "of": names}}
    return DecisionRight.model_validate(
        {
            "approvers": approvers,
            "decide_within": "10m",
            "fallback": draw(st.sampled_from(["r0", "boss", None])),
            "separation_of_duties": draw(st.booleans()),
        }
    )


def quorum_met(right: DecisionRight, decision: Decision, roles: dict[str, str]) -> bool:
    """Independent count: distinct people approving, each standing for one role."""
    approving = {v.by for v in decision.votes if v.approve and not v.as_fallback}
    forms = right.approvers
    if forms.all_of is not None:
        holders = [roles.get(role) for role in forms.all_of]
        return all(holder in approving for holder in holders) and len(set(holders)) == len(holders)
    names = forms.roles
    eligible = {p for p in approving if any(roles.get(r) == p for r in names)}
    return len(eligible) >= (forms.m_of_n.m if forms.m_of_n else 1)


@settings(max_examples=300, deadline=None)
@given(
    right=rights(),
    holders=st.fixed_dictionaries(
        {role: st.sampled_from(PEOPLE) for role in (*ROLE_NAMES, "boss")}
    ),
    requester=st.sampled_from(PEOPLE),
    moves=st.lists(st.tuples(st.sampled_from((*PEOPLE, "stall")), st.booleans()), max_size=12),
)
def test_an_approval_always_has_a_quorum_of_eligible_distinct_people(
    right: DecisionRight,
    holders: dict[str, str],
    requester: str,
    moves: list[tuple[str, bool]],
) -> None:
    decision = open_(right, by=requester)
    for step, (who, approve) in enumerate(moves, start=1):
        now = T0 + step * 5 * MINUTE
        if who == "stall":
            decision = stall(decision, right, now=now)
            continue
        with contextlib.suppress(DecisionRefused):
            decision = vote(decision, right, by=who, approve=approve, roles=holders, now=now)
    if right.separation_of_duties:
        assert requester not in {v.by for v in decision.votes}
    if decision.status is DecisionStatus.APPROVED:
        if decision.reason == "fallback":
            last = decision.votes[-1]
            assert decision.fallback_active and last.as_fallback and last.approve
            assert holders[str(right.fallback)] == last.by
        else:
            assert quorum_met(right, decision, holders)
            assert not any(v.as_fallback for v in decision.votes)
    assert len(decision.votes) == len({(v.by, v.as_fallback) for v in decision.votes})
