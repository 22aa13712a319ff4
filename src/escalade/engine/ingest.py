"""Ingest: a batch of validated signals in, one transaction out.

Every signal of a batch is routed, attached to the open incident of its group
(or opens one), and written together with the timeline, timers and outbox rows
the core asked for. The API answers 202 only after this commit. Batching is the
point: the HTTP layer collects concurrent requests into one call (group
commit), so a burst costs one fsync, not one per signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from escalade.domain.effects import Effect, SetTimer, TimerKind
from escalade.domain.escalation import Outcome, SignalsArrived, apply, open_incident
from escalade.domain.incidents import Incident
from escalade.domain.rules import Observation, Route, WindowState
from escalade.domain.signals import Signal, SignalIn, wire_record
from escalade.engine.effects import persist_leased
from escalade.engine.ids import new_id, new_ids
from escalade.engine.policies import LoadedPolicy
from escalade.storage import inbox, incidents, rule_state, signals, wakeups
from escalade.storage.database import ANSWER_UNREAD, pipelined
from escalade.storage.deliveries import Delivery, Lease
from escalade.storage.signals import StoredSignal
from escalade.storage.timers import DueTimer

# PostgreSQL advisory locks are the database's, not a schema's: the router's
# key is paired with the schema, so deployments or test runs in different
# schemas of one database each have their own router. (The per-group locks of
# `_lock_groups` stay the database's: the release before this one takes them
# so, and two versions must serialise the same groups during a rolling
# upgrade; across schemas they cost at most a brief wait on an equal key.)
ROUTER_LOCK = 0x65736361  # one inbox router at a time, per schema
TAKE_ROUTER_LOCK = "pg_try_advisory_xact_lock(:k, hashtext(current_schema()))"
CONDITION_OWNER = "rule:"  # timers of `when: {for: ...}` belong to a rule, not an incident
EXERCISE_PREFIX = "exr"  # incident ids of live drills: exr_...


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
    # Messages written claimed by the caller's lease, for its own sender.
    handed: tuple[Delivery, ...] = ()


def accept(wire: Sequence[SignalIn], now: datetime) -> list[Signal]:
    return [
        Signal.accept(w, signal_id=signal_id, received_at=now)
        for w, signal_id in zip(wire, new_ids("sig", now, len(wire)), strict=True)
    ]


def accept_queued(wire: Sequence[SignalIn], now: datetime) -> list[dict[str, Any]]:
    """Signals accepted now, as their inbox records: the stored form, marked
    `fresh` where the id was made here (which spares the router its look-up)."""
    received = now.isoformat()
    records = []
    for w, signal_id in zip(wire, new_ids("sig", now, len(wire)), strict=True):
        record = wire_record(w, signal_id, received)
        if w.id is None:
            record["fresh"] = True
        records.append(record)
    return records


REHEARSAL_KIND = "escalade.rehearsal"


def rehearse(db: Engine, loaded: LoadedPolicy, now: datetime) -> None:
    """Route a signal through the whole ingest path in a transaction that is
    rolled back. A process builds and caches each statement the first time it
    runs it, which made the first signal an API process routed about 10 ms
    slower than the next (`docs/benchmarks.md`); rehearsed at start-up, the
    first real signal finds them built. Nothing of it is kept: no row, no
    NOTIFY (PostgreSQL sends those at commit), no page handed to a sender."""
    [signal] = accept([SignalIn(kind=REHEARSAL_KIND, summary="start-up rehearsal")], now)
    with db.connect() as conn, conn.begin() as transaction:
        ingest_in(conn, loaded, [signal], now)
        transaction.rollback()  # (an error rolls back on the way out as well)


def ingest(
    db: Engine,
    loaded: LoadedPolicy,
    batch: Sequence[Signal],
    now: datetime,
    lease: Lease | None = None,
) -> IngestResult:
    """Route and store a batch in one transaction. With a `lease`, the messages
    it writes are claimed by it and returned in `handed` (engine/handoff.py)."""
    with pipelined(db) as conn:
        return ingest_in(conn, loaded, batch, now, lease)


def queue(db: Engine, records: Sequence[dict[str, Any]]) -> IngestResult:
    """Append inbox records (`accept_queued`): durable at commit, routed by a
    worker right after.

    Duplicates (an id already queued or routed, or twice in the batch) are
    answered as such and stored once; only ids the sender named are looked up,
    generated ones (`fresh`) are new. `due_now` is true when anything was queued.
    """
    if all(r.get("fresh") for r in records):
        # Nothing to look up, nothing that can clash.
        inbox.append_fresh(db, records)
        return queued_fresh(records)
    with db.begin() as conn:
        seen = inbox.known(conn, [r["id"] for r in records if not r.get("fresh")])
        kept: list[dict[str, Any]] = []
        answers: list[Accepted] = []
        for r in records:
            duplicate = r["id"] in seen
            if not duplicate:
                seen.add(r["id"])
                kept.append(r)
            answers.append(Accepted(r["id"], None, duplicate=duplicate))
        inbox.append(conn, kept)
        if kept:
            wakeups.notify(conn, wakeups.INBOX)
    return IngestResult(tuple(answers), bool(kept))


def queued_fresh(records: Sequence[dict[str, Any]]) -> IngestResult:
    """The answer for fresh records appended to the inbox."""
    return IngestResult(tuple(Accepted(r["id"], None) for r in records), bool(records))


@dataclass(frozen=True, slots=True)
class Routed:
    count: int  # signals taken from the inbox and routed
    due_now: bool  # whether that left work due for any worker
    handed: tuple[Delivery, ...] = ()  # messages written claimed by the lease


def route_queued(
    db: Engine, loaded: LoadedPolicy, now: datetime, limit: int, lease: Lease | None = None
) -> Routed:
    """Route up to `limit` queued signals, oldest first, in the transaction that
    deletes them from the inbox: each is routed exactly once, whatever crashes.

    On PostgreSQL one router runs at a time (others find the lock taken and go
    on), which keeps a group's signals in arrival order. With a `lease`, the
    messages written are claimed by it and returned (engine/handoff.py).
    """
    with db.begin() as conn:
        if not _router_lock(conn):
            return Routed(0, False)
        taken = inbox.take(conn, limit)
        if not taken:
            return Routed(0, False)
        batch = []
        forms = {}
        for _, body in taken:
            signal = Signal.from_record(body)
            body.pop("fresh", None)  # the router's mark, read: the rest is the stored form
            batch.append(signal)
            forms[signal.id] = body
        result = ingest_in(conn, loaded, batch, now, lease, forms)
        inbox.remove(conn, [seq for seq, _ in taken])
    return Routed(len(taken), result.due_now, result.handed)


def _router_lock(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # SQLite: BEGIN IMMEDIATE already made this the only writer
    return bool(conn.execute(text(f"SELECT {TAKE_ROUTER_LOCK}"), {"k": ROUTER_LOCK}).scalar())


@dataclass
class _Batch:
    """Incidents touched by one transaction, and what it will write."""

    conn: Connection
    loaded: LoadedPolicy
    now: datetime
    open_now: dict[str, Incident] = field(default_factory=dict)
    read_versions: dict[str, int] = field(default_factory=dict)
    current: dict[str, Incident] = field(default_factory=dict)
    new_ids: set[str] = field(default_factory=set)
    effects: list[Effect] = field(default_factory=list)
    windows: dict[tuple[str, str], WindowState] = field(default_factory=dict)
    window_signals: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Signals joining each group's open incident, applied together at `write`.
    joining: dict[str, list[Signal]] = field(default_factory=dict)

    def state_of(self, rule_id: str, group: str) -> WindowState:
        key = (rule_id, group)
        if key not in self.windows:
            found = rule_state.load(self.conn, rule_id, group)
            self.windows[key] = found[0] if found else WindowState()
        return self.windows[key]

    def observe(self, observations: Sequence[Observation], signal: Signal) -> None:
        for o in observations:
            self.windows[(o.rule_id, o.group_key)] = o.state
            self.window_signals[(o.rule_id, o.group_key)] = signal.to_record()
            if o.due is not None and o.state.since is not None:
                self.effects.append(
                    SetTimer(
                        f"{CONDITION_OWNER}{o.rule_id}",
                        TimerKind.CONDITION,
                        int(o.state.since.timestamp()),
                        o.due,
                        tag=o.group_key,
                    )
                )

    def place(self, route: Route, signal: Signal) -> str:
        """Attach the signal to its group's open incident, or open one.

        Joining signals are collected and applied together in `write`: one
        change, one timeline entry and one quiet timer per incident, not per
        signal. A group joined in this pass stays joinable for the rest of it
        (its last signal is now), as if each join had been applied at once.
        """
        policy = self.loaded.policy
        group = route.group_key
        incident = self.open_now.get(group)
        # A client's dedup_key names the alert: it joins its open incident however
        # long ago the last signal came (PagerDuty's semantics), until resolved.
        if incident is not None and (
            group in self.joining
            or signal.dedup_key
            or _joins(incident, self.now, policy.grouping.window.as_timedelta())
        ):
            self.joining.setdefault(group, []).append(signal)
            return incident.id
        incident_id = new_id(EXERCISE_PREFIX if signal.exercise else "inc", self.now)
        outcome = open_incident(policy, route, signal, incident_id, self.now, self.loaded.catalogue)
        opened = replace(outcome.incident, policy_version=self.loaded.digest)
        self._take(replace(outcome, incident=opened), group)
        self.new_ids.add(incident_id)
        return incident_id

    def _take(self, outcome: Outcome, group: str) -> None:
        self.open_now[group] = outcome.incident
        self.current[outcome.incident.id] = outcome.incident
        self.effects.extend(outcome.effects)

    def _attach_joining(self) -> None:
        for group, arrived in self.joining.items():
            incident = self.open_now[group]
            self._take(
                apply(self.loaded.policy, incident, SignalsArrived(tuple(arrived)), self.now), group
            )
        self.joining.clear()

    def load_groups(self, keys: set[str]) -> None:
        _lock_groups(self.conn, keys)
        found = incidents.open_by_group(self.conn, keys - set(self.open_now), lock=True)
        self.open_now.update(found)
        self.read_versions.update({i.id: i.version for i in found.values()})

    def write(self, lease: Lease | None = None) -> tuple[bool, list[Delivery]]:
        self._attach_joining()
        incidents.insert(self.conn, [i for k, i in self.current.items() if k in self.new_ids])
        incidents.save(
            self.conn,
            [(i, self.read_versions[k]) for k, i in self.current.items() if k not in self.new_ids],
        )
        rule_state.save(
            self.conn,
            [
                (r, g, s, self.window_signals[(r, g)])
                for (r, g), s in self.windows.items()
                if (r, g) in self.window_signals
            ],
        )
        return persist_leased(self.conn, self.effects, self.now, started=self.new_ids, lease=lease)


def ingest_in(
    conn: Connection,
    loaded: LoadedPolicy,
    batch: Sequence[Signal],
    now: datetime,
    lease: Lease | None = None,
    forms: Mapping[str, dict[str, Any]] | None = None,
) -> IngestResult:
    """Route and store a batch in the caller's transaction. `forms`: signals'
    stored forms at hand already, by id (the inbox's records)."""
    work = _Batch(conn, loaded, now)
    seen = signals.existing(conn, [s.id for s in batch if not s.fresh])
    fresh: list[Signal] = []
    for s in batch:
        if s.id not in seen:
            seen[s.id] = None
            fresh.append(s)
    routes: dict[str, Route] = {}
    for s in fresh:
        if s.exercise:
            routes[s.id] = _exercise_route(loaded, s, now)
            continue
        route = loaded.rules.route(s, now, work.state_of)
        work.observe(route.observations, s)
        routes[s.id] = route
    work.load_groups({r.group_key for r in routes.values() if r.silenced_by is None})
    stored: list[StoredSignal] = []
    accepted: dict[str, Accepted] = {}
    for s in fresh:
        route = routes[s.id]
        incident_id = work.place(route, s) if route.silenced_by is None else None
        form = forms.get(s.id) if forms else None
        stored.append(
            StoredSignal(s, incident_id, route.rule_id, route.group_key, route.silenced_by, form)
        )
        accepted[s.id] = Accepted(s.id, incident_id, silenced_by=route.silenced_by)
    signals.insert(conn, stored)
    due, handed = work.write(lease)
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
    return IngestResult(tuple(result), due, tuple(handed))


def fire_condition(conn: Connection, loaded: LoadedPolicy, timer: DueTimer, now: datetime) -> bool:
    """A `for:` condition's timer: open (or join) the incident if it still holds.

    True when the fire changed something that is due now. A timer whose
    condition was reset, or restarted since, does nothing (`step` is the
    start of the run it was set for).
    """
    rule_id = timer.incident_id.removeprefix(CONDITION_OWNER)
    group, step = timer.tag, timer.step
    rule = loaded.rules.rule(rule_id)
    found = rule_state.load(conn, rule_id, group)
    if rule is None or rule.when is None or rule.when.for_ is None or found is None:
        return False
    state, record = found
    if state.since is None or int(state.since.timestamp()) != step or record is None:
        return False
    if state.since + rule.when.for_.as_timedelta() > now:
        return False
    signal = Signal.from_record(record)
    route = Route(rule.id, rule.tier, rule.type, group)
    work = _Batch(conn, loaded, now)
    work.load_groups({group})
    work.place(route, signal)
    return work.write()[0]


def _exercise_route(loaded: LoadedPolicy, signal: Signal, now: datetime) -> Route:
    """A live drill's signal routes like a first signal: it reads and feeds no window
    state, no silence holds it, and its group is its own, so it never joins (or is
    joined by) a real incident."""
    route = loaded.rules.route(signal, now)
    group = f"exercise:{signal.exercise}|{route.group_key}"
    return replace(route, group_key=group, silenced_by=None, observations=())


def is_exercise(incident_id: str) -> bool:
    """Whether an incident (or its deliveries) belongs to a live drill."""
    return incident_id.startswith(EXERCISE_PREFIX + "_")


def _joins(incident: Incident, now: datetime, window: timedelta) -> bool:
    """A signal joins an open incident whose last signal is within the window."""
    return now - incident.last_signal_at <= window


def _lock_groups(conn: Connection, keys: set[str]) -> None:
    """Serialise writers on the same group keys (PostgreSQL; SQLite has one writer).

    Without it two API processes could each open an incident for one group.
    Keys are locked in sorted order so two batches never deadlock.
    """
    if conn.dialect.name != "postgresql" or not keys:
        return
    # Nothing reads the answer: the server takes the locks before the next
    # statement (the open-incident read) runs, so a pipeline need not wait here.
    conn.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
            "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
        ).execution_options(**{ANSWER_UNREAD: True}),
        {"keys": sorted(keys)},
    )
