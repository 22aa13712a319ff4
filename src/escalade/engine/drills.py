"""Running drill scenarios in simulated time through the live engine's code.

A drill builds a real Escalade service on a throw-away SQLite database with a
simulated clock, and a worker whose channels record instead of sending. Between
steps it moves the clock to each due timer in turn and lets the worker act, so
every rung, reminder and delivery happens at its exact simulated time.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from escalade.channels.recording import Recorder, RecordingSender
from escalade.channels.registry import Senders
from escalade.domain.decisions import DecisionRefused
from escalade.domain.escalation import CannotEscalate
from escalade.domain.incidents import IllegalTransition
from escalade.domain.recipients import people_of
from escalade.domain.reviews import ReviewRefused, ReviewRequestIn
from escalade.domain.scenarios import Expect, Scenario, Step
from escalade.domain.targets import TargetKind
from escalade.engine.clock import SimulatedClock
from escalade.engine.commands import IncidentNotFound
from escalade.engine.service import Escalade
from escalade.engine.worker import Worker
from escalade.storage import deliveries, timers
from escalade.storage.migrate import upgrade

_MAX_TICKS = 100_000  # a runaway ladder (nobody reachable, climbing at once) ends here


class DrillEnv(Mapping[str, str]):
    """The environment for a drill's policy: real values where set, stand-ins
    elsewhere, since a drill never contacts a channel."""

    def __init__(self, base: Mapping[str, str]) -> None:
        self._base = base

    def __getitem__(self, key: str) -> str:
        return self._base.get(key, f"drill-{key.lower()}")

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


@dataclass(frozen=True)
class Check:
    offset: str
    what: str
    expected: Any
    actual: Any
    ok: bool

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        if self.ok:
            return f"  {mark} +{self.offset:<6} {self.what}: {_show(self.expected)}"
        return (
            f"  {mark} +{self.offset:<6} {self.what}: expected {_show(self.expected)}, "
            f"got {_show(self.actual)}"
        )


@dataclass
class DrillReport:
    scenario: str
    source: str
    tz: tzinfo | None = None
    checks: list[Check] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "source": self.source,
            "passed": self.passed,
            "checks": [c.__dict__ for c in self.checks],
            "timeline": self.timeline,
            "notifications": self.notifications,
        }

    def text(self) -> str:
        lines = [f"drill: {self.scenario} ({self.source})"]
        for entry in self.timeline:
            actor = f" by {entry['actor']}" if entry["actor"] else ""
            at = datetime.fromisoformat(entry["at"]).astimezone(self.tz)
            lines.append(
                f"  {at:%H:%M:%S}  {entry['incident']:<4} {entry['kind']}{actor}{_detail(entry)}"
            )
        lines += [c.line() for c in self.checks]
        failed = sum(1 for c in self.checks if not c.ok)
        verdict = "PASS" if not failed else "FAIL"
        lines.append(f"{verdict}: {len(self.checks) - failed} of {len(self.checks)} checks passed")
        return "\n".join(lines)


class _Drill:
    def __init__(self, policy: Path, scenario: Scenario, env: Mapping[str, str], tmp: str) -> None:
        self.scenario = scenario
        self.clock = SimulatedClock(scenario.start)
        self.service = Escalade(
            f"sqlite:///{tmp}/drill.db", policy, clock=self.clock, env=DrillEnv(env)
        )
        upgrade(self.service.db)
        self.recorder = Recorder()
        self.senders = Senders(build_sender=lambda _: RecordingSender(self.recorder))
        self.worker = Worker(
            self.service.db,
            lambda: self.service.policy,
            self.clock,
            self.senders,
            threading.Event(),
        )
        self.opened: list[str] = []
        self.report = DrillReport(scenario.name, str(policy), scenario.start.tzinfo)
        self.last_decision: dict[str, Any] | None = None
        self.reviews: list[str] = []

    def close(self) -> None:
        self.senders.close()
        self.service.close()

    # --- time --------------------------------------------------------------------
    def advance(self, target: datetime) -> None:
        for _ in range(_MAX_TICKS):
            with self.service.db.connect() as conn:
                due = [t for t in (timers.next_due(conn), deliveries.next_due(conn)) if t]
            if not due or min(due) > target:
                break
            self.clock.move_to(max(self.clock.now(), min(due)))
            self.worker.run_once()
        else:
            raise RuntimeError("the drill did not settle: something fires without end")
        self.clock.move_to(max(self.clock.now(), target))
        self.worker.run_once()
        self.track_opened()

    def track_opened(self) -> None:
        """Incidents in the order they opened, whether a signal or a timer opened them."""
        found = self.service.list_incidents(limit=500)
        for incident in sorted(found, key=lambda i: (i["opened_at"], i["id"])):
            if incident["id"] not in self.opened:
                self.opened.append(incident["id"])

    # --- steps -------------------------------------------------------------------
    def run(self) -> None:
        for step in self.scenario.steps:
            self.advance(self.scenario.time_of(step))
            self.perform(step)
            self.advance(self.clock.now())  # what the step made due now happens now
            if step.expect is not None:
                self.check(step.expect, str(step.at))
        if self.scenario.expect is not None:
            last = self.scenario.steps[-1]
            self.check(self.scenario.expect, f"{last.at} (end)")
        self.collect()

    def incident_id(self, index: int | None) -> str:
        if not self.opened:
            raise LookupError("no incident has opened yet in this drill")
        if index is None:
            return self.opened[-1]
        if not 1 <= index <= len(self.opened):
            raise LookupError(f"incident {index} does not exist (opened: {len(self.opened)})")
        return self.opened[index - 1]

    def perform(self, step: Step) -> None:
        action = step.action
        if action is None:
            return
        name, value = action
        try:
            if name == "signal":
                batch = self.service.accept([value])
                for accepted in self.service.ingest(batch).accepted:
                    if accepted.incident_id and accepted.incident_id not in self.opened:
                        self.opened.append(accepted.incident_id)
            elif name in ("review", "decide"):
                self.human_review(name, value)
            elif name in ("ack", "resolve", "escalate"):
                verb = {"ack": "acknowledge", "resolve": "resolve", "escalate": "escalate"}[name]
                getattr(self.service, verb)(self.incident_id(value.incident), value.by, value.note)
            else:
                self.governance(name, value)
        except (DecisionRefused, ReviewRefused) as exc:
            self.last_decision = {"status": "refused", "reason": exc.reason}
            if step.expect is None or step.expect.decision != "refused":
                self.report.checks.append(
                    Check(str(step.at), f"{name} step", "to succeed", str(exc), ok=False)
                )
        except (IllegalTransition, CannotEscalate, IncidentNotFound, LookupError) as exc:
            self.report.checks.append(
                Check(str(step.at), f"{name} step", "to succeed", str(exc), ok=False)
            )

    def governance(self, name: str, value: Any) -> None:
        incident_id = self.incident_id(value.incident)
        if name == "fact":
            until = value.until
            self.service.record_fact(incident_id, value.name, value.by, value.value, until)
            return
        if name == "submit":
            self.service.submit(incident_id, value.obligation, value.by, value.stage)
            return
        if name == "request_decision":
            acted = self.service.request_decision(incident_id, value.action, value.by, value.args)
        else:
            acted = self.service.vote(
                incident_id, value.by, value.approve, action=value.action, comment=value.comment
            )
        decisions = acted.incident.decisions
        self.last_decision = (
            dict(decisions[-1])
            if name == "request_decision"
            else next(dict(d) for d in reversed(decisions) if d["action"] == value.action)
        )

    def human_review(self, name: str, value: Any) -> None:
        if name == "review":
            wire = ReviewRequestIn.model_validate(value.model_dump(exclude={"by"}))
            requested = self.service.request_review(wire, value.by)
            self.reviews.append(requested.review.id)
            self.last_decision = None
            return
        if not self.reviews:
            raise LookupError("no review has been requested yet in this drill")
        index = value.review
        if index is not None and not 1 <= index <= len(self.reviews):
            raise LookupError(f"review {index} does not exist (requested: {len(self.reviews)})")
        review_id = self.reviews[-1 if index is None else index - 1]
        self.service.answer_review(
            review_id, value.by, value.approve, args=value.args, comment=value.comment
        )
        self.last_decision = None

    # --- expectations ------------------------------------------------------------
    def notified_names(self) -> set[str]:
        return {m.person or f"channel:{m.channel}" for m in self.recorder.messages}

    def check(self, expect: Expect, offset: str) -> None:
        add = self.report.checks.append
        policy = self.service.policy.policy
        now = self.clock.now()
        current = self.service.incident(self.opened[-1]) if self.opened else None
        notified = self.notified_names()
        for target in expect.notified:
            roles = current["roles"] if current else {}
            if target.kind is TargetKind.CHANNEL:
                wanted = {f"channel:{target.id}"}
            else:
                wanted = set(people_of(policy, target, roles, now))
            missing = sorted(wanted - notified)
            add(
                Check(
                    offset,
                    f"notified {target}",
                    sorted(wanted),
                    sorted(wanted & notified) if missing else sorted(wanted),
                    ok=bool(wanted) and not missing,
                )
            )
        for person in expect.never_notified:
            add(
                Check(
                    offset,
                    f"never notified {person}",
                    "not notified",
                    "notified" if person in notified else "not notified",
                    ok=person not in notified,
                )
            )
        fields: dict[str, Any] = dict(expect.incident)
        for name in ("status", "tier"):
            if getattr(expect, name) is not None:
                fields[name] = getattr(expect, name)
        if expect.rung is not None:
            fields["rung"] = expect.rung
        for key, wanted_value in fields.items():
            actual = _field(current, key)
            add(Check(offset, f"incident {key}", wanted_value, actual, ok=actual == wanted_value))
        if expect.incidents is not None:
            add(
                Check(
                    offset,
                    "incidents opened",
                    expect.incidents,
                    len(self.opened),
                    ok=len(self.opened) == expect.incidents,
                )
            )
        if expect.review:
            latest = self.service.review(self.reviews[-1]) if self.reviews else None
            record = latest.to_record() if latest else None
            for key, wanted_value in expect.review.items():
                actual = _field(record, key)
                add(Check(offset, f"review {key}", wanted_value, actual, ok=actual == wanted_value))
        kinds = [e["kind"] for e in (current or {}).get("timeline", [])]
        for kind in expect.timeline:
            add(Check(offset, f"timeline has {kind}", True, kind in kinds, ok=kind in kinds))
        decision = self.last_decision or {}
        for key in ("decision", "reason"):
            wanted_value = getattr(expect, key)
            if wanted_value is not None:
                actual = decision.get("status" if key == "decision" else "reason")
                add(Check(offset, key, wanted_value, actual, ok=actual == wanted_value))
        deadlines = (current or {}).get("obligations", [])
        for want in expect.obligations:
            matching = [
                d
                for d in deadlines
                if d["regime"] == want.regime and (want.stage is None or d["stage"] == want.stage)
            ]
            shown = [f"{d['stage']} due {d['due_at']} ({d['status']})" for d in matching]
            ok = bool(matching)
            if want.due is not None:
                ok = ok and any(datetime.fromisoformat(d["due_at"]) == want.due for d in matching)
            if want.status is not None:
                ok = ok and any(d["status"] == want.status for d in matching)
            wanted_text = want.regime + (f" due {want.due.isoformat()}" if want.due else "")
            add(Check(offset, f"obligation {want.regime}", wanted_text, shown or "none", ok=ok))

    def collect(self) -> None:
        label = {incident_id: f"#{n}" for n, incident_id in enumerate(self.opened, 1)}
        entries: list[dict[str, Any]] = []
        for incident_id in self.opened:
            shown = self.service.incident(incident_id) or {}
            for e in shown.get("timeline", []):
                if e["kind"] == "delivery.sent":
                    continue
                entries.append({**e, "incident": label[incident_id]})
        entries.sort(key=lambda e: (e["at"], e["id"]))
        self.report.timeline = entries
        self.report.notifications = [
            {
                "incident": label.get(m.incident_id, m.incident_id),
                "person": m.person,
                "channel": m.channel,
                "target": m.target,
                "subject": m.subject,
            }
            for m in self.recorder.messages
        ]


def run_drill(
    policy: Path, scenario: Scenario, env: Mapping[str, str] | None = None
) -> DrillReport:
    """Run one scenario against the policy at `policy`; nothing is sent anywhere."""
    with tempfile.TemporaryDirectory(prefix="escalade-drill-") as tmp:
        drill = _Drill(policy, scenario, os.environ if env is None else env, tmp)
        try:
            drill.run()
        finally:
            drill.close()
        return drill.report


def _field(incident: dict[str, Any] | None, key: str) -> Any:
    if incident is None:
        return None
    if key == "rung":
        return incident["ladder"]["rung"]
    value: Any = incident
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _detail(entry: dict[str, Any]) -> str:
    data = entry.get("data") or {}
    if entry["kind"] == "rung.fired":
        return f" rung {data.get('rung')} -> {', '.join(data.get('recipients', [])) or 'nobody'}"
    if entry["kind"] == "incident.opened":
        return f" {data.get('tier')} {data.get('type')} (rule {data.get('rule_id')})"
    if entry["kind"].startswith("delivery."):
        return f" {data.get('person') or data.get('channel')}: {data.get('error', '')}"
    return ""
