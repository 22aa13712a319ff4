"""Routed signals as stored on SQLite and PostgreSQL: a batch goes in in one
call (one statement over arrays on PostgreSQL) and reads back as it went in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from escalade.domain.signals import Signal
from escalade.storage import inbox
from escalade.storage import signals as store
from escalade.storage.signals import StoredSignal
from support.engines import Harness

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_a_batch_reads_back_as_it_went_in(harness: Harness) -> None:
    service = harness.service()
    berlin = timezone(timedelta(hours=1))
    batch = [
        StoredSignal(
            Signal(
                id="s-1",
                kind="privacy_leak",
                received_at=T0.astimezone(berlin),
                summary="PII in output: é ü",
                value=0.25,
                subject={"model": "chat-v2"},
                details={"n": [1, 2.5, None]},
                links=({"href": "https://x.test"},),
            ),
            "inc_1",
            "pii",
            "model:chat-v2",
            None,
        ),
        StoredSignal(
            Signal(id="s-2", kind="drift", received_at=T0 + timedelta(seconds=1)),
            None,
            None,
            "model:canary",
            "canary under test",
        ),
        StoredSignal(
            Signal(id="s-3", kind="drift", received_at=T0 + timedelta(seconds=2)),
            "inc_1",
            "pii",
            "model:chat-v2",
            None,
        ),
    ]
    with service.db.begin() as conn:
        store.insert(conn, batch)
        store.insert(conn, [])
    with service.db.connect() as conn:
        assert store.existing(conn, ["s-1", "s-2", "nope"]) == {"s-1": "inc_1", "s-2": None}
        assert [b["id"] for b in store.for_incident(conn, "inc_1")] == ["s-1", "s-3"]
        first = store.get(conn, "s-1")
        silenced = store.get(conn, "s-2")
    assert first is not None and silenced is not None
    assert Signal.from_record(first) == batch[0].signal
    assert first["incident_id"] == "inc_1" and first["rule_id"] == "pii"
    assert silenced["incident_id"] is None and silenced["silenced_by"] == "canary under test"


def test_a_naive_time_is_refused(harness: Harness) -> None:
    service = harness.service()
    naive = Signal(id="s-1", kind="drift", received_at=datetime(2026, 11, 23, 10, 0))
    with pytest.raises(ValueError, match="naive datetime"), service.db.begin() as conn:
        store.insert(conn, [StoredSignal(naive, None, None, "g", None)])


def test_routed_inbox_rows_are_removed_by_their_numbers(harness: Harness) -> None:
    service = harness.service()
    records = [Signal(id=f"q-{i}", kind="drift", received_at=T0).to_record() for i in range(3)]
    with service.db.begin() as conn:
        inbox.append(conn, records)
        taken = inbox.take(conn, 2)
        inbox.remove(conn, [seq for seq, _ in taken])
        inbox.remove(conn, [])
    with service.db.connect() as conn:
        assert [body["id"] for _, body in inbox.take(conn, 10)] == ["q-2"]
