"""Group commit: concurrent ingest requests share one transaction.

While one commit runs in a worker thread, requests that arrive queue up; the
next commit takes them all. An idle server answers a lone request with a single
commit's latency. A busy one pays one fsync for many requests, and lingers a
little (at most `linger` seconds) until as many requests have come as the last
commit carried: clients answered by that commit send their next requests within
a fraction of a millisecond, and without the wait the next commit would start
with one or two of them and leave the rest for the commit after. If a shared
commit fails, each request is retried alone so that one bad request cannot fail
its neighbours.

A commit is awaited on the event loop: a blocking one runs in a thread
(`in_thread`); the inbox's commit on PostgreSQL runs on the loop itself
(engine/loop_inbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from escalade.engine.ingest import Accepted, IngestResult

# What a commit takes: `Signal`s to route at once, or inbox records to queue.
T = TypeVar("T")


@dataclass
class _Pending(Generic[T]):
    items: Sequence[T]
    future: asyncio.Future[tuple[Accepted, ...]] = field(repr=False)


Commit = Callable[[Sequence[T]], Awaitable[IngestResult]]


def in_thread(commit: Callable[[Sequence[T]], IngestResult]) -> Commit[T]:
    """A blocking commit, run in a worker thread so the loop goes on meanwhile."""

    async def threaded(items: Sequence[T]) -> IngestResult:
        return await asyncio.to_thread(commit, items)

    return threaded


class GroupCommitter(Generic[T]):
    def __init__(
        self,
        commit: Commit[T],
        *,
        max_signals: int = 5000,
        linger: float = 0.001,
    ) -> None:
        self._commit = commit
        self._max = max_signals
        self._linger = linger
        self._queue: asyncio.Queue[_Pending[T]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._arrival: asyncio.Future[None] | None = None
        self._last_group = 1

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="escalade-group-commit")

    async def stop(self) -> None:
        """Take no more; a commit under way finishes and answers its requests
        (cancelled half-way, it might commit signals whose senders never hear
        so and send them again)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing

    async def submit(self, items: Sequence[T]) -> tuple[Accepted, ...]:
        return await self.enqueue(items)

    def enqueue(self, items: Sequence[T]) -> asyncio.Future[tuple[Accepted, ...]]:
        """Queue signals for the next commit (on the event loop's thread); the
        future is their answer. For callers that cannot await."""
        if self._task is None:
            raise RuntimeError("group committer not started")
        future: asyncio.Future[tuple[Accepted, ...]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(items, future))
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await self._queue.get()]
            size = len(group[0].items)
            deadline = loop.time() + self._linger
            while size < self._max:
                if not self._queue.empty():
                    item = self._queue.get_nowait()
                    group.append(item)
                    size += len(item.items)
                    continue
                left = deadline - loop.time()
                if len(group) >= self._last_group or left <= 0:
                    break
                await self._arrived(loop, left)
            self._last_group = len(group)
            self._flushing = asyncio.ensure_future(self._flush(group))
            # Shielded: stopping cancels the wait for the commit, not the commit.
            await asyncio.shield(self._flushing)
            self._flushing = None

    async def _arrived(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        """Wait until a request is queued, or `timeout` seconds."""
        arrival: asyncio.Future[None] = loop.create_future()
        self._arrival = arrival
        timer = loop.call_later(timeout, _settle, arrival)
        try:
            await arrival
        finally:
            timer.cancel()
            self._arrival = None

    async def _flush(self, group: list[_Pending[T]]) -> None:
        combined = [item for p in group for item in p.items]
        try:
            result = await self._commit(combined)
        except Exception as exc:  # noqa: BLE001 - handed to each waiting request below
            if len(group) == 1:
                _fail(group[0], exc)
                return
            for pending in group:
                await self._flush([pending])
            return
        offset = 0
        for pending in group:
            n = len(pending.items)
            if not pending.future.done():
                pending.future.set_result(result.accepted[offset : offset + n])
            offset += n


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(pending: _Pending[T], exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
