"""Drills: scenarios in simulated time through the live engine's code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT
from escalade.cli import main
from escalade.domain.policy_loader import PolicyError
from escalade.domain.scenarios import parse_scenario
from escalade.engine.drills import run_drill

DEMO = ROOT / "examples/policies/demo.yaml"
SUITES = sorted((ROOT / "examples/policies/scenarios").iterdir())


@pytest.mark.parametrize("suite", SUITES, ids=[s.name for s in SUITES])
def test_every_shipped_scenario_passes_against_its_policy(suite: Path) -> None:
    policy = ROOT / "examples/policies" / f"{suite.name}.yaml"
    for file in sorted(suite.glob("*.yaml")):
        report = run_drill(policy, parse_scenario(str(file), file.read_text()))
        assert report.passed, report.text()


def scenario(text: str):  # type: ignore[no-untyped-def]
    return parse_scenario("s.yaml", text)


def test_a_failed_expectation_says_what_was_expected_and_what_happened() -> None:
    report = run_drill(
        DEMO,
        scenario("""
name: wrong guess
start: "2026-11-23T10:00:00Z"
steps:
  - at: 0s
    signal: {kind: privacy_leak}
  - at: 5s
    expect: {rung: 2, notified: [team:exec]}
"""),
    )
    assert not report.passed
    text = report.text()
    assert "FAIL +5s" in text and "incident rung: expected 2, got 1" in text
    assert "notified team:exec: expected [erin], got []" in text
    assert text.splitlines()[-1] == "FAIL: 0 of 2 checks passed"


def test_simulated_time_needs_no_waiting_and_sends_nothing() -> None:
    report = run_drill(
        DEMO,
        scenario("""
name: a week of nobody answering
start: "2026-11-23T10:00:00Z"
steps:
  - at: 0s
    signal: {kind: fairness, value: 0.5, labels: {env: production, segment: a}}
  - at: 1w
    expect: {rung: 2, status: triggered}
"""),
    )
    assert report.passed, report.text()
    pages = [n["person"] for n in report.notifications if "you are" not in n["subject"]]
    assert pages == ["alice", "alice", "bob"]


def test_an_illegal_step_is_a_failed_check_not_a_crash() -> None:
    report = run_drill(
        DEMO,
        scenario("""
name: ack after resolve
start: "2026-11-23T10:00:00Z"
steps:
  - at: 0s
    signal: {kind: privacy_leak}
  - at: 1m
    resolve: {by: bob}
  - at: 2m
    ack: {by: bob}
"""),
    )
    assert not report.passed
    assert "cannot acknowledge an incident that is resolved" in report.text()


def test_scenario_errors_point_at_the_line() -> None:
    with pytest.raises(PolicyError) as caught:
        scenario('name: x\nstart: "2026-11-23T10:00:00Z"\nsteps:\n  - at: 0s\n    ackk: {by: b}\n')
    assert str(caught.value.issues[0]).startswith("s.yaml:5:5: steps[0].ackk: unknown key")


def test_drill_command_exit_codes_and_json(tmp_path: Path) -> None:
    good = ROOT / "examples/policies/scenarios/demo"
    result = CliRunner().invoke(main, ["drill", str(DEMO), str(good), "--json"])
    assert result.exit_code == 0, result.output
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(reports) == 3 and all(r["passed"] for r in reports)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        'name: b\nstart: "2026-11-23T10:00:00Z"\nsteps:\n  - at: 0s\n'
        "    signal: {kind: privacy_leak}\n    expect: {tier: sev4}\n"
    )
    failed = CliRunner().invoke(main, ["drill", str(DEMO), str(bad)])
    assert failed.exit_code == 1
    assert "incident tier: expected sev4, got sev1" in failed.stdout
