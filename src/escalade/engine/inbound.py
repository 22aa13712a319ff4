"""Inbound integrations: their keys, and carrying out what their payloads ask.

Translators (escalade.integrations) turn a tool's JSON into actions; here a
trigger becomes a signal on the normal ingest path and an acknowledge or
resolve finds the open incident of its dedup key. Dedup keys and signal ids are
scoped to the integration, so two tools (or two teams) using the same key never
share an incident, and PagerDuty's rule holds: ack and resolve for a key sent
with another routing key are dropped.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from escalade.domain.escalation import Acknowledge as AcknowledgeEvent
from escalade.domain.escalation import Resolve as ResolveEvent
from escalade.domain.rules import dedup_group
from escalade.domain.signals import SignalIn
from escalade.engine import commands
from escalade.engine.ids import new_id
from escalade.engine.ingest import Accepted
from escalade.engine.service import Escalade
from escalade.integrations import webhook
from escalade.integrations.events import KINDS, Acknowledge, Action, Resolve, Trigger
from escalade.integrations.limits import RateLimiter
from escalade.storage import incidents
from escalade.storage import integrations as store
from escalade.storage.integrations import IntegrationRecord

_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Done:
    """What became of one action: the incident it touched, or dropped."""

    action: str
    dedup_key: str | None
    incident_id: str | None
    dropped: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "dedup_key": self.dedup_key,
            "incident_id": self.incident_id,
            "dropped": self.dropped,
        }


def scoped(integration_id: str, key: str, limit: int) -> str:
    """`key` prefixed by its integration; hashed when that would not fit in `limit`."""
    full = f"{integration_id}:{key}"
    if len(full) <= limit:
        return full
    return f"{integration_id}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


class Inbound:
    """Integrations of one Escalade instance."""

    def __init__(self, escalade: Escalade, rate_limit: int = 120) -> None:
        self.escalade = escalade
        self.limiter = RateLimiter(rate_limit)
        self._cache: dict[str, tuple[float, IntegrationRecord | None]] = {}
        self._mappings: dict[str, webhook.BodyMapping] = {}

    def create(
        self, name: str, kind: str, mapping: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], str]:
        return create_integration(self.escalade.db, name, kind, mapping, self.escalade.clock.now())

    def listing(self) -> list[dict[str, Any]]:
        return list_integrations(self.escalade.reader)

    def revoke(self, integration_id: str) -> bool:
        """Revoke an integration: refused at once in this process, elsewhere within 5 s.

        Every other server process holds a key's verdict for up to `_CACHE_SECONDS`
        (after `escalade integrations revoke`, that is every server). False when no
        live integration has this id.
        """
        done = revoke_integration(self.escalade.db, integration_id, self.escalade.clock.now())
        self._cache.clear()
        return done

    def authenticate(self, key: str, kind: str | tuple[str, ...]) -> IntegrationRecord | None:
        """The live integration of `key` if it is of `kind`; cached for a few seconds.

        The cache keeps the ingest path free of a database read per event; a key
        revoked by another process is refused once its entry expires (5 s).
        """
        kinds = (kind,) if isinstance(kind, str) else kind
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or cached[0] <= now:
            with self.escalade.db.begin() as conn:
                record = store.find(conn, key)
                if record is not None and not record.revoked:
                    store.touch(conn, record.id, self.escalade.clock.now())
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = cached = (now + _CACHE_SECONDS, record)
        found = cached[1]
        if found is None or found.revoked or found.kind not in kinds:
            return None
        return found

    def retry_after(self, integration: IntegrationRecord) -> float | None:
        """Seconds to wait when the integration is over its rate limit, else None."""
        return self.limiter.retry_after(integration.id, time.monotonic())

    def mapping(self, integration: IntegrationRecord) -> webhook.BodyMapping:
        compiled = self._mappings.get(integration.id)
        if compiled is None:
            compiled = webhook.compile_mapping(integration.mapping)
            self._mappings[integration.id] = compiled
        return compiled

    def signals_of(self, integration: IntegrationRecord, actions: list[Action]) -> list[SignalIn]:
        """The triggers' signals, with dedup keys and ids scoped to the integration."""
        return [self._scope_signal(integration.id, a) for a in actions if isinstance(a, Trigger)]

    @staticmethod
    def triggered(actions: list[Action], accepted: Sequence[Accepted]) -> list[Done]:
        """What became of the triggers, given what ingest accepted for their signals."""
        triggers = [a for a in actions if isinstance(a, Trigger)]
        return [
            Done("trigger", t.signal.dedup_key, a.incident_id)
            for t, a in zip(triggers, accepted, strict=True)
        ]

    def close(self, integration: IntegrationRecord, actions: list[Action]) -> list[Done]:
        """Apply the acknowledges and resolves, in order, after the triggers are stored."""
        by = f"integration:{integration.name}"
        return [
            self._close(integration.id, a, by)
            for a in actions
            if isinstance(a, Acknowledge | Resolve)
        ]

    def _scope_signal(self, integration_id: str, trigger: Trigger) -> SignalIn:
        signal = trigger.signal
        update: dict[str, Any] = {}
        if signal.dedup_key:
            update["dedup_key"] = scoped(integration_id, signal.dedup_key, 255)
        if signal.id:
            update["id"] = scoped(integration_id, signal.id, 200)
        return signal.model_copy(update=update) if update else signal

    def _close(self, integration_id: str, action: Acknowledge | Resolve, by: str) -> Done:
        name = "acknowledge" if isinstance(action, Acknowledge) else "resolve"
        group = dedup_group(scoped(integration_id, action.dedup_key, 255))
        with self.escalade.reader.connect() as conn:
            found = incidents.open_by_group(conn, {group}, lock=False).get(group)
        if found is None:  # unknown, or already resolved: dropped, as PagerDuty does
            return Done(name, action.dedup_key, None, dropped=True)
        event = AcknowledgeEvent(by) if name == "acknowledge" else ResolveEvent(by)
        try:
            acted = self.escalade.act(found.id, event)
        except commands.IncidentNotFound:
            return Done(name, action.dedup_key, None, dropped=True)
        return Done(name, action.dedup_key, acted.incident.id, dropped=not acted.changed)


def create_integration(
    db: Engine, name: str, kind: str, mapping: dict[str, Any] | None, now: datetime
) -> tuple[dict[str, Any], str]:
    """Store an integration (only its key's hash); return it and the key, shown once.

    ValueError names the field at fault: an unknown kind, a bad name, or a
    webhook mapping that does not compile.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not name.strip() or len(name) > 200:
        raise ValueError("name: expected 1 to 200 characters")
    if kind == "webhook":
        if mapping is None:
            raise ValueError("mapping: a webhook integration needs a mapping")
        try:
            webhook.compile_mapping(mapping)
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"mapping.{path}: {first['msg']}") from None
        except ValueError as exc:
            raise ValueError(f"mapping.{exc}") from None
    elif mapping is not None:
        raise ValueError(f"mapping: only webhook integrations take a mapping, not {kind}")
    integration_id = new_id("int", now)
    key = secrets.token_hex(16)  # 32 characters, the shape of a PagerDuty key
    with db.begin() as conn:
        store.create(
            conn,
            integration_id=integration_id,
            name=name,
            kind=kind,
            key=key,
            mapping=mapping,
            now=now,
        )
    return {"id": integration_id, "name": name, "kind": kind, "mapping": mapping}, key


def list_integrations(db: Engine) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return store.listing(conn)


def revoke_integration(db: Engine, integration_id: str, now: datetime) -> bool:
    with db.begin() as conn:
        return store.revoke(conn, integration_id, now)
