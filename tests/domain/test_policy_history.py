"""Policy diffs: per file, unified, and empty when nothing changed."""

from __future__ import annotations

from escalade.domain.policy_history import changed_lines, diff


def test_a_changed_line_is_one_removal_and_one_addition() -> None:
    before = [("policy.yaml", "tiers:\n  sev1: {ack_within: 10m}\n")]
    after = [("policy.yaml", "tiers:\n  sev1: {ack_within: 5m}\n")]
    text = diff(before, after, label_before="v1", label_after="v2")
    assert "--- policy.yaml (v1)" in text and "+++ policy.yaml (v2)" in text
    assert "-  sev1: {ack_within: 10m}" in text and "+  sev1: {ack_within: 5m}" in text
    assert changed_lines(text) == (1, 1)


def test_files_added_and_removed_in_a_directory_show_against_nothing() -> None:
    before = [("p/a.yaml", "a: 1\n"), ("p/b.yaml", "b: 1\n")]
    after = [("p/a.yaml", "a: 1\n"), ("p/c.yaml", "c: 1\n")]
    text = diff(before, after)
    assert "+++ /dev/null" in text and "--- /dev/null" in text
    assert changed_lines(text) == (1, 1)


def test_the_same_policy_moved_to_another_path_compares_its_text() -> None:
    assert diff([("/old/policy.yaml", "a: 1\n")], [("/new/policy.yaml", "a: 1\n")]) == ""
    assert diff([("x.yaml", "a: 1\n")], [("x.yaml", "a: 1\n")]) == ""
