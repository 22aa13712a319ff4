"""Copy-paste snippets in docs/ run against the real thing: Alertmanager's own
configuration checker, and a signed delivery received by a real HTTP server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from escalade.domain.signals import SignalIn
from support.engines import Harness
from support.peers import check_alertmanager_config
from support.sink import Sink

DOCS = ROOT / "docs"
BASE_URL = "https://escalade.example.com"  # what a reader puts for ESCALADE
KEY = "0123456789abcdef0123456789abcdef"  # and for KEY: the shape of an integration key


def code_blocks(doc: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", (DOCS / doc).read_text(), re.M | re.S)


def alertmanager_snippets() -> list[str]:
    """Every snippet docs/integrations.md offers as a whole alertmanager.yml."""
    return [b for b in code_blocks("integrations.md", "yaml") if b.startswith("# alertmanager.yml")]


def filled(snippet: str) -> str:
    return snippet.replace("ESCALADE", BASE_URL).replace("KEY", KEY)


def test_the_guide_has_an_alertmanager_yml_for_each_receiver_kind() -> None:
    found = alertmanager_snippets()
    assert [("webhook_configs" in s, "pagerduty_configs" in s) for s in found] == [
        (True, False),
        (False, True),
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["webhook_configs", "pagerduty_configs"])
def test_each_alertmanager_yml_in_the_guide_passes_amtool(index: int, tmp_path: Path) -> None:
    snippet = alertmanager_snippets()[index]
    config = tmp_path / "alertmanager.yml"
    config.write_text(filled(snippet))
    checked = check_alertmanager_config(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    config.write_text(snippet)  # the placeholders as printed: amtool does look at the URL
    refused = check_alertmanager_config(config)
    assert refused.returncode != 0 and "URL" in refused.stdout, refused.stdout


# --- the webhook signature check --------------------------------------------------

POLICY = """
version: 1
people:
  alice: {name: Alice, contacts: [hook]}
channels:
  hook: {type: webhook, url: "${SINK_URL}/hook", secret: s3cret}
tiers:
  sev1: {name: Critical, ack_within: 5m, ladder: page}
ladders:
  page:
    rungs:
      - {notify: [person:alice], escalate_after: 5m}
default: {tier: sev1}
"""

Verify = Callable[..., bool]


def documented_verify(doc: str) -> Verify:
    """The `verify` function exactly as the doc prints it."""
    [source] = [b for b in code_blocks(doc, "python") if "def verify(" in b]
    namespace: dict[str, Any] = {}
    exec(compile(source, str(DOCS / doc), "exec"), namespace)
    verify: Verify = namespace["verify"]
    return verify


@pytest.mark.parametrize("doc", ["channels.md", "webhooks.md"])
def test_the_documented_signature_check_accepts_a_real_delivery_and_nothing_else(
    doc: str, harness: Harness, sink: Sink
) -> None:
    verify = documented_verify(doc)
    service = harness.service(text=POLICY, env={"SINK_URL": sink.url})
    wire = SignalIn.model_validate({"kind": "privacy_leak", "summary": "PII in output"})
    service.ingest(service.accept([wire]))
    harness.worker(service).run_once()
    [got] = sink.wait_for(1)
    assert got.json()["type"] == "escalade.notification"
    assert verify("s3cret", got.headers, got.body)
    assert not verify("another-secret", got.headers, got.body)
    assert not verify("s3cret", got.headers, got.body.replace(b"PII", b"pii"))
    stale = str(int(got.headers["X-Escalade-Timestamp"]) - 600)
    assert not verify("s3cret", {**got.headers, "X-Escalade-Timestamp": stale}, got.body)
