"""`storage.arrays`: many rows in one INSERT over binary arrays (PostgreSQL),
written as an executemany would write them, through the shared helpers that
every other backend runs as an executemany (`insert_rows`,
`insert_ignoring_duplicates`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select

from escalade.storage import arrays
from escalade.storage._upsert import insert_ignoring_duplicates, insert_rows
from escalade.storage.database import pipelined
from escalade.storage.schema import deliveries, rule_state, signals, timeline

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def delivery(key: str, **extra: object) -> dict[str, object]:
    return {
        "id": key,
        "incident_id": "inc_1",
        "channel": "hook",
        "person": None,
        "target": "https://x.test/hook",
        "status": "pending",
        "attempts": 0,
        "created_at": T0,
        "next_attempt_at": T0.astimezone(timezone(timedelta(hours=-5))),
        "payload": {"subject": "é", "n": [1, 2.5, None], "at": T0.isoformat()},
        **extra,
    }


def test_rows_read_back_as_they_went_in(db: Engine) -> None:
    rows = [delivery("d-1"), delivery("d-2", person="pat", attempts=3)]
    with db.begin() as conn:
        insert_rows(conn, deliveries, rows)
        insert_rows(conn, deliveries, [])
    with db.connect() as conn:
        found = conn.execute(select(deliveries).order_by(deliveries.c.id)).mappings().all()
    for row, got in zip(rows, found, strict=True):
        assert {k: got[k] for k in row} == row


def test_duplicates_are_skipped_and_only_rows_written_are_returned(db: Engine) -> None:
    with db.begin() as conn:
        insert_ignoring_duplicates(conn, deliveries, [delivery("d-1")])
    batch = [delivery("d-1", attempts=9), delivery("d-2"), delivery("d-2", attempts=9)]
    with pipelined(db) as conn:
        written = insert_ignoring_duplicates(conn, deliveries, batch, returning="id")
    assert written == ["d-2"]
    with db.connect() as conn:
        attempts = dict(conn.execute(select(deliveries.c.id, deliveries.c.attempts)).all())
    assert attempts == {"d-1": 0, "d-2": 0}  # the first of each key won


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_rows_keep_their_order(db: Engine) -> None:
    rows = [
        {"incident_id": f"inc_{n % 3}", "at": T0, "kind": "note", "actor": None,
         "data": {"n": n}, "seq": n, "prev_hash": "p", "hash": f"h{n}"}
        for n in range(50)
    ]  # fmt: skip
    with pipelined(db) as conn:
        arrays.insert(conn, timeline, rows)
    with db.connect() as conn:
        found = conn.execute(select(timeline.c.data).order_by(timeline.c.id)).scalars().all()
    assert [d["n"] for d in found] == list(range(50))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_json_none_is_json_null_as_the_column_type_stores_it(db: Engine) -> None:
    row = {"rule_id": "r", "group_key": "g", "since": None, "hits": [], "signal": None}
    with db.begin() as conn:
        arrays.insert(conn, rule_state, [row])
        kind = conn.exec_driver_sql("SELECT jsonb_typeof(signal) FROM rule_state").scalar()
    assert kind == "null"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_naive_time_and_an_unknown_column_are_refused_whole(db: Engine) -> None:
    naive = delivery("d-1", created_at=datetime(2026, 11, 23, 10, 0))
    with pytest.raises(ValueError, match="naive datetime"), db.begin() as conn:
        arrays.insert(conn, deliveries, [delivery("d-0"), naive])
    with pytest.raises(KeyError), db.begin() as conn:
        arrays.insert(conn, signals, [{"id": "s-1", "nope": 1}])
    with db.connect() as conn:
        assert conn.execute(select(deliveries.c.id)).all() == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_update_changes_only_the_rows_its_match_picks_and_counts_them(db: Engine) -> None:
    with db.begin() as conn:
        arrays.insert(conn, deliveries, [delivery("d-1"), delivery("d-2")])
    later = T0 + timedelta(minutes=5)
    changes = [
        {"status": "delivered", "delivered_at": later, "payload": {"ok": 1}, "k": "d-1", "n": 0},
        {"status": "delivered", "delivered_at": later, "payload": {"ok": 2}, "k": "d-2", "n": 7},
    ]  # d-2's attempts are 0, not 7: not picked
    with pipelined(db) as conn:
        changed = arrays.update(conn, deliveries, changes, match={"id": "k", "attempts": "n"})
    assert changed == 1
    with db.connect() as conn:
        found = {r.id: r for r in conn.execute(select(deliveries))}
    assert found["d-1"].status == "delivered" and found["d-1"].payload == {"ok": 1}
    assert found["d-1"].delivered_at == later
    assert found["d-2"].status == "pending" and found["d-2"].delivered_at is None
