"""Scheduled live drills: a policy's `exercises` open exercise incidents on time.

Each drill has one pending timer for its next occurrence (owner `exercise`, tag the
drill's id, step the occurrence number). Scheduling is idempotent, so every worker
may do it whenever the policy changes; a timer whose drill was removed or moved
fires into nothing.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection

from escalade.domain.effects import Effect, Record, SetTimer, TimerKind
from escalade.domain.policy import Exercise, Policy
from escalade.domain.signals import Signal
from escalade.engine.effects import persist
from escalade.engine.ids import new_id
from escalade.engine.ingest import ingest_in
from escalade.engine.policies import LoadedPolicy
from escalade.storage import timers
from escalade.storage.timers import DueTimer

OWNER = "exercise"


def occurrence(policy: Policy, spec: Exercise, step: int) -> datetime:
    first = spec.first.replace(tzinfo=policy.tz)
    return first + step * spec.every.as_timedelta()


def next_timer(policy: Policy, exercise_id: str, spec: Exercise, now: datetime) -> SetTimer:
    first = occurrence(policy, spec, 0)
    period = spec.every.as_timedelta()
    step = max(0, math.ceil((now - first) / period))
    return SetTimer(
        OWNER, TimerKind.EXERCISE, step, occurrence(policy, spec, step), tag=exercise_id
    )


def schedule(conn: Connection, policy: Policy, now: datetime) -> None:
    """Make sure every drill of the policy has its next occurrence pending."""
    timers.set_many(
        conn, [next_timer(policy, eid, spec, now) for eid, spec in policy.exercises.items()]
    )


def fire(conn: Connection, loaded: LoadedPolicy, timer: DueTimer, now: datetime) -> bool:
    """Open the drill's exercise incident and schedule its next occurrence."""
    policy = loaded.policy
    spec = policy.exercises.get(timer.tag)
    if spec is None or occurrence(policy, spec, timer.step) != timer.due_at:
        return False  # removed or rescheduled since this timer was set
    signal = Signal.accept(spec.signal, signal_id=new_id("sig", now), received_at=now)
    result = ingest_in(conn, loaded, [replace(signal, exercise=timer.tag)], now)
    [accepted] = result.accepted
    upcoming = occurrence(policy, spec, timer.step + 1)
    effects: list[Effect] = [
        SetTimer(OWNER, TimerKind.EXERCISE, timer.step + 1, upcoming, tag=timer.tag)
    ]
    if accepted.incident_id is not None:
        effects.append(
            Record(
                accepted.incident_id,
                now,
                "exercise.started",
                actor="schedule",
                data={"name": timer.tag, "occurrence": timer.step},
            )
        )
    return persist(conn, effects, now) or result.due_now
