"""The ingest lane's own cost: microseconds of Python a `POST /v1/signals`.

`bench/serve.py` measures the whole server under wrk, where the figure moves
with the kernel's loopback, PostgreSQL and the noise of two shared cores. This
drives `IngestProtocol` (api/lane.py) directly: raw request bytes into its
`data_received`, a transport that only counts what is written, and the group
commit with a commit that answers at once. What is left is the per-request
work the lane does itself (parsing, authorising, validating, making ids and
records, the group commit's futures, the 202), which is what a change to the
lane changes.

    .venv/bin/python bench/lane.py [--connections 16] [--rounds 3000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
import uvloop
from serve import POLICY, TOKEN  # bench/serve.py: its policy and admin token
from uvicorn.server import ServerState

from escalade.api.hardening import security_headers
from escalade.api.lane import IngestProtocol, Lane
from escalade.api.signals import Intake
from escalade.domain.signals import Signal
from escalade.engine.batcher import GroupCommitter
from escalade.engine.ingest import IngestResult, queued_fresh
from escalade.engine.service import Escalade
from escalade.storage.migrate import upgrade

BODY = (
    b'{"kind":"load","value":0.5,"labels":{"g":"g7","env":"production"},'
    b'"subject":{"model":"m1"},"summary":"load"}'
)
REQUEST = (
    b"POST /v1/signals HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
    b"Authorization: Bearer %s\r\nPrefer: respond-async\r\nContent-Length: %d\r\n\r\n%s"
) % (TOKEN.encode(), len(BODY), BODY)


class Counting:
    """A transport that counts the answers written to it and keeps the last."""

    def __init__(self) -> None:
        self.answers = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        self.answers += 1
        self.last = data

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8080) if name in ("peername", "sockname") else default

    def close(self) -> None:
        pass


async def answer_now(records: Sequence[dict[str, Any]]) -> IngestResult:
    return queued_fresh(records)


async def routed_never(signals: Sequence[Signal]) -> IngestResult:
    raise AssertionError("the bench's requests all ask for respond-async")


async def measure(connections: int, rounds: int, profile: bool) -> None:
    tmp = Path(tempfile.mkdtemp())
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY.replace("${BENCH_SINK_URL}", "http://127.0.0.1:9/hook"))
    service = Escalade(f"sqlite:///{tmp}/lane.db", policy, admin_token=TOKEN)
    upgrade(service.db)
    queue: GroupCommitter[dict[str, Any]] = GroupCommitter(answer_now)
    await queue.start()
    never: GroupCommitter[Signal] = GroupCommitter(routed_never)  # every request is queued
    intake = Intake(service, never, queue)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("every request here is the lane's")

    app.state = SimpleNamespace(  # type: ignore[attr-defined]
        ingest_lane=Lane(intake, None, 5 << 20, security_headers(0))
    )
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    server = ServerState()
    server.default_headers = [(b"date", b"Mon, 07 Dec 2026 12:00:00 GMT"), (b"server", b"uvicorn")]
    loop = asyncio.get_running_loop()
    protocols = []
    for _ in range(connections):
        protocol = IngestProtocol(config, server, {}, loop)
        protocol.connection_made(Counting())  # type: ignore[arg-type]
        protocols.append(protocol)

    async def run(n: int) -> None:
        """`n` rounds: a request on every connection, then until all are answered."""
        for r in range(1, n + 1):
            for protocol in protocols:
                protocol.data_received(REQUEST)
            while any(p.transport.answers < answered + r for p in protocols):  # type: ignore[attr-defined]
                await asyncio.sleep(0)

    answered = 0
    await run(50)
    answered = 50
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await run(rounds // 3)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        await run(rounds)
        best = min(best, time.perf_counter() - started)
        answered += rounds
    last: bytes = protocols[0].transport.last  # type: ignore[attr-defined]
    assert last.startswith(b"HTTP/1.1 202 "), last[:200]
    per_request = 1e6 * best / (rounds * connections)
    print(f"{per_request:.2f} µs a request (best of 5 runs of {rounds} rounds)", end="")
    print(f", {connections} connections")
    await queue.stop()
    service.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="cProfile one run instead")
    args = parser.parse_args()
    uvloop.run(measure(args.connections, args.rounds, args.profile))


if __name__ == "__main__":
    main()
