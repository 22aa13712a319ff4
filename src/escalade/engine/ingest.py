"""Ingest: a batch of validated signals in, one transaction out.

Every signal of a batch is routed, attached to the open incident of its group
(or opens one), and written together with the timeline, timers and outbox rows
the core asked for. The API answers 202 only after this commit. Batching is the
point: the HTTP layer collects concurrent requests into one call (group
commit), so a burst costs one fsync, not one per signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, text

from escalade.domain.effects import Effect
from escalade.domain.escalation import Outcome, SignalArrived, apply, open_incident
from escalade.domain.incidents import Incident
from escalade.domain.signals import Signal, SignalIn
from escalade.engine.effects import persist
from escalade.engine.ids import new_id
from escalade.engine.policies import LoadedPolicy
from escalade.storage import incidents, signals
from escalade.storage.signals import StoredSignal


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    incident_id: str | None
    duplicate: bool = False
    silenced_by: str | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: tuple[Accepted, ...]
    due_now: bool


def accept(wire: Sequence[SignalIn], now: datetime) -> list[Signal]:
    return [Signal.accept(w, signal_id=new_id("sig", now), received_at=now) for w in wire]


def ingest(
    db: Engine, loaded: LoadedPolicy, batch: Sequence[Signal], now: datetime
) -> IngestResult:
    with db.begin() as conn:
        return ingest_in(conn, loaded, batch, now)


def ingest_in(
    conn: Connection, loaded: LoadedPolicy, batch: Sequence[Signal], now: datetime
) -> IngestResult:
    policy = loaded.policy
    window = policy.grouping.window.as_timedelta()
    seen = signals.existing(conn, [s.id for s in batch])
    fresh: list[Signal] = []
    for s in batch:
        if s.id not in seen:
            seen[s.id] = None
            fresh.append(s)
    routes = {s.id: loaded.rules.route(s, now) for s in fresh}
    keys = {r.group_key for r in routes.values() if r.silenced_by is None}
    _lock_groups(conn, keys)
    open_now = incidents.open_by_group(conn, keys, lock=True)
    read_versions = {i.id: i.version for i in open_now.values()}
    current: dict[str, Incident] = {}  # incident id -> latest state in this batch
    new_ids: set[str] = set()
    effects: list[Effect] = []
    stored: list[StoredSignal] = []
    accepted: dict[str, Accepted] = {}
    for s in fresh:
        route = routes[s.id]
        incident_id: str | None = None
        if route.silenced_by is None:
            incident = open_now.get(route.group_key)
            if incident is not None and _joins(incident, now, window):
                outcome: Outcome = apply(policy, incident, SignalArrived(s), now)
            else:
                outcome = open_incident(policy, route, s, new_id("inc", now), now)
                new_ids.add(outcome.incident.id)
            incident_id = outcome.incident.id
            open_now[route.group_key] = outcome.incident
            current[incident_id] = outcome.incident
            effects.extend(outcome.effects)
        stored.append(
            StoredSignal(s, incident_id, route.rule_id, route.group_key, route.silenced_by)
        )
        accepted[s.id] = Accepted(s.id, incident_id, silenced_by=route.silenced_by)
    signals.insert(conn, stored)
    incidents.insert(conn, [i for k, i in current.items() if k in new_ids])
    incidents.save(conn, [(i, read_versions[k]) for k, i in current.items() if k not in new_ids])
    due = persist(conn, effects, now)
    result = []
    answered: set[str] = set()
    for s in batch:
        first = accepted.get(s.id)
        if first is not None and s.id not in answered:
            result.append(first)
        else:
            incident_id = first.incident_id if first else seen.get(s.id)
            result.append(Accepted(s.id, incident_id, duplicate=True))
        answered.add(s.id)
    return IngestResult(tuple(result), due)


def _joins(incident: Incident, now: datetime, window: timedelta) -> bool:
    """A signal joins an open incident whose last signal is within the window."""
    return now - incident.last_signal_at <= window


def _lock_groups(conn: Connection, keys: set[str]) -> None:
    """Serialise writers on the same group keys (PostgreSQL; SQLite has one writer).

    Without it two API processes could each open an incident for one group.
    Keys are locked in sorted order so two batches never deadlock.
    """
    if conn.dialect.name != "postgresql":
        return
    if keys:
        conn.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
            ),
            {"keys": sorted(keys)},
        )
