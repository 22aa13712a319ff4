from __future__ import annotations

from datetime import UTC, datetime

from conftest import ROOT
from escalade.domain.lint import Finding, lint
from escalade.domain.policy_loader import parse_policy, parse_policy_with_locations

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

BASE = """\
version: 1
timezone: Europe/Berlin
people:
  alice: {name: Alice, contacts: [console]}
  bob: {name: Bob, contacts: [console]}
  ghost: {name: Ghost}
teams:
  oncall: {members: [alice, bob]}
  phantoms: {members: [ghost]}
schedules:
  primary:
    rotation: {members: [alice, bob], shift: 1w, start: "2026-01-05T09:00"}
channels:
  console: {type: console}
tiers:
  sev1: {name: Critical, ack_within: 5m, roles: [lead], ladder: main}
roles:
  lead: {filled_by: [schedule:primary]}
ladders:
  main:
    rungs:
      - {notify: [schedule:primary], escalate_after: 5m}
      - {notify: [team:oncall], escalate_after: 10m}
default: {tier: sev1}
"""


def run(text: str, now: datetime = NOW) -> list[Finding]:
    policy, locate = parse_policy_with_locations([("p.yaml", text)], {})
    return lint(policy, locate, now)


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [str(f) for f in findings]
    return findings[0]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_healthy_policy_has_no_findings() -> None:
    assert run(BASE) == []


def test_the_demo_policy_has_no_errors() -> None:
    text = (ROOT / "examples/policies/demo.yaml").read_text()
    findings = run(text)
    assert [str(f) for f in findings if f.severity == "error"] == []


def test_a_ladder_that_ends_with_nobody_reachable_is_an_error() -> None:
    text = BASE.replace("notify: [team:oncall]", "notify: [team:phantoms]")
    found = [f for f in run(text) if f.severity == "error"]
    finding = only(found)
    assert finding.path == "ladders.main"
    assert "ends with nobody reachable" in finding.message
    assert (finding.file, finding.line, finding.column) == ("p.yaml", line_of(text, "main:"), 3)
    assert "exhausted" in finding.hint


def test_exhausted_targets_keep_the_ladder_alive_but_the_dead_rung_is_named() -> None:
    text = BASE.replace("notify: [team:oncall]", "notify: [team:phantoms]").replace(
        "escalate_after: 10m}", "escalate_after: 10m}\n    exhausted: [person:alice]"
    )
    finding = only([f for f in run(text) if f.severity == "error"])
    assert finding.path == "ladders.main.rungs[1]"


def test_a_middle_rung_that_reaches_nobody_is_an_error() -> None:
    text = BASE.replace(
        "      - {notify: [team:oncall]",
        "      - {notify: [team:phantoms], escalate_after: 5m}\n      - {notify: [team:oncall]",
    )
    finding = only([f for f in run(text) if f.severity == "error"])
    assert finding.path == "ladders.main.rungs[1]"
    assert finding.message == "rung 2 of ladder 'main' reaches nobody in tier sev1"
    assert finding.line == line_of(text, "team:phantoms")


def test_a_role_target_the_tier_does_not_fill_reaches_nobody() -> None:
    text = BASE.replace("roles: [lead], ", "").replace(
        "notify: [schedule:primary], escalate_after: 5m", "notify: [role:lead], escalate_after: 5m"
    )
    findings = run(text)
    assert {(f.severity, f.path) for f in findings} == {
        ("warning", "ladders.main.rungs[0].notify[0]"),
        ("error", "ladders.main.rungs[0]"),
    }


def test_a_schedule_override_to_someone_without_contacts_is_a_gap() -> None:
    text = BASE.replace(
        'start: "2026-01-05T09:00"}',
        'start: "2026-01-05T09:00"}\n'
        '    overrides: [{who: ghost, from: "2026-12-01T00:00", to: "2026-12-02T00:00"}]',
    )
    finding = only([f for f in run(text) if f.severity == "error"])
    assert finding.path == "schedules.primary.overrides[0].who"
    assert "from 2026-12-01 00:00 to 2026-12-02 00:00" in finding.message
    assert "ghost" in finding.message
    # Beyond eight weeks it is not yet a problem.
    later = [f for f in run(text, datetime(2026, 12, 2, tzinfo=UTC)) if f.severity == "error"]
    assert later == []


def test_a_rotation_member_without_contacts_leaves_recurring_gaps() -> None:
    text = BASE.replace("members: [alice, bob], shift", "members: [alice, ghost], shift")
    errors = [f for f in run(text) if f.severity == "error"]
    gap = next(f for f in errors if f.path.startswith("schedules"))
    assert gap.path == "schedules.primary.rotation.members[1]"
    assert "and 3 more time(s) in the next 8 weeks" in gap.message
    assert "people.ghost.contacts" in gap.hint


def test_a_tier_no_rule_reaches_is_a_warning() -> None:
    text = BASE.replace(
        "default: {tier: sev1}",
        "default: {tier: sev1}",
    ).replace(
        "ladder: main}", "ladder: main}\n  sev3: {name: Moderate, ack_within: 4h, ladder: main}"
    )
    finding = only(run(text))
    assert (finding.severity, finding.path) == ("warning", "tiers.sev3")
    assert finding.line == line_of(text, "sev3:")


def test_a_role_nobody_can_fill_is_an_error() -> None:
    text = BASE.replace(
        "lead: {filled_by: [schedule:primary]}", "lead: {filled_by: [person:ghost]}"
    )
    findings = run(text)
    role = next(f for f in findings if f.path == "roles.lead")
    assert role.severity == "error"
    assert "filled by nobody" in role.message


def test_a_role_used_without_a_roles_entry_is_an_error() -> None:
    text = BASE.replace("roles: [lead]", "roles: [lead, scribe]")
    finding = only(run(text))
    assert (finding.severity, finding.path) == ("error", "tiers.sev1.roles[1]")
    assert "no entry under 'roles'" in finding.message


def test_a_decision_without_fallback_is_a_warning() -> None:
    text = BASE + (
        "decisions:\n"
        "  rollback: {approvers: {any_of: [lead]}, decide_within: 15m}\n"
        "  halt: {approvers: {any_of: [lead]}, decide_within: 15m, fallback: lead}\n"
    )
    finding = only(run(text))
    assert (finding.severity, finding.path) == ("warning", "decisions.rollback")
    assert "15m" in finding.message


def test_an_obligation_whose_owner_no_tier_includes_is_an_error() -> None:
    text = BASE.replace("  lead: {", "  counsel: {filled_by: [person:alice]}\n  lead: {") + (
        "obligations:\n  gdpr-art33: {owner: counsel}\n"
    )
    finding = only(run(text))
    assert (finding.severity, finding.path) == ("error", "obligations.gdpr-art33.owner")
    assert "no tier includes" in finding.message


def test_an_obligation_whose_owner_nobody_can_fill_is_an_error() -> None:
    text = BASE.replace("roles: [lead]", "roles: [lead, counsel]").replace(
        "  lead: {", "  counsel: {filled_by: [team:phantoms]}\n  lead: {"
    ) + ("obligations:\n  gdpr-art33: {owner: counsel}\n")
    findings = run(text)
    owner = [f for f in findings if f.path == "obligations.gdpr-art33.owner"]
    assert "nobody can fill" in only(owner).message


def test_a_targeted_person_without_contacts_is_a_warning() -> None:
    text = BASE.replace(
        "escalate_after: 10m}", "escalate_after: 10m}\n    exhausted: [team:oncall, team:phantoms]"
    )
    finding = only(run(text))
    assert (finding.severity, finding.path) == ("warning", "people.ghost")
    assert "via team:phantoms (ladders.main.exhausted[1])" in finding.message
    assert finding.line == line_of(text, "ghost: {name")


def test_findings_print_as_file_line_col_severity_message_hint() -> None:
    text = BASE.replace("roles: [lead]", "roles: [lead, scribe]")
    line = str(only(run(text)))
    assert line.startswith(f"p.yaml:{line_of(text, 'sev1:')}:")
    assert ": error: role 'scribe' is used here" in line
    assert line.endswith(")") and "(hint: add 'roles: {scribe:" in line


def test_locate_falls_back_to_the_nearest_written_ancestor() -> None:
    _, locate = parse_policy_with_locations([("p.yaml", BASE)], {})
    assert locate("tiers.sev1") == ("p.yaml", line_of(BASE, "sev1:"), 3)
    assert locate("tiers.sev1.postmortem") == ("p.yaml", line_of(BASE, "sev1:"), 3)
    assert locate("ladders.main.rungs[1]")[1] == line_of(BASE, "team:oncall")
    assert locate("nowhere.at.all") == ("p.yaml", 1, 1)


def test_parse_policy_is_unchanged() -> None:
    assert (
        parse_policy([("p.yaml", BASE)], {})
        == parse_policy_with_locations([("p.yaml", BASE)], {})[0]
    )
