"""The tamper-evident audit log: verify the timeline's hash chains."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from escalade.api.auth import requires, service
from escalade.api.responses import JSONResponse
from escalade.engine.service import Principal

router = APIRouter(tags=["security"])


@router.get("/v1/audit/verify")
async def verify_audit(
    request: Request,
    _: Annotated[Principal, Depends(requires("admin"))],
    incident_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """`ok` with counts, or the first break of each broken chain (edited, deleted,
    inserted or reordered entry, or a cut-off tail). Always 200: the check ran."""
    escalade = service(request)
    result = await anyio.to_thread.run_sync(lambda: escalade.verify_audit(incident_id))
    return JSONResponse(result)
