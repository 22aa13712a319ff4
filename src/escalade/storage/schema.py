"""The tables. Alembic migrations in `migrations/` create them; this module is
what the code queries against, and a test checks the two agree."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def require_aware(*columns: Sequence[datetime | None]) -> None:
    """Refuse naive datetimes as `UTCDateTime` does, for values that go around
    it (arrays sent to PostgreSQL in binary)."""
    for column in columns:
        for value in column:
            if value is not None and value.tzinfo is None:
                raise ValueError("naive datetime given to the database")


Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()

signals = Table(
    "signals",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("kind", String(100), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("incident_id", String(40), nullable=True),
    Column("rule_id", String(200), nullable=True),
    Column("group_key", Text, nullable=False),
    Column("silenced_by", Text, nullable=True),
    Column("body", Json, nullable=False),
    Index("ix_signals_incident", "incident_id"),
    Index("ix_signals_received", "received_at"),
)

# Signals accepted with `Prefer: respond-async`, waiting for the router (storage/inbox.py).
inbox = Table(
    "inbox",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("id", String(200), nullable=False, unique=True),
    # `json`, not `jsonb`, on PostgreSQL: kept as written, never queried inside (0012).
    Column("body", JSON(), nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("tier", String(100), nullable=False),
    Column("type", String(100), nullable=False),
    Column("rule_id", String(200), nullable=True),
    Column("group_key", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_signal_at", UTCDateTime, nullable=False),
    Column("acknowledged_at", UTCDateTime, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("version", Integer, nullable=False),
    Column("state", Json, nullable=False),
    Index("ix_incidents_group_status", "group_key", "status"),
    Index("ix_incidents_opened", "opened_at"),
    Index("ix_incidents_status_opened", "status", "opened_at"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("incident_id", String(40), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(100), nullable=False),
    Column("actor", String(200), nullable=True),
    Column("data", Json, nullable=False),
    # The audit chain (domain/audit_chain.py): position in the incident's chain, the hash
    # of the entry before, and this entry's hash. Unique (incident_id, seq) so two
    # writers can never fork one chain.
    Column("seq", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_timeline_incident", "incident_id", "id"),
    Index("ux_timeline_chain", "incident_id", "seq", unique=True),
)

# The last link of each chain, so that deleting entries off the end is detected;
# its row is also the lock that serialises writers to one incident's timeline.
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

timers = Table(
    "timers",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("incident_id", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("step", Integer, nullable=False),
    Column("tag", String(400), nullable=False, server_default=""),
    Column("due_at", UTCDateTime, nullable=False),
    Index("ix_timers_due", "due_at"),
    Index("ix_timers_incident", "incident_id"),
)

rule_state = Table(
    "rule_state",
    metadata,
    Column("rule_id", String(200), primary_key=True),
    Column("group_key", String(1000), primary_key=True),
    Column("since", UTCDateTime, nullable=True),  # `for:` condition holding since
    Column("hits", Json, nullable=False),  # `count:` times of recent matching signals
    Column("signal", Json, nullable=True),  # the latest matching signal
)

ai_systems = Table(
    "ai_systems",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("name", Text, nullable=False),
    Column("owner", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("version", String(100), primary_key=True),
    Column("system_id", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("card", Json, nullable=False),  # intended use, out of scope, limits, lineage
    Column("registered_at", UTCDateTime, nullable=False),
    Index("ix_model_versions_system", "system_id"),
)

risks = Table(
    "risks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("incident_id", String(40), nullable=True),
    Column("system_id", String(200), nullable=True),
    Column("model", String(200), nullable=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("severity", String(20), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_risks_incident", "incident_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(300), primary_key=True),  # the idempotency key
    Column("incident_id", String(40), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("person", String(200), nullable=True),
    Column("target", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("claimed_by", String(200), nullable=True),  # the worker holding the lease
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("payload", Json, nullable=False),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_incident", "incident_id"),
    # A channel's recent messages, for its per-contact throttle (0011).
    Index("ix_deliveries_sent", "channel", "delivered_at"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scope", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# Inbound integrations (PagerDuty Events, Alertmanager, ...). Each has its own key,
# stored hashed like API tokens, valid only on its own ingest endpoint.
integrations = Table(
    "integrations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("mapping", Json, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# Review requests from AI systems (domain/reviews.py). Their timeline entries, timers
# and outbox rows use the review id where incidents use the incident id.
reviews = Table(
    "reviews",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("policy_id", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("idempotency_key", String(500), nullable=True, unique=True),  # requester + key
    Column("incident_id", String(40), nullable=True),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("outcome", String(20), nullable=True),
    Column("reason", String(20), nullable=True),
    Column("version", Integer, nullable=False),
    Column("state", Json, nullable=False),
    Index("ix_reviews_status_requested", "status", "requested_at"),
    Index("ix_reviews_requested", "requested_at"),
)

# Engine processes (`escalade worker`, `escalade serve` with its engine) and their
# heartbeats; a worker whose heartbeat is stale loses its delivery leases.
workers = Table(
    "workers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(40), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime, nullable=True),
    Index("ix_workers_beat", "beat_at"),
)


def row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


# Every policy that went live (docs/learning.md): its files, who loaded it, and the
# diff against the version before. `seq` orders them; one row per change, so two
# processes starting on the same files record it once (unique previous -> digest).
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("previous", String(64), nullable=False),  # "" for the first version
    Column("activated_at", UTCDateTime, nullable=False),
    Column("author", String(200), nullable=False),
    Column("sources", Json, nullable=False),
    Column("diff", Text, nullable=False),
    UniqueConstraint("previous", "digest", name="uq_policy_versions_change"),
    Index("ix_policy_versions_digest", "digest"),
)

# Responder feedback (domain/feedback.py): one rating per participant and incident;
# a second answer replaces the first.
feedback = Table(
    "feedback",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("person", String(200), primary_key=True),
    Column("rating", Integer, nullable=False),
    Column("comment", Text, nullable=True),
    Column("tier", String(100), nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
    Index("ix_feedback_submitted", "submitted_at"),
)
