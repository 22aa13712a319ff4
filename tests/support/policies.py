"""Policies for tests, written inline so each test shows what it relies on."""

from __future__ import annotations

from collections.abc import Mapping

from escalade.domain.policy import Policy
from escalade.domain.policy_loader import parse_policy

BASE = """
version: 1
timezone: Europe/Berlin
people:
  alice: {name: Alice, email: alice@x.test, contacts: [hook]}
  bob:   {name: Bob, email: bob@x.test, contacts: [hook]}
  carol: {name: Carol, email: carol@x.test, contacts: [hook]}
  erin:  {name: Erin, email: erin@x.test, contacts: [hook]}
  ghost: {name: Ghost, contacts: []}
teams:
  oncall: {members: [alice, bob]}
  exec: {members: [erin]}
  nobody: {members: [ghost]}
schedules:
  primary:
    rotation: {members: [alice, bob], shift: 1w, start: "2026-01-05T09:00"}
channels:
  hook: {type: webhook, url: "${SINK_URL}", secret: "${SINK_SECRET}"}
  room: {type: webhook, url: "${SINK_URL}/room"}
tiers:
  sev1: {name: Critical, ack_within: 5m, roles: [incident_lead, legal_liaison], ladder: critical}
  sev2: {name: High, ack_within: 15m, ladder: standard}
  sev4: {name: Low, ack_within: 4h, ladder: standard}
roles:
  incident_lead: {filled_by: [schedule:primary]}
  legal_liaison: {filled_by: [team:nobody, person:carol]}
ladders:
  critical:
    rungs:
      - {notify: [schedule:primary], escalate_after: 5m}
      - {notify: [team:oncall, role:legal_liaison], escalate_after: 10m}
    repeat: 1
    exhausted: [team:exec, channel:room]
    ack_expires: 2h
  standard:
    rungs:
      - {notify: [schedule:primary], escalate_after: 15m}
      - {notify: [team:oncall], escalate_after: 30m}
rules:
  - id: privacy-leak
    match: {kind: privacy_leak}
    tier: sev1
    type: privacy
  - id: fairness
    match: {kind: fairness, labels: {env: production}}
    if: "signal.value > 0.10"
    tier: sev2
    type: fairness
    group_by: [subject.model, labels.segment]
default: {tier: sev4, type: other}
grouping: {window: 30m}
silences:
  - match: {subject: {model: canary}}
    from: "2026-11-01T00:00"
    to: "2026-12-01T00:00"
    reason: canary under test
"""

REFERENCE_ENV = {
    "SMTP_HOST": "127.0.0.1",
    "OPS_HOOK_URL": "http://127.0.0.1:9/h",
    "OPS_HOOK_SECRET": "s",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/s",
}
"""What examples/policies/reference.yaml reads from the environment, for tests."""

ENV = {"SINK_URL": "http://127.0.0.1:9/hook", "SINK_SECRET": "s3cret"}


def policy(text: str = BASE, env: Mapping[str, str] = ENV) -> Policy:
    return parse_policy([("test.yaml", text)], env)


REVIEW_SECTION = """
reviews:
  refund-over-limit:
    match: {action: issue_refund}
    if: "request.args.amount > 500"
    reviewers: [team:oncall]
    respond_within: 2m
    escalate_to: [person:erin]
    on_timeout: deny
  medical-advice:
    match: {action: send_medical_advice}
    reviewers: {m_of_n: {m: 2, of: [team:oncall, person:carol]}}
    respond_within: 10m
    on_timeout: halt
    open_incident_on: [deny, timeout]
  wire-transfer:
    match: {action: wire}
    reviewers: [person:alice]
    respond_within: 1m
    on_timeout: approve
  default: {approve: automatically}
"""

REVIEWS = (
    BASE.replace(
        "default: {tier: sev4, type: other}",
        "  - {id: review-outcome, match: {kind: review_deny}, tier: sev2, type: ai_action}\n"
        "  - {id: review-silence, match: {kind: review_timeout}, tier: sev2, type: ai_action}\n"
        "default: {tier: sev4, type: other}",
    )
    + REVIEW_SECTION
)
"""BASE plus review policies: a refund limit with escalation, a 2-of-2 quorum that opens
incidents, and a transfer that is approved when nobody answers."""
