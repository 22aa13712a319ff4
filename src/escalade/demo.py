"""`make demo`: a server on a fresh SQLite file and a short scripted scenario.

Run as `python -m escalade.demo`. The server keeps running after the scenario
so the printed URLs can be explored; Ctrl-C stops it. `--once` stops after the
scenario (used by the test that keeps this script honest).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from escalade.sdk import Decision, EscaladeClient

POLICY = Path("examples/policies/demo.yaml")


def _say(text: str) -> None:
    click.secho(f"\n== {text}", fg="cyan", bold=True)


def _wait_healthy(client: EscaladeClient, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up; see its output above")
        try:
            client.health()
            return
        except Exception:  # noqa: BLE001 - not up yet; any connection error means retry
            time.sleep(0.2)
    raise SystemExit("the server did not become healthy in time")


def _timeline(client: EscaladeClient, incident_id: str) -> None:
    for entry in client.incident(incident_id)["timeline"]:
        if entry["kind"].startswith("delivery."):
            continue
        actor = f" by {entry['actor']}" if entry["actor"] else ""
        click.echo(f"   {entry['at'][11:19]}  {entry['kind']}{actor}")


def _human_review(client: EscaladeClient) -> None:
    _say("A support agent asks before refunding 900 EUR: the on-call team reviews it")
    answers: list[Decision] = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            client.review("issue_refund", {"order": "A-1043", "amount": 900}, risk=0.6)
        )
    )
    waiting.start()
    pending: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not pending and time.monotonic() < deadline:
        pending = client.reviews(status="pending")
        time.sleep(0.2)
    if not pending:
        click.echo("   (the review did not arrive)")
        waiting.join()
        return
    _say("Alice approves a smaller refund, with a comment")
    client.decide(
        pending[0]["id"],
        True,
        args={"order": "A-1043", "amount": 400},
        comment="goodwill cap",
        by="alice",
    )
    waiting.join()
    decision = answers[0]
    click.echo(
        f"   the agent gets: {decision.outcome} by {', '.join(decision.by)}, "
        f"args {decision.args}, valid until {decision.expires_at:%H:%M:%S} UTC"
    )
    small = client.review("issue_refund", {"order": "A-1044", "amount": 30})
    click.echo(f"   a 30 EUR refund: {small.outcome} ({small.reason}, nobody was asked)")


@click.command()
@click.option("--port", default=8080, show_default=True)
@click.option("--dir", "workdir", default=".demo", show_default=True, type=click.Path())
@click.option("--once", is_flag=True, help="Stop the server after the scenario.")
def main(port: int, workdir: str, once: bool) -> None:
    root = Path(workdir)
    root.mkdir(exist_ok=True)
    db = root / "escalade.db"
    for leftover in root.glob("escalade.db*"):
        leftover.unlink()
    token = "demo-admin-token"  # noqa: S105 - a throwaway token for a local demo database
    env = {
        **os.environ,
        "ESCALADE_DATABASE_URL": f"sqlite:///{db}",
        "ESCALADE_POLICY": str(POLICY),
        "ESCALADE_ADMIN_TOKEN": token,
        "ESCALADE_PORT": str(port),
    }
    escalade = [sys.executable, "-m", "escalade.cli"]
    subprocess.run([*escalade, "init"], env=env, check=True)
    _say(f"Starting Escalade with {POLICY}")
    server = subprocess.Popen([*escalade, "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    client = EscaladeClient(url, token)
    try:
        _wait_healthy(client, server, 30)
        _say("A fairness monitor reports a breach on credit-v7 (sev2)")
        fairness = {
            "kind": "fairness",
            "source": "evidently/prod-monitor",
            "subject": {"system": "lending", "model": "credit-v7"},
            "summary": "Demographic parity gap 0.14 > 0.10 (age 65+)",
            "value": 0.14,
            "labels": {"env": "production", "segment": "age_65_plus"},
        }
        sev2 = client.send_signals(fairness)["signals"][0]["incident_id"]
        client.send_signals({**fairness, "value": 0.15, "summary": "Parity gap now 0.15"})
        click.echo(f"   two signals, one incident: {sev2}")

        _say("A chatbot leaks personal data (sev1): rung 1 pages the on-call")
        leak = client.send_signals(
            {
                "kind": "privacy_leak",
                "source": "guardrail/chat",
                "subject": {"system": "support-chat", "model": "chat-v2"},
                "summary": "Customer email address in a model answer",
            }
        )["signals"][0]["incident_id"]
        _say("Nobody acknowledges within 8 seconds ... the ladder climbs to rung 2")
        deadline = time.monotonic() + 30
        while client.incident(leak)["ladder"]["rung"] < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        _say("Bob acknowledges: the ladder stops")
        client.acknowledge(leak, by="bob")
        time.sleep(1)
        _say(f"Timeline of {leak}")
        _timeline(client, leak)
        _human_review(client)
        _say("Try it yourself")
        click.echo(f"   curl -H 'Authorization: Bearer {token}' {url}/v1/incidents")
        click.echo(f"   curl -H 'Authorization: Bearer {token}' {url}/v1/incidents/{leak}")
        click.echo(f"   API docs: {url}/docs")
        click.echo(f"   Dashboard: {url}/ui (sign in with the token {token}, acting as bob)")
        if once:
            return
        click.echo("\nThe server keeps running; Ctrl-C stops it.")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
