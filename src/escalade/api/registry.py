"""The registry of AI systems and model versions, and the risk register."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from escalade.api.auth import requires, service
from escalade.api.errors import problem
from escalade.api.responses import JSONResponse
from escalade.engine.commands import IncidentNotFound
from escalade.engine.service import Escalade, Principal

router = APIRouter(tags=["registry"])
Admin = Annotated[Principal, Depends(requires("admin"))]
Viewer = Annotated[Principal, Depends(requires("viewer"))]
Responder = Annotated[Principal, Depends(requires("responder"))]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/@+-]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SystemBody(_Body):
    name: str = Field(min_length=1, max_length=500)
    owner: str
    description: str | None = Field(default=None, max_length=10_000)


class ModelCard(_Body):
    """Model-card fields (after Mitchell et al., "Model Cards for Model Reporting")."""

    owner: str
    intended_use: str = Field(min_length=1, max_length=10_000)
    out_of_scope_use: str | None = Field(default=None, max_length=10_000)
    known_limits: str | None = Field(default=None, max_length=10_000)
    data_lineage: str | None = Field(default=None, max_length=10_000)


class RiskBody(_Body):
    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=10_000)
    severity: Literal["low", "medium", "high", "critical"]
    owner: str
    by: str | None = None


async def _call(request: Request, call: Callable[[Escalade], Any], status: int = 200) -> Response:
    try:
        result = await anyio.to_thread.run_sync(lambda: call(service(request)))
    except IncidentNotFound as exc:
        return problem(404, "not_found", str(exc))
    except LookupError as exc:
        return problem(404, "not_found", str(exc))
    except ValueError as exc:
        return problem(422, "invalid", str(exc))
    return JSONResponse(result, status_code=status)


@router.put("/v1/systems/{system_id}")
async def put_system(
    system_id: Name, body: Annotated[SystemBody, Body()], request: Request, _: Admin
) -> Response:
    """Register or update an AI system and its owner."""
    return await _call(
        request, lambda e: e.register_system(system_id, body.name, body.owner, body.description)
    )


@router.put("/v1/systems/{system_id}/models/{model}/versions/{version}")
async def put_model(
    system_id: Name,
    model: Name,
    version: Name,
    body: Annotated[ModelCard, Body()],
    request: Request,
    _: Admin,
) -> Response:
    """Register a model version with its model card; signals link to it by subject."""
    card = body.model_dump(exclude={"owner"})
    return await _call(
        request, lambda e: e.register_model(system_id, model, version, body.owner, card)
    )


@router.get("/v1/systems")
async def list_systems(request: Request, _: Viewer) -> Response:
    return await _call(request, lambda e: {"systems": e.systems()})


@router.get("/v1/systems/{system_id}")
async def show_system(system_id: str, request: Request, _: Viewer) -> Response:
    found = await anyio.to_thread.run_sync(service(request).system, system_id)
    if found is None:
        return problem(404, "not_found", f"no AI system {system_id!r}")
    return JSONResponse(found)


@router.post("/v1/incidents/{incident_id}/risks")
async def open_risk(
    incident_id: str, body: Annotated[RiskBody, Body()], request: Request, principal: Responder
) -> Response:
    """Open a risk register entry from an incident (linked to its system and model)."""
    return await _call(
        request,
        lambda e: e.open_risk(
            incident_id,
            title=body.title,
            description=body.description,
            severity=body.severity,
            owner=body.owner,
            by=body.by or principal.name,
        ),
        status=201,
    )


@router.get("/v1/risks")
async def risk_register(request: Request, _: Viewer) -> Response:
    return await _call(request, lambda e: {"risks": e.risk_register()})
