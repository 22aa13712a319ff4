"""API tokens (admin only): list, create (the token is shown once), revoke."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from escalade.api.auth import requires, service
from escalade.api.errors import problem
from escalade.api.responses import JSONResponse
from escalade.engine.service import Principal

router = APIRouter(tags=["security"])
Admin = Annotated[Principal, Depends(requires("admin"))]


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/@+-]+$")
    scope: Literal["admin", "responder", "viewer", "ingest"]


@router.get("/v1/tokens")
async def list_tokens(request: Request, _: Admin) -> Response:
    """Every token with its scope, creation and last-use times; never the token or its hash."""
    found = await anyio.to_thread.run_sync(service(request).list_tokens)
    return JSONResponse({"tokens": found})


@router.post("/v1/tokens", status_code=201)
async def create_token(body: TokenBody, request: Request, _: Admin) -> Response:
    """Create a token; the response is the only time the token itself is shown."""
    escalade = service(request)
    token_id, token = await anyio.to_thread.run_sync(
        lambda: escalade.create_token(body.name, body.scope)
    )
    return JSONResponse(
        {"id": token_id, "name": body.name, "scope": body.scope, "token": token}, status_code=201
    )


@router.delete("/v1/tokens/{token_id}")
async def revoke_token(token_id: str, request: Request, _: Admin) -> Response:
    """Revoke a token: refused within this process at once, elsewhere within 5 s."""
    revoked = await anyio.to_thread.run_sync(lambda: service(request).revoke_token(token_id))
    if not revoked:
        return problem(404, "not_found", f"no live token {token_id!r}")
    return JSONResponse({"id": token_id, "revoked": True})
