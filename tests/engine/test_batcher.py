"""The group commit (engine/batcher.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from escalade.domain.signals import SignalIn
from escalade.engine.batcher import GroupCommitter
from escalade.engine.ingest import Accepted, IngestResult, accept


def test_stopping_the_group_commit_lets_a_commit_under_way_finish() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_commit(signals):  # type: ignore[no-untyped-def]
        started.set()
        await release.wait()
        return IngestResult(tuple(Accepted(s.id, None) for s in signals), True)

    async def scenario() -> tuple[Accepted, ...]:
        committer = GroupCommitter(slow_commit)
        await committer.start()
        [signal] = accept([SignalIn.model_validate({"kind": "drift"})], datetime.now(UTC))
        answer = committer.enqueue([signal])
        await started.wait()
        stopping = asyncio.create_task(committer.stop())
        await asyncio.sleep(0)
        assert not stopping.done()  # waits for the commit in hand
        release.set()
        await stopping
        return await asyncio.wait_for(answer, 10)  # never answered: a commit cut short

    [accepted] = asyncio.run(scenario())
    assert not accepted.duplicate
