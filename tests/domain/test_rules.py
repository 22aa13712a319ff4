from datetime import UTC, datetime

from escalade.domain.rules import RuleBook
from escalade.domain.signals import Signal
from support.policies import policy

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BOOK = RuleBook(policy())


def sig(kind: str, **fields: object) -> Signal:
    return Signal(id="s", kind=kind, received_at=T0, **fields)  # type: ignore[arg-type]


def test_first_matching_rule_decides_tier_and_type() -> None:
    route = BOOK.route(sig("privacy_leak"), T0)
    assert (route.rule_id, route.tier, route.type) == ("privacy-leak", "sev1", "privacy")


def test_labels_and_if_expression_must_both_hold() -> None:
    prod = {"env": "production", "segment": "65+"}
    assert BOOK.route(sig("fairness", value=0.2, labels=prod), T0).rule_id == "fairness"
    assert BOOK.route(sig("fairness", value=0.05, labels=prod), T0).rule_id is None
    staging = {"env": "staging"}
    assert BOOK.route(sig("fairness", value=0.2, labels=staging), T0).rule_id is None


def test_unmatched_signals_take_the_default() -> None:
    route = BOOK.route(sig("drift"), T0)
    assert (route.rule_id, route.tier, route.type) == (None, "sev4", "other")


def test_group_by_fields_make_the_group_key() -> None:
    a = sig(
        "fairness", value=0.2, subject={"model": "m1"}, labels={"env": "production", "segment": "a"}
    )
    b = sig(
        "fairness", value=0.3, subject={"model": "m1"}, labels={"env": "production", "segment": "b"}
    )
    assert BOOK.route(a, T0).group_key != BOOK.route(b, T0).group_key
    assert BOOK.route(a, T0).group_key == "fairness:subject.model=m1,labels.segment=a"


def test_dedup_key_overrides_grouping() -> None:
    assert BOOK.route(sig("drift", dedup_key="k1"), T0).group_key == "dedup:k1"


def test_silence_applies_inside_its_window_only() -> None:
    canary = sig("privacy_leak", subject={"model": "canary"})
    assert BOOK.route(canary, T0).silenced_by == "canary under test"
    december = datetime(2026, 12, 2, tzinfo=UTC)
    assert BOOK.route(canary, december).silenced_by is None


def test_if_expression_error_is_a_note_not_a_crash() -> None:
    text = """
version: 1
people: {a: {name: A, contacts: [c]}}
channels: {c: {type: console}}
tiers: {sev1: {name: C, ack_within: 5m, ladder: l}}
ladders: {l: {rungs: [{notify: [person:a], escalate_after: 5m}]}}
rules:
  - {id: r, match: {kind: x}, if: 'signal.labels.missing == "y"', tier: sev1, type: t}
default: {tier: sev1}
"""
    route = RuleBook(policy(text, {})).route(sig("x"), T0)
    assert route.rule_id is None
    assert "rule r" in route.notes[0]
