"""`escalade policy lint` and `escalade oncall` as users run them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT
from escalade.cli import main

POLICY = """\
version: 1
timezone: Europe/Berlin
people:
  alice: {name: Alice, contacts: [console]}
  bob: {name: Bob, contacts: [console]}
  carol: {name: Carol, contacts: [console]}
  ghost: {name: Ghost}
teams:
  oncall: {members: [alice, bob]}
schedules:
  primary:
    rotation: {members: [alice, bob], shift: 1w, start: "2026-03-23T09:00"}
    overrides:
      - {who: carol, from: "2026-12-24T00:00", to: "2026-12-27T00:00"}
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

FINDING = re.compile(r"^[^:]+:\d+:\d+: (error|warning): .+ \(hint: .+\)$")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_lint_of_a_clean_policy_exits_0(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["policy", "lint", str(write(tmp_path, POLICY))])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("no problems found")


def test_lint_of_the_demo_exits_0(runner: CliRunner) -> None:
    result = runner.invoke(main, ["policy", "lint", str(ROOT / "examples/policies/demo.yaml")])
    assert result.exit_code == 0, result.output


def test_lint_warnings_alone_exit_0(runner: CliRunner, tmp_path: Path) -> None:
    text = POLICY.replace(
        "ladder: main}", "ladder: main}\n  sev3: {name: M, ack_within: 4h, ladder: main}"
    )
    path = write(tmp_path, text)
    result = runner.invoke(main, ["policy", "lint", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"{path}:{line_of(text, 'sev3:')}:3: warning: tier 'sev3'")
    assert FINDING.match(lines[0]), lines[0]
    assert lines[-1] == f"{path}: 0 error(s), 1 warning(s)"


def test_lint_errors_exit_1_with_one_line_each(runner: CliRunner, tmp_path: Path) -> None:
    text = POLICY.replace("who: carol", "who: ghost").replace(
        "roles: [lead]", "roles: [lead, scribe]"
    )
    path = write(tmp_path, text)
    result = runner.invoke(main, ["policy", "lint", str(path), "--at", "2026-12-01T00:00"])
    assert result.exit_code == 1, result.output
    *findings, summary = result.output.strip().splitlines()
    assert all(FINDING.match(line) for line in findings), findings
    assert any(
        ": error: schedule 'primary' reaches nobody from 2026-12-24 00:00" in f for f in findings
    )
    assert any(": error: role 'scribe' is used here" in f for f in findings)
    assert summary.startswith(f"{path}: 2 error(s)")


def test_lint_schedule_gaps_depend_on_the_time_checked(runner: CliRunner, tmp_path: Path) -> None:
    path = str(write(tmp_path, POLICY.replace("who: carol", "who: ghost")))
    assert runner.invoke(main, ["policy", "lint", path, "--at", "2026-12-01T00:00"]).exit_code == 1
    assert runner.invoke(main, ["policy", "lint", path, "--at", "2027-01-01T00:00"]).exit_code == 0


def test_lint_of_a_policy_that_does_not_load_prints_its_errors(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = POLICY.replace("ladder: main}", "ladder: mian}")
    path = write(tmp_path, text)
    result = runner.invoke(main, ["policy", "lint", str(path)])
    assert result.exit_code == 1
    assert f"{path}:{line_of(text, 'mian')}:" in result.stdout
    assert "did you mean 'main'?" in result.stdout


def test_lint_rejects_a_time_that_is_not_iso(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["policy", "lint", str(write(tmp_path, POLICY)), "--at", "soon"])
    assert result.exit_code == 2
    assert "ISO 8601" in result.output


def test_oncall_hands_over_at_local_nine_across_the_dst_change(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = str(write(tmp_path, POLICY))
    # Berlin moves to summer time on 2026-03-29; the next handoff is still 09:00 local.
    result = runner.invoke(main, ["oncall", "--policy", path, "--at", "2026-03-28T12:00"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "on call at 2026-03-28T12:00:00+01:00 (Europe/Berlin)",
        "primary: alice (until 2026-03-30T09:00:00+02:00, then bob)",
    ]


def test_oncall_reads_the_policy_from_the_environment_and_honours_offsets(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = str(write(tmp_path, POLICY))
    result = runner.invoke(
        main, ["oncall", "--at", "2026-03-30T07:00:00Z"], env={"ESCALADE_POLICY": path}
    )
    assert result.exit_code == 0, result.output
    assert "primary: bob (until 2026-04-06T09:00:00+02:00, then alice)" in result.output


def test_oncall_shows_an_override_and_who_follows_it(runner: CliRunner, tmp_path: Path) -> None:
    path = str(write(tmp_path, POLICY))
    before = runner.invoke(main, ["oncall", "--policy", path, "--at", "2026-12-23T12:00"])
    assert "until 2026-12-24T00:00:00+01:00, then carol" in before.output
    during = runner.invoke(main, ["oncall", "--policy", path, "--at", "2026-12-25T12:00"])
    assert during.exit_code == 0, during.output
    assert "primary: carol (until 2026-12-27T00:00:00+01:00, then " in during.output


def test_oncall_with_a_broken_policy_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    path = str(write(tmp_path, POLICY.replace("ladder: main}", "ladder: mian}")))
    result = runner.invoke(main, ["oncall", "--policy", path])
    assert result.exit_code == 1
    assert "did you mean 'main'?" in result.output


def test_an_unknown_holiday_calendar_is_a_policy_error(tmp_path: Path) -> None:
    text = (ROOT / "examples/policies/demo.yaml").read_text()
    broken = tmp_path / "p.yaml"
    broken.write_text(
        text.replace("timezone: Europe/Berlin", "timezone: Europe/Berlin\nholidays: XX")
    )
    result = CliRunner().invoke(main, ["policy", "check", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:6:1: holidays: no holiday calendar for 'XX'" in result.stdout
