"""The `escalade` command as users run it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FIXTURES, ROOT
from escalade.cli import main
from escalade.storage import tokens
from escalade.storage.database import connect
from support.policies import BASE, ENV
from support.server import TOKEN, ServerProcess, free_port

REFERENCE_ENV = {
    "SMTP_HOST": "127.0.0.1",
    "OPS_HOOK_URL": "http://127.0.0.1:9/hook",
    "OPS_HOOK_SECRET": "s3cret",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/slack",
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_policy_check_accepts_the_reference_and_the_demo(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["policy", "check", str(FIXTURES / "policies/reference.yaml")], env=REFERENCE_ENV
    )
    assert result.exit_code == 0, result.output
    demo = runner.invoke(main, ["policy", "check", str(ROOT / "examples/policies/demo.yaml")])
    assert demo.exit_code == 0, demo.output


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("tier: sev2\n", "tierr: sev2\n", ["tierr", "did you mean 'tier'"]),
        ("ladder: standard}", "ladder: standrd}", ["standrd", "did you mean 'standard'"]),
        ("escalate_after: 8s}", "escalate_after: 8 seconds}", ["escalate_after"]),
    ],
)
def test_policy_check_prints_file_line_col_and_exits_1(
    runner: CliRunner, tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    text = (ROOT / "examples/policies/demo.yaml").read_text()
    assert old in text
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace(old, new, 1))
    result = runner.invoke(main, ["policy", "check", str(broken)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines, result.output
    for line in lines:
        assert re.match(rf"{re.escape(str(broken))}:\d+:\d+: ", line), line
    line_no = text[: text.index(old)].count("\n") + 1
    assert any(f":{line_no}:" in line for line in lines), (line_no, lines)
    for fragment in expected:
        assert fragment in result.stdout


def test_policy_check_names_a_missing_environment_variable() -> None:
    env = {k: v for k, v in REFERENCE_ENV.items() if k != "SMTP_HOST"}
    result = CliRunner(env={"SMTP_HOST": None, **env}).invoke(  # type: ignore[dict-item]
        main, ["policy", "check", str(FIXTURES / "policies/reference.yaml")]
    )
    assert result.exit_code == 1
    assert "SMTP_HOST" in result.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    proc = ServerProcess(db, ROOT / "examples/policies/demo.yaml", tmp_path / "server.log", {})
    proc.start()
    yield proc
    proc.stop()


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "ESCALADE_URL": server.url,
        "ESCALADE_TOKEN": server.env["ESCALADE_ADMIN_TOKEN"],
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "escalade.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.process
def test_signal_send_and_incident_commands_against_a_running_server(
    server: ServerProcess,
) -> None:
    sent = cli(
        server,
        "signal",
        "send",
        "--kind",
        "privacy_leak",
        "--subject",
        "model=chat-v2",
        "--summary",
        "PII in output",
    )
    assert sent.returncode == 0, sent.stderr
    listed = cli(server, "incidents", "list")
    assert "PII in output" in listed.stdout and "triggered" in listed.stdout
    incident_id = listed.stdout.split()[0]
    assert cli(server, "incidents", "ack", incident_id, "--by", "bob").returncode == 0
    shown = cli(server, "incidents", "show", incident_id)
    assert '"acknowledged"' in shown.stdout and "incident.acknowledged" in shown.stdout
    assert cli(server, "incidents", "resolve", incident_id).returncode == 0
    assert "resolved" in cli(server, "incidents", "list").stdout
    bad = cli(server, "signal", "send", "--kind", "bad kind!")
    assert bad.returncode == 1 and "kind" in bad.stderr
    queued = cli(server, "signal", "send", "--kind", "drift", "--id", "q-1", "--queued")
    assert queued.returncode == 0, queued.stderr
    [answer] = json.loads(queued.stdout)["signals"]
    assert (answer["id"], answer["routed"], answer["incident_id"]) == ("q-1", False, None)
    deadline = time.monotonic() + 20
    while not server.client.get("/v1/signals/q-1").json()["routed"]:  # the engine routes it
        assert time.monotonic() < deadline, "the queued signal was never routed"
        time.sleep(0.05)


def test_init_creates_the_database_and_prints_a_token_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'init.db'}"
    result = CliRunner(env={"ESCALADE_ADMIN_TOKEN": None}).invoke(  # type: ignore[dict-item]
        main, ["init", "--db", db]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("esk_")
    engine = connect(db)
    with engine.connect() as conn:
        record = tokens.find(conn, token)
    engine.dispose()
    assert record is not None and record.scope == "admin"
    assert token not in (tmp_path / "init.db").read_bytes().decode("latin-1")


@pytest.mark.process
def test_the_demo_runs_its_scenario_to_the_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "escalade.demo",
            "--once",
            "--port",
            str(free_port()),
            "--dir",
            str(tmp_path / "demo"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "two signals, one incident" in out
    assert "rung.fired" in out and "incident.acknowledged by bob" in out
    assert out.count("rung.fired") == 2
    assert "the agent gets: approve by alice, args {'order': 'A-1043', 'amount': 400}" in out
    assert "a 30 EUR refund: approve (automatic" in out


@pytest.mark.process
def test_exercises_export_and_policy_history_in_process(tmp_path: Path) -> None:
    """The read commands through CliRunner against a real server: a drill in the trend,
    an incident exported for publishing, and a SIGHUP reload in the history."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(BASE)
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'cli.db'}", policy, tmp_path / "server.log", dict(ENV)
    )
    server.start()
    try:
        signal_ = {"kind": "privacy_leak", "summary": "Exercise: PII in an answer by Alice"}
        started = server.client.post("/v1/exercises", json={"name": "cli drill", "signal": signal_})
        assert started.status_code == 201, started.text
        drill_id = started.json()["incident_id"]

        policy.write_text(BASE.replace("ack_within: 5m", "ack_within: 3m"))
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while len(server.client.get("/v1/policy/versions").json()["versions"]) < 2:
            assert time.monotonic() < deadline, server.log.read_text()[-2000:]
            time.sleep(0.1)

        runner = CliRunner(env={"ESCALADE_URL": server.url, "ESCALADE_TOKEN": TOKEN})
        listed = runner.invoke(main, ["exercises", "list"])
        assert listed.exit_code == 0, listed.output
        [line] = listed.stdout.splitlines()
        assert "cli drill" in line and drill_id in line and "never acked" in line

        exported = runner.invoke(main, ["incidents", "export", drill_id])
        assert exported.exit_code == 0, exported.output
        shared = json.loads(exported.stdout)
        assert shared["format"] == "escalade.learning/v1"
        assert shared["incident"]["type"] == "privacy" and shared["incident"]["tier"] == "sev1"
        assert "alice" not in exported.stdout.lower()  # the planted name is redacted
        missing = runner.invoke(main, ["incidents", "export", "inc_nope"])
        assert missing.exit_code == 1 and "404" in missing.stderr

        history = runner.invoke(main, ["policy", "history"])
        assert history.exit_code == 0, history.output
        rows = [row.split() for row in history.stdout.splitlines()]
        assert [(r[0], r[3]) for r in rows] == [("v2", "sighup"), ("v1", "startup")]
        assert rows[0][4:] == ["+1", "-1"]
    finally:
        server.stop()
