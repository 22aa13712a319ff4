"""The `escalade` command."""

from __future__ import annotations

import os
import secrets
import signal as signals_
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import orjson

from escalade import heap, logs
from escalade.settings import Settings

_URL = click.option(
    "--url",
    envvar="ESCALADE_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Escalade server URL.",
)
_TOKEN = click.option(
    "--token",
    envvar="ESCALADE_TOKEN",
    default=None,
    help="API token (default: $ESCALADE_TOKEN, then $ESCALADE_ADMIN_TOKEN).",
)


def _settings(policy: str | None, db: str | None) -> Settings:
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a knob such as ESCALADE_WORKER_POLL=soon
        raise click.UsageError(str(exc)) from None
    if policy:
        settings = replace(settings, policy=Path(policy))
    if db:
        settings = replace(settings, database_url=db)
    return settings


@click.group()
@click.version_option(package_name="escalade")
def main() -> None:
    """Escalade: escalation and incident response for AI products."""


@main.command()
@click.option("--policy", help="Policy file or directory [env ESCALADE_POLICY].")
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
@click.option("--host", help="Listen address [env ESCALADE_HOST].")
@click.option("--port", type=int, help="Listen port [env ESCALADE_PORT].")
@click.option("--workers", type=int, default=1, show_default=True, help="API processes.")
@click.option("--no-engine", is_flag=True, help="Serve the API only; run `escalade worker` apart.")
def serve(
    policy: str | None,
    db: str | None,
    host: str | None,
    port: int | None,
    workers: int,
    no_engine: bool,
) -> None:
    """Run the API server (and, unless --no-engine, the engine)."""
    import uvicorn

    from escalade.storage.database import connect
    from escalade.storage.migrate import upgrade

    logs.configure()
    settings = _settings(policy, db)
    settings = replace(
        settings, host=host or settings.host, port=port or settings.port, run_engine=not no_engine
    )
    upgrade_engine = connect(settings.database_url)
    upgrade(upgrade_engine)
    upgrade_engine.dispose()
    if workers > 1:
        os.environ.update(_env_of(settings))
        click.echo(f"Escalade listening on http://{settings.host}:{settings.port}/", err=True)
        uvicorn.run(
            "escalade.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="warning",
            access_log=False,
            http="escalade.api.lane:IngestProtocol",
        )
        return
    app = _build_app(settings)
    if app is None:
        sys.exit(1)
    heap.settle()
    click.echo(f"Escalade listening on http://{settings.host}:{settings.port}/", err=True)
    from escalade.api.lane import IngestProtocol

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        http=IngestProtocol,
    )


def _env_of(settings: Settings) -> dict[str, str]:
    env = {
        "ESCALADE_DATABASE_URL": settings.database_url,
        "ESCALADE_POLICY": str(settings.policy),
        "ESCALADE_RUN_ENGINE": "1" if settings.run_engine else "0",
    }
    if settings.admin_token:
        env["ESCALADE_ADMIN_TOKEN"] = settings.admin_token
    # One dashboard session key for every API process of this `serve`, or a session
    # signed by one worker would be refused by the next.
    env["ESCALADE_SECRET_KEY"] = settings.secret_key or secrets.token_urlsafe(32)
    return env


def _build_app(settings: Settings) -> Any:
    from escalade.app import create_app
    from escalade.domain.policy_loader import PolicyError

    try:
        app = create_app(settings)
    except PolicyError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        click.echo("escalade: the policy has errors; not starting", err=True)
        return None
    if threading.current_thread() is threading.main_thread():
        _reload_on_hangup(app.state.escalade)
    return app


def _reload_on_hangup(escalade: Any) -> None:
    """SIGHUP loads the policy again; a broken file is reported and the old one stays."""
    from escalade.domain.policy_loader import PolicyError

    def reload(*_: object) -> None:
        try:
            loaded = escalade.policies.reload()
            escalade.record_policy("sighup")
            click.echo(f"escalade: policy reloaded ({loaded.digest[:12]})", err=True)
        except PolicyError as exc:
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            click.echo("escalade: policy NOT reloaded; the previous one keeps running", err=True)

    signals_.signal(signals_.SIGHUP, reload)


@main.command()
@click.option("--policy", help="Policy file or directory [env ESCALADE_POLICY].")
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
def worker(policy: str | None, db: str | None) -> None:
    """Run the engine only: timers, escalations, deliveries.

    Run as many as you like against one PostgreSQL database. SIGTERM stops
    gracefully (the send in hand finishes, the rest is handed back); SIGHUP
    reloads the policy, keeping the old one if the new one has errors.
    """
    from escalade.channels.registry import Senders
    from escalade.domain.policy_loader import PolicyError
    from escalade.engine.acklinks import configured
    from escalade.engine.service import Escalade
    from escalade.engine.worker import Worker

    logs.configure()
    settings = _settings(policy, db)
    links = configured(settings.secret_key, settings.public_url, settings.ack_link_ttl)
    try:
        escalade = Escalade(settings.database_url, settings.policy, ack_links=links)
    except PolicyError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        click.echo("escalade: the policy has errors; not starting", err=True)
        sys.exit(1)
    stop = threading.Event()  # review callbacks are signed with ESCALADE_CALLBACK_SECRET

    def halt(*_: object) -> None:
        stop.set()
        escalade.wake.set()

    signals_.signal(signals_.SIGTERM, halt)
    signals_.signal(signals_.SIGINT, halt)
    _reload_on_hangup(escalade)
    senders = Senders(callback_secret=settings.callback_secret)
    worker_ = Worker.of(escalade, senders, settings.tuning)
    heap.settle()
    worker_.run_for(escalade, stop, "worker")
    senders.close()
    escalade.close()


@main.command()
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def workers(db: str | None, as_json: bool) -> None:
    """List engine processes and their heartbeats (alive, stale or stopped)."""
    from datetime import UTC, datetime

    from escalade.engine.presence import listing
    from escalade.storage.database import connect

    settings = _settings(None, db)
    engine = connect(settings.database_url, for_writes=False)
    limit = settings.tuning.presumed_dead_after
    listed = listing(engine, datetime.now(UTC), limit)
    engine.dispose()
    if as_json:
        click.echo(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode())
        return
    for w in listed:
        click.echo(
            f"{w['id']:<40} {w['kind']:<7} {w['status']:<8} v{w['version']:<8} "
            f"beat {w['seconds_since_beat']}s ago"
        )


@main.command()
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
def migrate(db: str | None) -> None:
    """Bring the database schema up to date."""
    from escalade.storage.database import connect
    from escalade.storage.migrate import current_revision, upgrade

    engine = connect(_settings(None, db).database_url)
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")
    engine.dispose()


@main.command()
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
@click.option("--name", default="admin", show_default=True)
def init(db: str | None, name: str) -> None:
    """Create the database and the first admin token (printed once)."""
    from escalade.storage.database import connect
    from escalade.storage.migrate import upgrade

    settings = _settings(None, db)
    engine = connect(settings.database_url)
    upgrade(engine)
    token_id, token = _store_token(engine, name, "admin", settings.admin_token)
    engine.dispose()
    if settings.admin_token:
        click.echo(f"database ready; stored ESCALADE_ADMIN_TOKEN as admin token {token_id}")
    else:
        click.echo("database ready. Admin token (shown once, store it safely):")
        click.echo(token)


def _store_token(engine: Any, name: str, scope: str, token: str | None) -> tuple[str, str]:
    from datetime import UTC, datetime

    from escalade.engine.ids import new_id, new_token
    from escalade.storage import tokens

    now = datetime.now(UTC)
    token = token or new_token()
    token_id = new_id("tok", now)
    with engine.begin() as conn:
        if tokens.find(conn, token) is not None:
            return "(already stored)", token
        tokens.create(conn, token_id=token_id, name=name, token=token, scope=scope, now=now)
    return token_id, token


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(["admin", "responder", "viewer", "ingest"]),
    default="responder",
    show_default=True,
)
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
def token_create(name: str, scope: str, db: str | None) -> None:
    """Create a token for NAME and print it once."""
    from escalade.storage.database import connect

    engine = connect(_settings(None, db).database_url)
    _, value = _store_token(engine, name, scope, None)
    engine.dispose()
    click.echo(value)


@token.command("list")
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def token_list(db: str | None, as_json: bool) -> None:
    """Every token: id, name, scope, created, last used, revoked (never the token)."""
    from escalade.storage import tokens
    from escalade.storage.database import connect

    engine = connect(_settings(None, db).database_url, for_writes=False)
    with engine.connect() as conn:
        found = tokens.listing(conn)
    engine.dispose()
    if as_json:
        click.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    for t in found:
        state = "revoked" if t["revoked"] else "live"
        used = t["last_used_at"] or "never used"
        click.echo(f"{t['id']}  {t['scope']:<9}  {state:<7}  {t['name']}  (last used: {used})")


@token.command("revoke")
@click.argument("token_id")
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
def token_revoke(token_id: str, db: str | None) -> None:
    """Revoke the token TOKEN_ID (servers refuse it within 5 seconds)."""
    from datetime import UTC, datetime

    from escalade.storage import tokens
    from escalade.storage.database import connect

    engine = connect(_settings(None, db).database_url)
    with engine.begin() as conn:
        revoked = tokens.revoke(conn, token_id, datetime.now(UTC))
    engine.dispose()
    if not revoked:
        click.echo(f"escalade: no live token {token_id!r}", err=True)
        sys.exit(1)
    click.echo(f"revoked {token_id}")


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
@click.option("--incident", help="Check only this incident's (or review's) chain.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit_verify(db: str | None, incident: str | None, as_json: bool) -> None:
    """Check every timeline hash chain; exit 1 and name the first bad entry when broken."""
    from escalade.storage import timeline
    from escalade.storage.database import connect

    engine = connect(_settings(None, db).database_url, for_writes=False)
    with engine.connect() as conn:
        result = timeline.verify_report(conn, [incident] if incident else None)
    engine.dispose()
    if as_json:
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    elif result["breaks"]:
        for b in result["breaks"]:
            at = f" seq {b['seq']}" if b["seq"] is not None else ""
            entry = f" (entry id {b['entry_id']})" if b["entry_id"] is not None else ""
            click.echo(f"BROKEN {b['incident_id']}{at}{entry}: {b['problem']}")
        click.echo(f"{len(result['breaks'])} of {result['chains']} chains broken", err=True)
    else:
        click.echo(f"ok: {result['chains']} chains, {result['entries']} entries verified")
    if not result["ok"]:
        sys.exit(1)


@main.group()
def integrations() -> None:
    """Integration keys for PagerDuty, Alertmanager, Grafana, Evidently, webhooks."""


@integrations.command("create")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["pagerduty", "alertmanager", "grafana", "evidently", "webhook"]),
)
@click.option("--name", required=True, help="What the integration is (shown on incidents).")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Webhook only: a YAML or JSON file mapping the body to a signal.",
)
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
def integrations_create(kind: str, name: str, mapping: Path | None, db: str | None) -> None:
    """Create an integration and print its key once."""
    from datetime import UTC, datetime

    import yaml

    from escalade.engine.inbound import create_integration
    from escalade.storage.database import connect

    spec = yaml.safe_load(mapping.read_text()) if mapping is not None else None
    engine = connect(_settings(None, db).database_url)
    try:
        shown, key = create_integration(engine, name, kind, spec, datetime.now(UTC))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"integration {shown['id']} ({kind}) created. Key (shown once, store it safely):")
    click.echo(key)


@integrations.command("list")
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
def integrations_list(db: str | None) -> None:
    """List integrations (never their keys)."""
    from escalade.engine.inbound import list_integrations
    from escalade.storage.database import connect

    engine = connect(_settings(None, db).database_url)
    found = list_integrations(engine)
    engine.dispose()
    for i in found:
        state = f"revoked {i['revoked_at']}" if i["revoked_at"] else "live"
        used = i["last_used_at"] or "never used"
        click.echo(f"{i['id']}  {i['kind']:<12} {i['name']}  ({state}; {used})")


@integrations.command("revoke")
@click.argument("integration_id")
@click.option("--db", help="Database URL [env ESCALADE_DATABASE_URL].")
def integrations_revoke(integration_id: str, db: str | None) -> None:
    """Revoke an integration: running servers refuse its key within 5 seconds."""
    from datetime import UTC, datetime

    from escalade.engine.inbound import revoke_integration
    from escalade.storage.database import connect

    engine = connect(_settings(None, db).database_url)
    done = revoke_integration(engine, integration_id, datetime.now(UTC))
    engine.dispose()
    if not done:
        raise click.ClickException(f"no live integration {integration_id!r}")
    click.echo(f"revoked {integration_id}")


@main.group()
def policy() -> None:
    """Check policies, and see the history of the ones that went live."""


@policy.command("history")
@click.option("--limit", type=int, default=20, show_default=True)
@_URL
@_TOKEN
def policy_history_(limit: int, url: str, token: str | None) -> None:
    """The policies that went live on the server, newest first."""
    versions = _with_client(url, token, lambda c: c.policy_versions(limit))
    for v in versions:
        click.echo(
            f"v{v['version']:<4} {v['digest'][:12]}  {v['activated_at'][:19]}  "
            f"{v['author']:<16} +{v['added']} -{v['removed']}"
        )


@policy.command("diff")
@click.argument("older", required=False)
@click.argument("newer", required=False)
@_URL
@_TOKEN
def policy_diff(older: str | None, newer: str | None, url: str, token: str | None) -> None:
    """What changed between two policies. Each side is a version on the server (number,
    digest prefix, `current`) or a local policy file or directory. No arguments: the
    last change that went live; one: from OLDER to the running policy."""
    from escalade.domain.policy_history import diff
    from escalade.engine.policies import read_sources

    if older is None:
        current = _with_client(url, token, lambda c: c.policy_version("current"))
        click.echo(current["diff"], nl=False)
        return

    def sources(ref: str) -> list[tuple[str, str]]:
        if Path(ref).exists():
            return read_sources(Path(ref))
        found = _with_client(url, token, lambda c: c.policy_version(ref))
        return [(name, text) for name, text in found["sources"]]

    left, right = sources(older), sources(newer or "current")
    click.echo(diff(left, right, label_before=older, label_after=newer or "current"), nl=False)


@policy.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=True, path_type=Path))
def policy_check(file: Path) -> None:
    """Validate FILE; print `file:line:col: message` per error; exit 1 when invalid."""
    from escalade.domain.policy_loader import PolicyError
    from escalade.engine.policies import load

    try:
        loaded = load(file)
    except PolicyError as exc:
        for issue in exc.issues:
            click.echo(str(issue))
        click.echo(f"{len(exc.issues)} error(s) in {file}", err=True)
        sys.exit(1)
    p = loaded.policy
    click.echo(
        f"{file}: ok ({len(p.rules)} rules, {len(p.tiers)} tiers, {len(p.ladders)} ladders, "
        f"{len(p.people)} people)"
    )


@main.command()
@click.argument("policy_file", type=click.Path(exists=True, path_type=Path))
@click.argument(
    "scenarios",
    nargs=-1,
    type=click.Path(exists=True, dir_okay=True, path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="One JSON report per line.")
@click.option(
    "--live",
    is_flag=True,
    help="Run the scenario for real on the server: `drill --live SCENARIO`.",
)
@click.option("--wait", "wait_for", help="With --live: wait this long (e.g. 10m), then report.")
@_URL
@_TOKEN
def drill(
    policy_file: Path,
    scenarios: tuple[Path, ...],
    as_json: bool,
    live: bool,
    wait_for: str | None,
    url: str,
    token: str | None,
) -> None:
    """Run SCENARIOS against POLICY_FILE in simulated time; exit 1 when one fails.

    A directory runs every *.yaml scenario in it. Nothing is sent anywhere: the
    channels record what they would have sent.

    With --live, the one argument is a scenario whose first `signal` opens an
    exercise incident on the server at --url: the real on-call people are paged on
    their real channels, every message marked [EXERCISE], no regulatory clock
    starts and no external message leaves. `escalade exercises report ID` shows
    who was reached and who answered.
    """
    from escalade.domain.policy_loader import PolicyError
    from escalade.domain.scenarios import parse_scenario
    from escalade.engine.drills import run_drill

    if live:
        _live_drill(policy_file, scenarios, wait_for, url, token)
        return
    if not scenarios:
        raise click.UsageError("Missing argument 'SCENARIOS...'.")

    files = sorted(
        f for path in scenarios for f in ([path] if path.is_file() else path.glob("*.yaml"))
    )
    failed = 0
    for file in files:
        try:
            scenario = parse_scenario(str(file), file.read_text(encoding="utf-8"))
            report = run_drill(policy_file, scenario)
        except PolicyError as exc:
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            failed += 1
            continue
        failed += not report.passed
        if as_json:
            click.echo(orjson.dumps({"file": str(file), **report.as_json()}).decode())
        else:
            click.echo(report.text() + "\n")
    if not as_json:
        click.echo(f"{len(files) - failed} of {len(files)} scenario(s) passed", err=True)
    sys.exit(1 if failed else 0)


def _live_drill(
    scenario_file: Path, extra: tuple[Path, ...], wait_for: str | None, url: str, token: str | None
) -> None:
    from escalade.domain.durations import Duration
    from escalade.domain.policy_loader import PolicyError
    from escalade.domain.scenarios import parse_scenario

    if extra:
        raise click.UsageError("--live runs one scenario: escalade drill --live SCENARIO")
    try:
        scenario = parse_scenario(str(scenario_file), scenario_file.read_text(encoding="utf-8"))
    except PolicyError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        sys.exit(1)
    signal = next((s.signal for s in scenario.steps if s.signal is not None), None)
    if signal is None:
        raise click.UsageError(f"{scenario_file}: a live drill needs a `signal` step")
    pause = Duration.parse(wait_for).seconds if wait_for else 0
    wire = signal.model_dump(mode="json", exclude_none=True)
    started = _with_client(url, token, lambda c: c.start_exercise(scenario.name, wire))
    incident_id = started["incident_id"]
    click.echo(f"exercise {scenario.name!r} started: incident {incident_id}", err=True)
    if not pause:
        click.echo(f"see it with: escalade exercises report {incident_id}", err=True)
        click.echo(incident_id)
        return
    time.sleep(pause)
    report = _with_client(url, token, lambda c: c.exercise_report(incident_id))
    click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


@main.group()
def exercises() -> None:
    """Live drills: their reports, and their trend over time."""


@exercises.command("list")
@click.option("--limit", type=int, default=20, show_default=True)
@_URL
@_TOKEN
def exercises_list(limit: int, url: str, token: str | None) -> None:
    """Every live drill, newest first: reached, answered, time to acknowledge, failures."""
    for e in _with_client(url, token, lambda c: c.exercises(limit)):
        ack = e["acknowledged_after_s"]
        in_window = "in window" if e["acknowledged_in_window"] else "LATE"
        ack_text = f"acked after {ack:.0f}s ({in_window})" if ack is not None else "never acked"
        click.echo(
            f"{e['opened_at'][:16]}  {e['exercise']:<20} {e['incident_id']}  "
            f"reached {e['reached']}/{e['paged']}, answered {e['answered']}, {ack_text}, "
            f"{e['failed_deliveries']} failed, {e['stalled_decisions']} stalled"
        )


@exercises.command("report")
@click.argument("incident_id")
@_URL
@_TOKEN
def exercises_report(incident_id: str, url: str, token: str | None) -> None:
    """Who was reached on which channel, who answered and how fast, and what failed."""
    _client_call(url, token, lambda c: c.exercise_report(incident_id))


def _instant(text: str | None, tz: Any, param: str) -> Any:
    """An aware datetime from ISO 8601 `text` (local times in `tz`); now when None."""
    from datetime import UTC, datetime

    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"expected an ISO 8601 time such as 2026-12-24T22:00 or 2026-12-24T22:00+01:00, "
            f"found {text!r}",
            param_hint=param,
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


@policy.command("lint")
@click.argument("file", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--at", "at", help="Check schedules from this time (ISO 8601) instead of now.")
def policy_lint(file: Path, at: str | None) -> None:
    """Find dead ends in FILE: ladders, schedules and roles that reach nobody.

    Prints `file:line:col: severity: message (hint: ...)` per finding, then a
    summary. Schedules are checked for gaps over the next 8 weeks. Exit 1 when
    there is an error (or the policy does not load), 0 for warnings only.
    """
    from escalade.domain.lint import lint
    from escalade.domain.policy_loader import PolicyError, parse_policy_with_locations
    from escalade.engine.policies import read_sources

    try:
        loaded, locate = parse_policy_with_locations(read_sources(file), os.environ)
    except PolicyError as exc:
        for issue in exc.issues:
            click.echo(str(issue))
        click.echo(f"{len(exc.issues)} error(s) in {file}", err=True)
        sys.exit(1)
    findings = lint(loaded, locate, _instant(at, loaded.tz, "--at"))
    for finding in findings:
        click.echo(str(finding))
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if findings:
        click.echo(f"{file}: {errors} error(s), {warnings} warning(s)")
    else:
        click.echo(f"{file}: no problems found")
    sys.exit(1 if errors else 0)


@main.command()
@click.option("--policy", help="Policy file or directory [env ESCALADE_POLICY].")
@click.option("--at", "at", help="ISO 8601 time (default now); without an offset, policy time.")
def oncall(policy: str | None, at: str | None) -> None:
    """Who holds each schedule at a time, the next handoff and who is next."""
    from escalade.domain.policy_loader import PolicyError
    from escalade.domain.schedules import roster
    from escalade.engine.policies import load

    path = _settings(policy, None).policy
    try:
        loaded = load(path).policy
    except PolicyError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(exc.issues)} error(s) in {path}", err=True)
        sys.exit(1)
    instant = _instant(at, loaded.tz, "--at")
    click.echo(f"on call at {instant.astimezone(loaded.tz).isoformat()} ({loaded.timezone})")
    if not loaded.schedules:
        click.echo("no schedules")
    for held in roster(loaded, instant):
        then = (
            f"until {held.until.isoformat()}, then {held.next or 'nobody'}"
            if held.until
            else "no handoff ahead"
        )
        click.echo(f"{held.schedule}: {held.now or 'nobody'} ({then})")


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint=what)
        out[key] = value
    return out


@main.group()
def signal() -> None:
    """Send signals."""


@signal.command("send")
@click.option("--kind", required=True)
@click.option("--source")
@click.option("--subject", "subject", multiple=True, help="key=value, e.g. model=credit-v7")
@click.option("--label", "label", multiple=True, help="key=value, e.g. env=production")
@click.option("--value", type=float)
@click.option("--summary")
@click.option("--id", "signal_id")
@click.option("--dedup-key")
@click.option(
    "--queued",
    is_flag=True,
    help="Answered once durable; routed right after (Prefer: respond-async).",
)
@_URL
@_TOKEN
def signal_send(
    kind: str,
    source: str | None,
    subject: tuple[str, ...],
    label: tuple[str, ...],
    value: float | None,
    summary: str | None,
    signal_id: str | None,
    dedup_key: str | None,
    queued: bool,
    url: str,
    token: str | None,
) -> None:
    """Send one signal to a running server."""
    body: dict[str, Any] = {
        "kind": kind,
        "subject": _pairs(subject, "--subject"),
        "labels": _pairs(label, "--label"),
    }
    for key, val in (
        ("source", source),
        ("value", value),
        ("summary", summary),
        ("id", signal_id),
        ("dedup_key", dedup_key),
    ):
        if val is not None:
            body[key] = val
    _client_call(url, token, lambda c: c.send_signals(body, queued=queued))


def _with_client(url: str, token: str | None, call: Any) -> Any:
    """The result of `call(client)`, or exit 1 with the server's error."""
    from escalade.sdk import EscaladeClient, EscaladeError

    with EscaladeClient(url, token) as client:
        try:
            return call(client)
        except EscaladeError as exc:
            click.echo(f"escalade: {exc}", err=True)
            sys.exit(1)


def _client_call(url: str, token: str | None, call: Any) -> None:
    from escalade.sdk import EscaladeClient, EscaladeError

    with EscaladeClient(url, token) as client:
        try:
            result = call(client)
        except EscaladeError as exc:
            click.echo(f"escalade: {exc}", err=True)
            if isinstance(exc.body, dict):
                for error in exc.body.get("errors", []):
                    click.echo(f"  {error}", err=True)
            sys.exit(1)
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


@main.group()
def incidents() -> None:
    """List, show, acknowledge and resolve incidents."""


@incidents.command("list")
@click.option("--status", type=click.Choice(["open", "triggered", "acknowledged", "resolved"]))
@click.option("--tier")
@click.option("--limit", type=int, default=50)
@_URL
@_TOKEN
def incidents_list(
    status: str | None, tier: str | None, limit: int, url: str, token: str | None
) -> None:
    """Newest first."""
    from escalade.sdk import EscaladeClient, EscaladeError

    with EscaladeClient(url, token) as client:
        try:
            found = client.incidents(status=status, tier=tier, limit=limit)
        except EscaladeError as exc:
            click.echo(f"escalade: {exc}", err=True)
            sys.exit(1)
    for i in found:
        click.echo(
            f"{i['id']}  {i['status']:<12} {i['tier']:<6} rung {i['ladder']['rung']}  "
            f"{i['opened_at'][:19]}  {i['title']}"
        )


@incidents.command("show")
@click.argument("incident_id")
@_URL
@_TOKEN
def incidents_show(incident_id: str, url: str, token: str | None) -> None:
    """An incident with its timeline."""
    _client_call(url, token, lambda c: c.incident(incident_id))


@incidents.command("feedback")
@click.argument("incident_id")
@click.option("--rating", type=click.IntRange(1, 5), required=True, help="1 badly .. 5 very well")
@click.option("--comment")
@click.option("--by", help="Who rates (default: the token's name).")
@_URL
@_TOKEN
def incidents_feedback(
    incident_id: str, rating: int, comment: str | None, by: str | None, url: str, token: str | None
) -> None:
    """Rate how the response to a resolved incident went, as a participant."""
    _client_call(url, token, lambda c: c.feedback(incident_id, rating, comment, by))


@incidents.command("export")
@click.argument("incident_id")
@_URL
@_TOKEN
def incidents_export(incident_id: str, url: str, token: str | None) -> None:
    """An incident anonymised for publishing: people become roles, text is redacted."""
    _client_call(url, token, lambda c: c.export_incident(incident_id))


for _verb, _help in (("ack", "acknowledge"), ("resolve", "resolve"), ("escalate", "escalate")):

    def _make(verb: str, doc: str) -> None:
        @incidents.command(verb, help=f"{doc.capitalize()} an incident.")
        @click.argument("incident_id")
        @click.option("--by", help="Who acts (default: the token's name).")
        @click.option("--note")
        @_URL
        @_TOKEN
        def _cmd(
            incident_id: str, by: str | None, note: str | None, url: str, token: str | None
        ) -> None:
            _client_call(url, token, lambda c: c.act(incident_id, doc, by, note))

    _make(_verb, _help)


if __name__ == "__main__":
    main()
