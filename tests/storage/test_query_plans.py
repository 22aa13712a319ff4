"""Reads on paths that run per message or per pass use an index that keeps
them small as the tables grow (SQLite, which plans without statistics)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event

from escalade.storage import deliveries
from escalade.storage.database import connect
from escalade.storage.migrate import upgrade

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def plan(tmp_path: Path, read: Callable[[Connection], Any]) -> str:
    """SQLite's plan for the statement `read` runs, on the migrated schema."""
    engine = connect(f"sqlite:///{tmp_path}/plans.db")
    upgrade(engine)
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        read(conn)
        event.remove(conn, "before_cursor_execute", capture)
        [(statement, params)] = [s for s in seen if not s[0].startswith("BEGIN")]
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
    engine.dispose()
    return " / ".join(str(r[-1]) for r in rows)


def test_a_throttle_reads_the_channel_s_recent_messages_only(tmp_path: Path) -> None:
    found = plan(
        tmp_path,
        lambda conn: deliveries.sent_to(
            conn, "sms", "alice", "+15550100", NOW - timedelta(hours=1)
        ),
    )
    assert "USING INDEX ix_deliveries_sent (channel=? AND delivered_at>?)" in found, found


def test_claims_are_given_back_by_primary_key(tmp_path: Path) -> None:
    found = plan(tmp_path, lambda conn: deliveries.release(conn, "worker-1", ["a", "b"]))
    assert "USING INDEX sqlite_autoindex_deliveries_1 (id=?)" in found, found
