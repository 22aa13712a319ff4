"""Queueing respond-async signals from the event loop (engine/loop_inbox.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import psycopg
import pytest
from sqlalchemy import event, func, select, text

from escalade.domain.signals import SignalIn
from escalade.engine.batcher import GroupCommitter
from escalade.engine.loop_inbox import LoopInbox, inbox_commit
from escalade.storage import inbox, wakeups
from escalade.storage.schema import inbox as inbox_rows
from support.engines import Harness


def _queued_ids(harness: Harness) -> list[str]:
    with harness.service().db.connect() as conn:
        return list(conn.execute(select(inbox_rows.c.id).order_by(inbox_rows.c.seq)).scalars())


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_fresh_signals_are_queued_on_the_loop_and_wake_the_workers(
    harness: Harness, database_url: str
) -> None:
    service = harness.service()
    woke, hook = threading.Event(), threading.Event()
    service.queued = hook.set
    listener = wakeups.Listener(database_url, lambda: None, on_inbox=woke.set)
    listener.start()
    on_pool: list[str] = []
    event.listen(
        service.db, "before_cursor_execute", lambda *a: on_pool.append(a[2])
    )  # the pool's connections are the thread path's; the loop has its own
    loop_inbox = LoopInbox(service)

    async def queue() -> tuple[str, ...]:
        try:
            batch = service.accept_queued([SignalIn.model_validate({"kind": "drift"})] * 3)
            result = await loop_inbox.enqueue(batch)
            assert result.due_now and not any(a.duplicate for a in result.accepted)
            return tuple(a.id for a in result.accepted)
        finally:
            await loop_inbox.close()

    try:
        assert listener.listening.wait(20)
        ids = asyncio.run(queue())
        assert woke.wait(20)
    finally:
        listener.stop()
    assert hook.is_set()  # this process's worker is told too
    assert on_pool == []  # nothing went through the thread path's pool
    assert _queued_ids(harness) == list(ids)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_named_id_takes_the_look_up_path_and_a_repost_is_a_duplicate(
    harness: Harness,
) -> None:
    service = harness.service()
    loop_inbox = LoopInbox(service)
    named = SignalIn.model_validate({"kind": "drift", "id": "named-1"})

    async def twice() -> list[bool]:
        try:
            first = await loop_inbox.enqueue(service.accept_queued([named]))
            again = await loop_inbox.enqueue(service.accept_queued([named]))
            return [a.duplicate for a in (*first.accepted, *again.accepted)]
        finally:
            await loop_inbox.close()

    assert asyncio.run(twice()) == [False, True]
    assert _queued_ids(harness) == ["named-1"]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_connection_the_server_dropped_is_replaced_and_nothing_is_lost(
    harness: Harness,
) -> None:
    service = harness.service()
    loop_inbox = LoopInbox(service)
    wire = [SignalIn.model_validate({"kind": "drift"})]

    async def across_a_drop() -> list[str]:
        try:
            first = await loop_inbox.enqueue(service.accept_queued(wire))
            conn = await loop_inbox._connection()
            with service.db.begin() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": conn.info.backend_pid})
            second = await loop_inbox.enqueue(service.accept_queued(wire))
            return [a.id for a in (*first.accepted, *second.accepted)]
        finally:
            await loop_inbox.close()

    ids = asyncio.run(across_a_drop())
    assert _queued_ids(harness) == ids


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_queues_in_a_thread(harness: Harness) -> None:
    service = harness.service()
    commit, loop_inbox = inbox_commit(service)
    assert loop_inbox is None

    async def through_the_committer() -> int:
        committer = GroupCommitter(commit)
        await committer.start()
        try:
            batch = service.accept_queued([SignalIn.model_validate({"kind": "drift"})] * 2)
            return len(await committer.submit(batch))
        finally:
            await committer.stop()

    assert asyncio.run(through_the_committer()) == 2
    with service.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox_rows)).scalar_one() == 2


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_retry_after_a_first_try_that_committed_adds_nothing(harness: Harness) -> None:
    """Fresh ids are appended without a conflict check; a retry after a lost
    answer finds them queued and stops there, rather than failing the request."""
    service = harness.service()
    loop_inbox = LoopInbox(service)
    records = service.accept_queued([SignalIn(kind="drift")] * 2)

    async def committed_then_again() -> None:
        try:
            conn = await loop_inbox._connection()
            await inbox.append_fresh_on_loop(conn, records)
            with pytest.raises(psycopg.errors.UniqueViolation):
                await inbox.append_fresh_on_loop(conn, records)
            await inbox.append_fresh_again(conn, records)
        finally:
            await loop_inbox.close()

    asyncio.run(committed_then_again())
    assert _queued_ids(harness) == [r["id"] for r in records]


def test_the_blocking_append_may_run_twice(harness: Harness) -> None:
    """`Escalade.enqueue` retries once after a lost connection, counting on a
    first try that committed to be found, not to fail the second."""
    service = harness.service()
    records = service.accept_queued([SignalIn(kind="drift")] * 2)
    inbox.append_fresh(service.db, records)
    inbox.append_fresh(service.db, records)
    assert _queued_ids(harness) == [r["id"] for r in records]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_batch_larger_than_the_sockets_buffer_is_sent_whole(harness: Harness) -> None:
    """The loop's append writes its request in as many turns as the socket
    takes (megabytes for a batch of thousands), then waits for the answer."""
    service = harness.service()
    loop_inbox = LoopInbox(service)
    wire = [SignalIn(kind="drift", summary="x" * 400, labels={"n": str(n)}) for n in range(5000)]
    records = service.accept_queued(wire)

    async def big() -> None:
        try:
            conn = await loop_inbox._connection()
            # A small send buffer, so that the request cannot leave in one write.
            with socket.socket(fileno=os.dup(conn.pgconn.socket)) as raw:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            await inbox.append_fresh_on_loop(conn, records)
        finally:
            await loop_inbox.close()

    asyncio.run(big())
    assert _queued_ids(harness) == [r["id"] for r in records]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_append_interrupted_half_way_closes_its_connection(harness: Harness) -> None:
    """Cancelled while its answer is awaited, the append leaves no connection
    with a query in flight: it is closed, and the next commit opens another."""
    service = harness.service()
    loop_inbox = LoopInbox(service)
    wire = [SignalIn(kind="drift")]

    async def interrupted() -> tuple[bool, bool]:
        try:
            conn = await loop_inbox._connection()
            await inbox.append_fresh_on_loop(conn, service.accept_queued(wire))
            task = asyncio.ensure_future(
                inbox.append_fresh_on_loop(conn, service.accept_queued(wire))
            )
            await asyncio.sleep(0)  # sent; now waiting for the answer
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            after = await loop_inbox.enqueue(service.accept_queued(wire))
            return conn.closed, after.due_now
        finally:
            await loop_inbox.close()

    assert asyncio.run(interrupted()) == (True, True)
