"""Queueing `respond-async` signals from the event loop itself (PostgreSQL).

The group commit hands a blocking commit to a thread and takes the answer
back on the loop. For the inbox that hand-over cost more than the commit:
the thread and the loop take turns with the GIL, and in a stream of single
signals the API process spent about 100 µs a request on it against about 125
for everything else (`docs/benchmarks.md`). Appending signals whose ids were
made on arrival is one statement (`inbox.append_fresh`), so on PostgreSQL it
runs here over an asynchronous connection of its own, on the loop. A batch
with an id the sender named needs look-ups first and takes the thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from escalade.engine.batcher import Commit, in_thread
from escalade.engine.ingest import IngestResult, queued_fresh
from escalade.engine.service import Escalade
from escalade.storage import inbox, wakeups

log = logging.getLogger(__name__)


class LoopInbox:
    """The inbox's commit for the group committer, on the loop where it can be."""

    def __init__(self, escalade: Escalade) -> None:
        self._conninfo = wakeups.libpq_dsn(escalade.db.url.render_as_string(hide_password=False))
        self._escalade = escalade
        self._threaded = in_thread(escalade.enqueue)
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def enqueue(self, records: Sequence[dict[str, Any]]) -> IngestResult:
        """Make inbox records durable; wake this process's worker."""
        if not all(r.get("fresh") for r in records):
            return await self._threaded(records)
        try:
            await inbox.append_fresh_on_loop(await self._connection(), records)
        except psycopg.OperationalError:
            # The server restarted since the connection opened: once more on a
            # new one. The ids are fixed, so a first try that committed after
            # all is found and not added twice.
            await self.close()
            await inbox.append_fresh_again(await self._connection(), records)
        if records:
            self._escalade.queued()  # the worker in this process, if any, looks
        return queued_fresh(records)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except psycopg.Error:
                log.warning("inbox.close_failed")


def inbox_commit(escalade: Escalade) -> tuple[Commit[dict[str, Any]], LoopInbox | None]:
    """The group commit for queued signals: on the loop on PostgreSQL, in a
    thread elsewhere; and what to close at shutdown."""
    if escalade.db.dialect.name != "postgresql":
        return in_thread(escalade.enqueue), None
    loop_inbox = LoopInbox(escalade)
    return loop_inbox.enqueue, loop_inbox
