"""The composition root: `create_app(settings)` wires everything together."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from escalade import __version__, heap
from escalade.api import (
    ack,
    audit,
    command,
    exercises,
    feedback,
    governance,
    health,
    incidents,
    integrations,
    messages,
    registry,
    reviews,
    signals,
    tokens,
    workers,
)
from escalade.api.errors import field_path, problem, refusal
from escalade.api.hardening import (
    BodyLimit,
    ErrorBarrier,
    JsonGuard,
    RateLimit,
    SecurityHeaders,
    security_headers,
)
from escalade.api.lane import Lane
from escalade.api.responses import JSONResponse
from escalade.channels.registry import Senders
from escalade.domain.ratelimit import RateLimiter
from escalade.domain.signals import Signal
from escalade.engine.acklinks import configured
from escalade.engine.batcher import GroupCommitter, in_thread
from escalade.engine.inbound import Inbound
from escalade.engine.loop_inbox import inbox_commit
from escalade.engine.service import Escalade
from escalade.engine.worker import Worker
from escalade.settings import Settings
from escalade.web import install as install_dashboard

log = logging.getLogger("escalade.app")


_ROUTERS = (
    signals,
    incidents,
    governance,
    command,
    messages,
    registry,
    reviews,
    integrations,
    health,
    ack,
    feedback,
    exercises,
    workers,
    tokens,
    audit,
)


def create_app(settings: Settings, escalade: Escalade | None = None) -> FastAPI:
    escalade = escalade or Escalade(
        settings.database_url,
        settings.policy,
        admin_token=settings.admin_token,
        callback_secret=settings.callback_secret,
        callback_urls=settings.callback_urls,
        ack_links=configured(settings.secret_key, settings.public_url, settings.ack_link_ttl),
    )
    committer: GroupCommitter[Signal] = GroupCommitter(in_thread(escalade.ingest))
    queued, loop_inbox = inbox_commit(escalade)
    queue: GroupCommitter[dict[str, Any]] = GroupCommitter(queued)
    senders = Senders(callback_secret=escalade.callback_secret)
    stop = threading.Event()
    worker = Worker.of(escalade, senders, settings.tuning)
    thread: threading.Thread | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal thread
        await committer.start()
        await queue.start()
        await anyio.to_thread.run_sync(escalade.record_policy, "startup")
        try:
            await anyio.to_thread.run_sync(escalade.rehearse)
        except Exception:  # a warm-up: real signals report their own errors
            log.exception("ingest.rehearsal_failed")
        if settings.run_engine:
            thread = threading.Thread(
                target=worker.run_for, args=(escalade, stop, "serve"), name="escalade-worker"
            )
            thread.start()
        log.info("server.started", extra={"policy": escalade.policy.source})
        try:
            yield
        finally:
            stop.set()
            escalade.wake.set()
            if thread is not None:
                # Long enough for a send in hand to finish (channel timeouts are shorter).
                thread.join(timeout=30)
            await committer.stop()
            await queue.stop()
            if loop_inbox is not None:
                await loop_inbox.close()
            senders.close()
            escalade.close()

    app = FastAPI(
        title="Escalade",
        version=__version__,
        default_response_class=JSONResponse,
        lifespan=lifespan,
        # Escalade ships no OpenTelemetry; FastAPI's probe for a configured provider
        # alone cost a fifth of the ingest path's time per request (bench/serve.py).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.escalade = escalade
    app.state.intake = signals.Intake(escalade, committer, queue)
    app.state.tuning = settings.tuning
    app.state.inbound = Inbound(escalade, settings.integration_rate_limit)
    alive: Callable[[], bool] | None = (
        (lambda: thread is not None and thread.is_alive()) if settings.run_engine else None
    )
    app.state.engine_alive = alive
    for module in _ROUTERS:
        app.include_router(module.router)
    install_dashboard(app, settings.secret_key)
    _harden(app, settings)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return refusal(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": field_path(tuple(e["loc"])), "message": str(e["msg"])} for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "(request)", "message": "invalid"}
        return problem(
            422, "invalid_request", f"{first['field']}: {first['message']}", errors=errors
        )

    return app


def _harden(app: FastAPI, settings: Settings) -> None:
    """The layers of api/hardening.py, added innermost first: the headers wrap
    everything, so 413, 429 and 500 answers carry them too."""
    app.add_middleware(signals.FastIngest)
    app.add_middleware(JsonGuard)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    burst = settings.rate_burst or 2 * settings.rate_limit
    limiter = RateLimiter(settings.rate_limit, burst) if settings.rate_limit > 0 else None
    app.add_middleware(RateLimit, limiter=limiter)
    app.add_middleware(ErrorBarrier)
    app.add_middleware(SecurityHeaders, hsts_max_age=settings.hsts_max_age)
    # `escalade serve` answers ingest in the HTTP protocol (api/lane.py), under the
    # same limiter, limit and headers.
    app.state.ingest_lane = Lane(
        app.state.intake, limiter, settings.max_body_bytes, security_headers(settings.hsts_max_age)
    )


def create_app_from_env() -> FastAPI:
    """Factory for `escalade serve --workers N` (each process reads the environment)."""
    settings = Settings.from_env()
    app = create_app(replace(settings, run_engine=os.environ.get("ESCALADE_RUN_ENGINE") == "1"))
    heap.settle()  # this process is one of `serve --workers N`: its start-up is done
    return app
