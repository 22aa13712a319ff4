"""`escalade integrations create|list|revoke` as operators run them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from escalade.cli import main
from escalade.storage import integrations
from escalade.storage.database import connect


def test_create_list_and_revoke(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"ESCALADE_DATABASE_URL": database_url}
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    made = runner.invoke(
        main, ["integrations", "create", "--kind", "pagerduty", "--name", "monitor"], env=env
    )
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    engine = connect(database_url)
    with engine.connect() as conn:
        found = integrations.find(conn, key)
    engine.dispose()
    assert found is not None and found.kind == "pagerduty" and not found.revoked
    listed = runner.invoke(main, ["integrations", "list"], env=env)
    assert found.id in listed.output and "live" in listed.output and key not in listed.output
    assert runner.invoke(main, ["integrations", "revoke", found.id], env=env).exit_code == 0
    assert "revoked" in runner.invoke(main, ["integrations", "list"], env=env).output
    again = runner.invoke(main, ["integrations", "revoke", found.id], env=env)
    assert again.exit_code == 1 and "no live integration" in again.output


def test_a_webhook_takes_a_checked_mapping_file(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"ESCALADE_DATABASE_URL": database_url}
    runner.invoke(main, ["migrate"], env=env)
    good = tmp_path / "mapping.yaml"
    good.write_text("language: cel\nsignal:\n  kind: \"'harm_report'\"\n  summary: body.title\n")
    command = ["integrations", "create", "--kind", "webhook", "--name", "hook", "--mapping"]
    assert runner.invoke(main, [*command, str(good)], env=env).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("signal:\n  summary: title\n")
    refused = runner.invoke(main, [*command, str(bad)], env=env)
    assert refused.exit_code == 1 and "mapping.signal.kind" in refused.output
