"""The engine's front door: every use-case the API, the CLI and the dashboard call."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from escalade.domain import (
    exercises,
    feedback,
    learnings,
    metrics,
    policy_history,
    postmortem,
)
from escalade.domain.ack_links import AckGrant
from escalade.domain.command import (
    AddActionItem,
    AssignRole,
    ChangeSeverity,
    CloseActionItem,
    CommandRefused,
    ItemState,
    LogDecision,
    PostUpdate,
    Stage,
)
from escalade.domain.communications import (
    ApproveMessage,
    DraftMessage,
    EditMessage,
    SendMessage,
)
from escalade.domain.effects import Record, TimerKind
from escalade.domain.escalation import Acknowledge, Escalate, Event, Resolve
from escalade.domain.governance import CastVote, RecordFact, RecordSubmission, RequestDecision
from escalade.domain.paging import Cursor
from escalade.domain.postmortem import CloseReview, EditReview, OpenReview
from escalade.domain.reviews import Review, ReviewRequestIn, ReviewStats, review_stats
from escalade.domain.schedules import OnCall, roster
from escalade.domain.signals import Signal, SignalIn
from escalade.engine import commands, ingest, reviews
from escalade.engine.acklinks import AckLinks, AckLinksOff
from escalade.engine.backlog import Backlog
from escalade.engine.backlog import backlog as read_backlog
from escalade.engine.clock import Clock, SystemClock
from escalade.engine.effects import persist
from escalade.engine.handoff import Handoff, hand_over, lease_from
from escalade.engine.ids import new_id, new_token
from escalade.engine.ingest import IngestResult
from escalade.engine.messages import render
from escalade.engine.policies import LoadedPolicy, PolicyStore
from escalade.storage import feedback as feedback_store
from escalade.storage import (
    inbox,
    incidents,
    policy_versions,
    registry,
    signals,
    timeline,
    timers,
    tokens,
)
from escalade.storage import reviews as review_store
from escalade.storage.database import connect
from escalade.storage.tokens import TokenRecord

_T = TypeVar("_T")
_METRICS_PAGE = 500
_METRICS_TTL = 60.0  # seconds

SCOPES = ("admin", "responder", "viewer", "ingest")

# What each scope may do; a scope grants its own name and everything listed.
GRANTS: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin", "responder", "viewer", "ingest"}),
    "responder": frozenset({"responder", "viewer", "ingest"}),
    "viewer": frozenset({"viewer"}),
    "ingest": frozenset({"ingest"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    name: str
    scope: str

    def may(self, need: str) -> bool:
        return need in GRANTS.get(self.scope, frozenset())


class Escalade:
    """One Escalade instance: its database, its policy, its clock."""

    def __init__(
        self,
        database_url: str,
        policy_path: Path,
        *,
        clock: Clock | None = None,
        admin_token: str | None = None,
        env: Mapping[str, str] | None = None,
        callback_secret: str | None = None,
        callback_urls: Sequence[str] = (),
        ack_links: AckLinks | None = None,
    ) -> None:
        self.database_url = database_url
        self.db: Engine = connect(database_url)
        self.reader: Engine = connect(database_url, for_writes=False)
        self.policies = PolicyStore(policy_path, env)
        self.clock: Clock = clock or SystemClock()
        self.wake = threading.Event()
        self._admin_token = admin_token
        self.callback_secret = callback_secret
        self.callback_urls = tuple(callback_urls)
        self.ack_links = ack_links
        self._token_cache: dict[str, tuple[float, Principal | None]] = {}
        # Set while this process's own worker sends: ingest hands it new pages.
        self.handoff: Handoff | None = None
        # What to do when signals were queued: wake this process's worker (which,
        # while running, replaces it with its own `inbox_arrived`).
        self.queued: Callable[[], None] = self.wake.set
        self._metrics_cache: dict[tuple[str, int], tuple[float, dict[str, metrics.Summary]]] = {}
        self._backlog_cache: tuple[int, Backlog] | None = None

    @property
    def policy(self) -> LoadedPolicy:
        return self.policies.current

    def close(self) -> None:
        self.db.dispose()
        self.reader.dispose()

    # --- signals -------------------------------------------------------------
    def accept(self, wire: Sequence[SignalIn]) -> list[Signal]:
        """Signals accepted now, to route at once (`ingest`)."""
        return ingest.accept(wire, self.clock.now())

    def accept_queued(self, wire: Sequence[SignalIn]) -> list[dict[str, Any]]:
        """Signals accepted now, as inbox records to queue (`enqueue`)."""
        return ingest.accept_queued(wire, self.clock.now())

    def ingest(self, batch: Sequence[Signal]) -> ingest.IngestResult:
        handoff = self.handoff

        def write() -> IngestResult:
            now = self.clock.now()
            return ingest.ingest(self.db, self.policy, batch, now, lease_from(handoff, now))

        result = _reconnecting(write)
        hand_over(handoff, self.db, result.handed, self.wake)
        if result.due_now:
            self.wake.set()
        return result

    def rehearse(self) -> None:
        """Warm the ingest path at start-up; nothing is stored (ingest.rehearse)."""
        ingest.rehearse(self.db, self.policy, self.clock.now())

    def enqueue(self, records: Sequence[dict[str, Any]]) -> IngestResult:
        """Make signals durable in the inbox; the worker routes them right after."""
        result = _reconnecting(lambda: ingest.queue(self.db, records))
        if result.due_now:
            self.queued()
        return result

    def signal(self, signal_id: str) -> dict[str, Any] | None:
        """A signal as stored; one still waiting in the inbox shows `routed: false`."""
        with self.reader.connect() as conn:
            found = signals.get(conn, signal_id)
            if found is not None:
                return {**found, "routed": True}
            queued = inbox.get(conn, signal_id)
        if queued is None:
            return None
        return {
            **queued,
            "incident_id": None,
            "rule_id": None,
            "silenced_by": None,
            "routed": False,
        }

    # --- incidents -----------------------------------------------------------
    def act(self, incident_id: str, event: Event) -> commands.Acted:
        acted = commands.act(self.db, self.policy, incident_id, event, self.clock.now())
        if acted.due_now:
            self.wake.set()
        return acted

    def acknowledge(self, incident_id: str, by: str, note: str | None = None) -> commands.Acted:
        return self.act(incident_id, Acknowledge(by, note))

    def resolve(self, incident_id: str, by: str, note: str | None = None) -> commands.Acted:
        return self.act(incident_id, Resolve(by, note))

    def escalate(self, incident_id: str, by: str, note: str | None = None) -> commands.Acted:
        return self.act(incident_id, Escalate(by, note))

    def ack_grant(self, token: str) -> AckGrant:
        """What an acknowledge link allows: BadAckToken, ExpiredAckToken, or
        AckLinksOff when this server signs no links."""
        if self.ack_links is None:
            raise AckLinksOff("acknowledge links are off: ESCALADE_SECRET_KEY is not set")
        return self.ack_links.grant(token, self.clock.now())

    def acknowledge_by_link(self, token: str) -> commands.Acted:
        """Acknowledge as the person the link was sent to; the token is the credential."""
        grant = self.ack_grant(token)
        by = grant.person or "ack-link"
        return self.acknowledge(grant.incident_id, by, note="acknowledged from a message link")

    def record_fact(
        self,
        incident_id: str,
        name: str,
        by: str,
        value: Any = True,
        until: datetime | None = None,
    ) -> commands.Acted:
        return self.act(incident_id, RecordFact(name, by, value, until))

    def request_decision(
        self, incident_id: str, action: str, by: str, args: dict[str, Any] | None = None
    ) -> commands.Acted:
        decision_id = new_id("dec", self.clock.now())
        return self.act(incident_id, RequestDecision(action, by, decision_id, args or {}))

    def vote(
        self,
        incident_id: str,
        by: str,
        approve: bool,
        *,
        decision_id: str | None = None,
        action: str | None = None,
        comment: str | None = None,
    ) -> commands.Acted:
        """A vote on a decision (by id, or the pending one on `action`, opened if none)."""
        event = CastVote(by, approve, decision_id, action, new_id("dec", self.clock.now()), comment)
        return self.act(incident_id, event)

    def submit(
        self, incident_id: str, obligation: str, by: str, stage: str | None = None
    ) -> commands.Acted:
        return self.act(incident_id, RecordSubmission(obligation, by, stage))

    # --- incident command ------------------------------------------------------
    def assign_role(
        self, incident_id: str, role: str, person: str, by: str, reason: str
    ) -> commands.Acted:
        return self.act(incident_id, AssignRole(role, person, by, reason))

    def post_update(self, incident_id: str, stage: str, message: str, by: str) -> commands.Acted:
        acted = self.act(incident_id, PostUpdate(Stage(stage), message, by))
        if stage == Stage.RESOLVED and acted.incident.is_open:
            return self.resolve(incident_id, by, message)
        return acted

    def change_severity(self, incident_id: str, tier: str, by: str, reason: str) -> commands.Acted:
        return self.act(incident_id, ChangeSeverity(tier, by, reason))

    def log_decision(
        self,
        incident_id: str,
        what: str,
        why: str,
        by: str,
        *,
        evidence: tuple[str, ...] = (),
        role: str | None = None,
        decision_id: str | None = None,
    ) -> commands.Acted:
        return self.act(incident_id, LogDecision(what, why, by, evidence, role, decision_id))

    def add_action_item(
        self, incident_id: str, title: str, owner: str, due_at: datetime, by: str
    ) -> commands.Acted:
        item_id = new_id("act", self.clock.now())
        return self.act(incident_id, AddActionItem(item_id, title, owner, due_at, by))

    def close_action_item(
        self,
        incident_id: str,
        item_id: str,
        state: str,
        by: str,
        note: str | None = None,
        *,
        policy_version: str | None = None,
    ) -> commands.Acted:
        """Close an item; `policy_version` (a version number or digest prefix) marks it
        as resolved by that policy change."""
        digest = None
        if policy_version is not None:
            found = self.policy_version(policy_version)
            if found is None:
                raise CommandRefused(
                    "no_such_policy_version", f"no policy version {policy_version!r}"
                )
            digest = found["digest"]
        event = CloseActionItem(item_id, ItemState(state), by, note, policy_version=digest)
        return self.act(incident_id, event)

    # --- policy history ----------------------------------------------------------
    def record_policy(self, author: str) -> dict[str, Any] | None:
        """Store the running policy as a version if it is not the one that went live
        last; the new version, or None when nothing changed (or another process
        recorded the same change first)."""
        loaded = self.policy
        with self.db.begin() as conn:
            last = policy_versions.latest(conn)
            if last is not None and last["digest"] == loaded.digest:
                return None
            before = [tuple(s) for s in last["sources"]] if last else []
            changes = policy_history.diff(before, loaded.files)
            stored = policy_versions.record(
                conn,
                digest=loaded.digest,
                previous=last["digest"] if last else "",
                sources=[list(s) for s in loaded.files],
                author=author,
                diff=changes,
                now=self.clock.now(),
            )
            return policy_versions.latest(conn) if stored else None

    def policy_history(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            return policy_versions.history(conn, limit)

    def policy_version(self, ref: str) -> dict[str, Any] | None:
        """A version by number or digest prefix; `current` is the running policy's."""
        with self.reader.connect() as conn:
            if ref == "current":
                ref = self.policy.digest
            return policy_versions.find(conn, ref)

    # --- live drills ---------------------------------------------------------------
    def start_exercise(self, wire: SignalIn, name: str, by: str) -> str:
        """Open a live drill: an exercise incident from `wire`, through the real channels
        and people, labelled on every message, with no clock and nothing external."""
        now = self.clock.now()
        signal = replace(ingest.accept([wire], now)[0], exercise=name)
        [accepted] = self.ingest([signal]).accepted
        if accepted.incident_id is None:
            raise ValueError("the exercise signal opened no incident")
        with self.db.begin() as conn:
            record = Record(
                accepted.incident_id, now, "exercise.started", actor=by, data={"name": name}
            )
            persist(conn, [record], now)
        return accepted.incident_id

    def exercise_report(self, incident_id: str) -> dict[str, Any] | None:
        found = self.incident(incident_id)
        if found is None or not found.get("exercise"):
            return None
        return exercises.report(self.policy.policy, found)

    def list_exercises(self, limit: int = 50) -> list[dict[str, Any]]:
        """Every live drill, newest first, each as its trend line."""
        with self.reader.connect() as conn:
            found = incidents.exercises(conn, limit)
        lines = []
        for incident in found:
            shown = self.incident(incident.id)
            if shown is not None:
                lines.append(exercises.summary(exercises.report(self.policy.policy, shown)))
        return lines

    # --- responder feedback --------------------------------------------------------
    def submit_feedback(
        self, incident_id: str, person: str, rating: int, comment: str | None = None
    ) -> feedback.Answer:
        """A participant's rating of a resolved incident (FeedbackRefused otherwise)."""
        now = self.clock.now()
        with self.db.begin() as conn:
            incident = incidents.get(conn, incident_id)
            if incident is None:
                raise commands.IncidentNotFound(incident_id)
            feedback.check_answer(self.policy.policy, incident, person, rating, comment)
            answer = feedback.Answer(incident_id, person, rating, comment, incident.tier, now)
            feedback_store.save(conn, answer)
            record = Record(
                incident_id, now, "feedback.received", actor=person, data={"rating": rating}
            )
            persist(conn, [record], now)
        return answer

    def feedback_grant(self, token: str) -> AckGrant:
        """Whom a feedback link lets rate which incident (BadAckToken, ExpiredAckToken,
        AckLinksOff)."""
        if self.ack_links is None:
            raise AckLinksOff("feedback links are off: ESCALADE_SECRET_KEY is not set")
        return self.ack_links.feedback_grant(token, self.clock.now())

    def feedback_by_link(self, token: str, rating: int, comment: str | None) -> feedback.Answer:
        grant = self.feedback_grant(token)
        return self.submit_feedback(grant.incident_id, grant.person or "", rating, comment)

    def feedback_metrics(self, by: str, since: datetime | None = None) -> dict[str, Any]:
        """Satisfaction with the response, per team or tier: responses, mean, distribution.

        Ratings of live drills are left out: a drill measures the people and channels,
        not how a real response felt."""
        with self.reader.connect() as conn:
            answers = feedback_store.since(conn, since)
        answers = [a for a in answers if not ingest.is_exercise(a.incident_id)]
        groups = feedback.satisfaction(self.policy.policy, answers, by)
        return {"by": by, "groups": {k: v.to_record() for k, v in groups.items()}}

    def learning_metrics(self, since: datetime | None = None) -> dict[str, Any]:
        """Policy updates following incidents: policy versions that closed an incident's
        action item, and the share of resolved incidents that led to one.

        With `since`, only versions that went live since then count, also as the
        update that followed an incident. Live drills are not incidents here."""
        with self.reader.connect() as conn:
            versions = policy_versions.history(conn, limit=100_000)
            resolved = incidents.resolved_since(conn, since)
        resolved = [i for i in resolved if not ingest.is_exercise(i.id)]
        if since is not None:
            versions = [v for v in versions if datetime.fromisoformat(v["activated_at"]) >= since]
        in_window = {v["digest"] for v in versions}
        linked: dict[str, set[str]] = {}
        for incident in resolved:
            for item in incident.action_items:
                if item.get("policy_version") in in_window:
                    linked.setdefault(incident.id, set()).add(item["policy_version"])
        following = {d for digests in linked.values() for d in digests}
        return {
            "policy_versions": len(versions),
            "policy_updates_following_incidents": len(following),
            "resolved_incidents": len(resolved),
            "incidents_followed_by_policy_update": len(linked),
            "rate": round(len(linked) / len(resolved), 4) if resolved else None,
        }

    # --- communications ---------------------------------------------------------
    def draft_message(self, incident_id: str, template_id: str, by: str) -> commands.Acted:
        """Render the template for the incident as it is now, redact it, keep it as a draft."""
        policy = self.policy.policy
        with self.reader.connect() as conn:
            incident = incidents.get(conn, incident_id)
            next_update = timers.next_for_incident(conn, incident_id, (TimerKind.UPDATE,))
        if incident is None:
            raise commands.IncidentNotFound(incident_id)
        template = policy.templates.get(template_id)
        if template is None:
            raise CommandRefused("no_such_template", f"no template {template_id!r}")
        subject, body = render(policy, template, incident, next_update)
        message_id = new_id("msg", self.clock.now())
        return self.act(incident_id, DraftMessage(message_id, template_id, subject, body, by))

    def edit_message(
        self, incident_id: str, message_id: str, subject: str, body: str, by: str
    ) -> commands.Acted:
        return self.act(incident_id, EditMessage(message_id, subject, body, by))

    def approve_message(self, incident_id: str, message_id: str, by: str) -> commands.Acted:
        return self.act(incident_id, ApproveMessage(message_id, by))

    def send_message(self, incident_id: str, message_id: str, by: str) -> commands.Acted:
        return self.act(incident_id, SendMessage(message_id, by))

    # --- post-incident review ----------------------------------------------------
    def edit_review(self, incident_id: str, by: str, fields: dict[str, str]) -> commands.Acted:
        """Open the review if there is none, then write the given sections."""
        acted = self.act(incident_id, OpenReview(by))
        return self.act(incident_id, EditReview(by, fields)) if fields else acted

    def close_review(self, incident_id: str, by: str) -> commands.Acted:
        return self.act(incident_id, CloseReview(by))

    def learning_export(self, incident_id: str) -> dict[str, Any] | None:
        """The incident anonymised for publishing (raises learnings.ExportRefused)."""
        record = self.incident(incident_id)
        return None if record is None else learnings.export(record, self.policy.policy)

    def review_markdown(self, incident_id: str) -> str | None:
        record = self.incident(incident_id)
        return None if record is None else postmortem.markdown(record)

    # --- registry and risk register ----------------------------------------------
    def _person(self, person: str, what: str) -> None:
        if person not in self.policy.policy.people:
            raise ValueError(f"{what}: {person!r} is not a person of the policy")

    def register_system(
        self, system_id: str, name: str, owner: str, description: str | None
    ) -> dict[str, Any]:
        self._person(owner, "owner")
        with self.db.begin() as conn:
            registry.put_system(
                conn,
                {
                    "id": system_id,
                    "name": name,
                    "owner": owner,
                    "description": description,
                    "updated_at": self.clock.now(),
                },
            )
            found = registry.system(conn, system_id)
        assert found is not None
        return found

    def register_model(
        self, system_id: str, model: str, version: str, owner: str, card: dict[str, Any]
    ) -> dict[str, Any]:
        self._person(owner, "owner")
        with self.db.begin() as conn:
            if registry.system(conn, system_id) is None:
                raise LookupError(f"no AI system {system_id!r}; register it first")
            registry.put_model(
                conn,
                {
                    "model": model,
                    "version": version,
                    "system_id": system_id,
                    "owner": owner,
                    "card": card,
                    "registered_at": self.clock.now(),
                },
            )
            found = registry.model_card(conn, model, version)
        assert found is not None
        return found

    def systems(self) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            return registry.systems(conn)

    def system(self, system_id: str) -> dict[str, Any] | None:
        with self.reader.connect() as conn:
            return registry.system(conn, system_id)

    def open_risk(
        self,
        incident_id: str,
        *,
        title: str,
        description: str | None,
        severity: str,
        owner: str,
        by: str,
    ) -> dict[str, Any]:
        """A risk register entry from an incident, linked to its system and model."""
        self._person(owner, "owner")
        now = self.clock.now()
        risk_id = new_id("risk", now)
        with self.db.begin() as conn:
            incident = incidents.get(conn, incident_id)
            if incident is None:
                raise commands.IncidentNotFound(incident_id)
            registry.add_risk(
                conn,
                {
                    "id": risk_id,
                    "incident_id": incident_id,
                    "system_id": incident.subject.get("system"),
                    "model": incident.subject.get("model"),
                    "title": title,
                    "description": description,
                    "severity": severity,
                    "owner": owner,
                    "status": "open",
                    "created_by": by,
                    "created_at": now,
                },
            )
            timeline.append(
                conn,
                [
                    Record(
                        incident_id,
                        now,
                        "risk.opened",
                        actor=by,
                        data={"risk_id": risk_id, "title": title},
                    )
                ],
            )
        return {"id": risk_id, "incident_id": incident_id, "title": title, "status": "open"}

    def risk_register(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            return registry.risk_register(conn, incident_id)

    # --- metrics -----------------------------------------------------------------
    def incident_metrics(
        self,
        *,
        by: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, metrics.Summary]:
        """MTTD, MTTA, MTTR and the rest (docs/metrics.md) over incidents opened in range.

        Every incident in range counts (no sampling), except live drills, which would
        skew the figures. Recurrence looks 30 days further back than `since`, so those
        are read too; timelines and first signals are read in bulk, a page of incidents
        at a time.
        """
        lookback = since - timedelta(days=30) if since else None
        policy = self.policy.policy
        now = self.clock.now()
        facts = []
        with self.reader.connect() as conn:
            found = incidents.listing(conn, limit=None, since=lookback, until=until)
            found = [i for i in found if not ingest.is_exercise(i.id)]
            for start in range(0, len(found), _METRICS_PAGE):
                page = found[start : start + _METRICS_PAGE]
                ids = [i.id for i in page]
                timelines = timeline.for_incidents(conn, ids)
                firsts = signals.first_for_incidents(conn, ids)
                for incident in page:
                    first = firsts.get(incident.id)
                    record = {
                        **incident.to_record(),
                        "timeline": timelines.get(incident.id, []),
                        "signals": [first] if first else [],
                    }
                    lead = incident.roles.get("incident_lead")
                    team = next((t for t, s in policy.teams.items() if lead in s.members), None)
                    facts.append(metrics.facts_of(record, team=team, now=now))
        return metrics.summarise(facts, by=by, since=since, until=until)

    def recent_metrics(self, by: str = "tier", days: int = 30) -> dict[str, metrics.Summary]:
        """The last `days` of incident metrics, recomputed at most once a minute.

        Prometheus scrapes often; reading a month of timelines on every scrape would
        put the dashboard's cost on the database that pages people.
        """
        at = time.monotonic()
        cached = self._metrics_cache.get((by, days))
        if cached is not None and cached[0] > at:
            return cached[1]
        fresh = self.incident_metrics(by=by, since=self.clock.now() - timedelta(days=days))
        self._metrics_cache[(by, days)] = (at + _METRICS_TTL, fresh)
        return fresh

    def backlog(self, stale_after: timedelta) -> Backlog:
        """The queues now (engine/backlog.py), read at most once a second of the
        engine's clock: `/metrics` is public and never rate limited, and a client
        calling it in a loop must not turn into a query loop on the database."""
        now = self.clock.now()
        second = int(now.timestamp())
        cached = self._backlog_cache
        if cached is not None and cached[0] == second:
            return cached[1]
        found = read_backlog(self.reader, now, stale_after)
        self._backlog_cache = (second, found)
        return found

    def list_incidents(
        self,
        *,
        status: str | None = None,
        tier: str | None = None,
        limit: int = 50,
        before: Cursor | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        type: str | None = None,
        model: str | None = None,
        team: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. `team` keeps incidents led by one of the team's members."""
        leads = None
        if team is not None:
            found_team = self.policy.policy.teams.get(team)
            leads = list(found_team.members) if found_team else []
        with self.reader.connect() as conn:
            found = incidents.listing(
                conn,
                status=status,
                tier=tier,
                limit=limit,
                before=before,
                since=since,
                until=until,
                type=type,
                model=model,
                leads=leads,
            )
        return [i.to_record() for i in found]

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        with self.reader.connect() as conn:
            found = incidents.get(conn, incident_id)
            if found is None:
                return None
            model = found.subject.get("model")
            card = registry.model_card(conn, model, found.subject.get("version")) if model else None
            return {
                **found.to_record(),
                "model_card": card,
                "risks": registry.risk_register(conn, incident_id),
                "timeline": timeline.for_incident(conn, incident_id),
                "signals": signals.for_incident(conn, incident_id),
                "feedback": [
                    {"person": a.person, "rating": a.rating, "comment": a.comment}
                    for a in feedback_store.for_incident(conn, incident_id)
                ],
                "next_rung_at": _iso(timers.next_for_incident(conn, incident_id, _RUNG_TIMERS)),
            }

    def audit_log(self, *, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """The timeline of every incident and review, newest first."""
        with self.reader.connect() as conn:
            return timeline.recent(conn, limit=limit, before=before)

    def on_call(self, at: datetime | None = None) -> list[OnCall]:
        """Who holds each schedule now (or at `at`), until when, and who is next."""
        return roster(self.policy.policy, at or self.clock.now())

    # --- human review of AI actions --------------------------------------------
    def request_review(self, wire: ReviewRequestIn, requested_by: str) -> reviews.Requested:
        """Route an AI system's request to its reviewers (or decide it by policy)."""
        if wire.callback_url is not None:
            self._check_callback(wire.callback_url)
        now = self.clock.now()
        requested = reviews.request(
            self.db,
            self.policy,
            wire,
            review_id=new_id("rev", now),
            requested_by=requested_by,
            now=now,
        )
        if requested.due_now:
            self.wake.set()
        return requested

    def _check_callback(self, url: str) -> None:
        if not self.callback_secret:
            raise ValueError(
                "callback_url: this server signs no callbacks (ESCALADE_CALLBACK_SECRET is "
                "not set); wait with GET /v1/reviews/{id}?wait=SECONDS instead"
            )
        if not any(url.startswith(prefix) for prefix in self.callback_urls):
            raise ValueError(
                "callback_url: not under any prefix in ESCALADE_CALLBACK_URLS "
                "(the server only calls back where its operator allows)"
            )

    def answer_review(
        self,
        review_id: str,
        person: str,
        approve: bool,
        *,
        args: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> Review:
        review, due = reviews.answer(
            self.db,
            self.policy,
            review_id,
            person=person,
            approve=approve,
            edited_args=args,
            comment=comment,
            now=self.clock.now(),
        )
        if due:
            self.wake.set()
        return review

    def check_decider(self, principal: Principal, review_id: str) -> None:
        """PermissionError when the token's scope may not decide reviews (viewer,
        ingest); the attempt goes on the review's timeline first."""
        if principal.may("responder"):
            return
        self._refuse_review(principal, review_id, "scope", None, {"scope": principal.scope})
        raise PermissionError(f"token scope '{principal.scope}' may not do this (responder)")

    def decide_review(
        self,
        principal: Principal,
        review_id: str,
        approve: bool,
        *,
        by: str | None = None,
        args: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> Review:
        """A reviewer's answer through a token: `answer_review` as `acting_as` allows.

        A token whose scope may not decide (viewer, ingest) or a person's token
        posing as someone else (`by`) raises PermissionError, and the attempt goes
        on the review's timeline like any other refusal.
        """
        self.check_decider(principal, review_id)
        try:
            person = self.acting_as(principal, by)
        except PermissionError:
            self._refuse_review(principal, review_id, "cannot_act_as", approve, {"acting_as": by})
            raise
        return self.answer_review(review_id, person, approve, args=args, comment=comment)

    def _refuse_review(
        self,
        principal: Principal,
        review_id: str,
        reason: str,
        approve: bool | None,
        detail: dict[str, Any],
    ) -> None:
        reviews.refuse(
            self.db,
            review_id,
            person=principal.name,
            reason=reason,
            approve=approve,
            now=self.clock.now(),
            detail=detail,
        )

    def review(self, review_id: str) -> Review | None:
        return reviews.get(self.reader, review_id)

    def review_timeline(self, review_id: str) -> list[dict[str, Any]]:
        with self.reader.connect() as conn:
            return timeline.for_incident(conn, review_id)

    def list_reviews(self, *, status: str | None = None, limit: int = 50) -> list[Review]:
        with self.reader.connect() as conn:
            return review_store.listing(conn, status=status, limit=limit)

    def review_metrics(self, days: int = 30) -> dict[str, ReviewStats]:
        """Time to decision and timeout rate per review policy, over the last `days`."""
        since = self.clock.now() - timedelta(days=days)
        with self.reader.connect() as conn:
            return review_stats(review_store.decided_since(conn, since))

    # --- tokens --------------------------------------------------------------
    def create_token(self, name: str, scope: str, token: str | None = None) -> tuple[str, str]:
        """Store a new token (only its hash) and return (token id, token)."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        now = self.clock.now()
        token = token or new_token()
        token_id = new_id("tok", now)
        with self.db.begin() as conn:
            tokens.create(conn, token_id=token_id, name=name, token=token, scope=scope, now=now)
        return token_id, token

    def list_tokens(self) -> list[dict[str, object]]:
        """Every token's id, name, scope, creation, last use and revocation (never a hash)."""
        with self.reader.connect() as conn:
            return tokens.listing(conn)

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token at once in this process (other processes within 5 s).

        False when no live token has this id.
        """
        with self.db.begin() as conn:
            revoked = tokens.revoke(conn, token_id, self.clock.now())
        if revoked:
            self._token_cache = {
                k: v
                for k, v in self._token_cache.items()
                if v[1] is None or v[1].token_id != token_id
            }
        return revoked

    # --- audit ---------------------------------------------------------------
    def verify_audit(
        self, incident_id: str | None = None, *, among: Collection[str] | None = None
    ) -> dict[str, Any]:
        """Check the timeline's hash chains: every chain, one incident's (or
        review's), or those `among` these ids."""
        chains = [incident_id] if incident_id is not None else among
        with self.reader.connect() as conn:
            return timeline.verify_report(conn, chains)

    def principal(self, token_id: str) -> Principal | None:
        """The principal of a live token, by id (None once revoked): sessions hold ids."""
        if token_id == _BOOTSTRAP.token_id:
            return _BOOTSTRAP if self._admin_token else None
        with self.reader.connect() as conn:
            record = tokens.by_id(conn, token_id)
        if record is None or record.revoked:
            return None
        return Principal(record.id, record.name, record.scope)

    def acting_as(self, principal: Principal, by: str | None) -> str:
        """Who acts. A token named after a person of the policy acts only as that person
        (admins excepted), so one responder cannot cast another's vote."""
        if principal.name in self.policy.policy.people and principal.scope != "admin":
            if by not in (None, principal.name):
                raise PermissionError(f"token of {principal.name!r} cannot act as {by!r}")
            return principal.name
        return by or principal.name

    def authenticate(self, token: str) -> Principal | None:
        """The principal behind a bearer token; cached for a few seconds per token.

        The cache keeps the hot ingest path free of a database read per
        request; revoking a token takes effect within the cache lifetime.
        """
        if self._admin_token and _same(token, self._admin_token):
            return _BOOTSTRAP
        now = time.monotonic()
        cached = self._token_cache.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self.db.begin() as conn:
            record: TokenRecord | None = tokens.find(conn, token)
            if record is not None and not record.revoked:
                tokens.touch(conn, record.id, self.clock.now())
        principal = (
            Principal(record.id, record.name, record.scope)
            if record is not None and not record.revoked
            else None
        )
        if len(self._token_cache) > 10_000:
            self._token_cache.clear()
        self._token_cache[token] = (now + 5.0, principal)
        return principal


_RUNG_TIMERS = (TimerKind.LADDER, TimerKind.HOURS)
_BOOTSTRAP = Principal("bootstrap", "bootstrap-admin", "admin")  # ESCALADE_ADMIN_TOKEN


def _reconnecting(write: Callable[[], _T]) -> _T:
    """`write()`, once more if the database connection turned out dead (the server
    restarted since the pool opened it): the pool has been emptied by then.

    Only for writes keyed by ids fixed before the call (signals): if the lost
    connection had committed after all, the second try finds them stored.
    """
    try:
        return write()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return write()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
