"""Engine processes and their heartbeats (the same list as `escalade workers`)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from escalade.api.auth import requires, service
from escalade.api.responses import JSONResponse
from escalade.engine.presence import listing
from escalade.engine.service import Principal

router = APIRouter(tags=["operations"])


@router.get("/v1/workers")
async def list_workers(
    request: Request, _: Annotated[Principal, Depends(requires("viewer"))]
) -> Response:
    """Every worker with its last heartbeat: `alive`, `stale` (presumed dead) or `stopped`."""
    escalade = service(request)
    limit = request.app.state.tuning.presumed_dead_after
    found = await anyio.to_thread.run_sync(
        lambda: listing(escalade.reader, escalade.clock.now(), limit)
    )
    alive = sum(1 for w in found if w["status"] == "alive")
    return JSONResponse({"alive": alive, "workers": found})
