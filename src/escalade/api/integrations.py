"""Inbound integrations: the admin routes that manage them, and each tool's endpoint.

Each endpoint takes only keys of its own kind: a PagerDuty key cannot post an
Alertmanager body, and no integration key works on any other route. The key
travels where each tool can put it: PagerDuty's `routing_key` / `service_key`
in the body; for the others a bearer token or `?key=`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from escalade.api.auth import requires
from escalade.api.errors import problem
from escalade.api.responses import JSONResponse
from escalade.api.signals import Intake
from escalade.engine.inbound import Inbound
from escalade.engine.service import Principal
from escalade.integrations import alertmanager, evidently, pagerduty, webhook
from escalade.integrations.events import KINDS, Action, InvalidEvent, Trigger
from escalade.storage.integrations import IntegrationRecord

router = APIRouter(tags=["integrations"])
Admin = Annotated[Principal, Depends(requires("admin"))]
MAX_BODY = 5 * 1024 * 1024
_THROTTLED = "Requests for this service are arriving too quickly. Please retry later."


class IntegrationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(" + "|".join(KINDS) + ")$")
    mapping: dict[str, Any] | None = None


def inbound(request: Request) -> Inbound:
    found: Inbound = request.app.state.inbound
    return found


@router.post("/v1/integrations", status_code=201)
async def create_integration(body: IntegrationBody, request: Request, _: Admin) -> Response:
    """Create an integration; its key is in this answer and never shown again."""
    try:
        shown, key = await anyio.to_thread.run_sync(
            lambda: inbound(request).create(body.name, body.kind, body.mapping)
        )
    except ValueError as exc:
        return problem(422, "invalid_integration", str(exc))
    return JSONResponse({**shown, "key": key}, status_code=201)


@router.get("/v1/integrations")
async def list_integrations(request: Request, _: Admin) -> Response:
    found = await anyio.to_thread.run_sync(inbound(request).listing)
    return JSONResponse({"integrations": found})


@router.delete("/v1/integrations/{integration_id}", status_code=204)
async def revoke_integration(integration_id: str, request: Request, _: Admin) -> Response:
    """Revoke an integration: refused within this process at once, elsewhere within 5 s."""
    done = await anyio.to_thread.run_sync(lambda: inbound(request).revoke(integration_id))
    if not done:
        return problem(404, "not_found", f"no live integration {integration_id!r}")
    return Response(status_code=204)


# --- PagerDuty Events API v2 -----------------------------------------------------


def _pd_invalid(*errors: str) -> JSONResponse:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}
    return JSONResponse(body, status_code=400)


@router.post("/v2/enqueue", status_code=202)
async def enqueue(request: Request) -> Response:
    """PagerDuty Events API v2 (and the v1 `service_key` shape), with PagerDuty's answers."""
    raw = await request.body()
    if len(raw) > pagerduty.MAX_EVENT_BYTES:
        return _pd_invalid(f"Event is too large (maximum is {pagerduty.MAX_EVENT_BYTES} bytes)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _pd_invalid("Invalid JSON: the body is not a JSON object")
    key = pagerduty.routing_key(data)
    if key is None:
        return _pd_invalid("'routing_key' is missing or blank")
    try:
        event = pagerduty.parse(data, uuid.uuid4().hex)
    except InvalidEvent as exc:
        return _pd_invalid(*(e.message if e.field in e.message else str(e) for e in exc.errors))
    found = await _integration(request, event.key, "pagerduty")
    if found is None:
        return _pd_invalid("Invalid routing key")
    wait = inbound(request).retry_after(found)
    if wait is not None:
        return JSONResponse(
            {"status": "throttle event", "message": _THROTTLED},
            status_code=429,
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    await _carry_out(request, found, [event.action])
    name = "incident_key" if event.v1 else "dedup_key"
    body = {"status": "success", "message": "Event processed", name: event.dedup_key}
    return JSONResponse(body, status_code=202)


# --- Alertmanager, Grafana, Evidently, generic webhook ---------------------------


@router.post("/v1/integrations/alertmanager", status_code=202)
async def alertmanager_webhook(request: Request) -> Response:
    """Alertmanager webhook v4: a group's firing alerts become signals; resolved resolves."""
    return await _receive(request, "alertmanager", lambda data, _: alertmanager.translate(data))


@router.post("/v1/integrations/grafana", status_code=202)
async def grafana_webhook(request: Request) -> Response:
    """Grafana alerting's webhook contact point (Alertmanager's shape, with values)."""
    return await _receive(
        request, "grafana", lambda data, _: alertmanager.translate(data, tool="grafana")
    )


@router.post("/v1/integrations/evidently", status_code=202)
async def evidently_report(request: Request) -> Response:
    """An Evidently report or test suite: drifted columns and failed tests become signals.

    `?model=`, `?system=` and `?version=` name the subject the report is about.
    """
    subject = {k: v for k in ("system", "model", "version") if (v := request.query_params.get(k))}
    return await _receive(
        request,
        "evidently",
        lambda data, found: evidently.translate(data, subject, f"evidently/{found.name}"),
    )


@router.post("/v1/integrations/webhook", status_code=202)
async def generic_webhook(request: Request) -> Response:
    """Any JSON body, turned into a signal by the integration's own mapping."""

    def translate(data: object, found: IntegrationRecord) -> list[Action]:
        return webhook.translate(data, inbound(request).mapping(found))

    return await _receive(request, "webhook", translate)


async def _integration(request: Request, key: str, kind: str) -> IntegrationRecord | None:
    return await anyio.to_thread.run_sync(lambda: inbound(request).authenticate(key, kind))


async def _carry_out(
    request: Request, found: IntegrationRecord, actions: list[Action]
) -> list[dict[str, Any]]:
    """Triggers join the group commit of /v1/signals; acks and resolves follow in order."""
    handler = inbound(request)
    wire = handler.signals_of(found, actions)
    done = []
    if wire:
        intake: Intake = request.app.state.intake
        accepted = await intake.committer.submit(handler.escalade.accept(wire))
        done += handler.triggered(actions, accepted)
    if any(not isinstance(a, Trigger) for a in actions):
        done += await anyio.to_thread.run_sync(lambda: handler.close(found, actions))
    return [d.as_json() for d in done]


def _key(request: Request) -> str | None:
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query_params.get("key") or None


async def _receive(
    request: Request,
    kind: str,
    translate: Callable[[object, IntegrationRecord], list[Action]],
) -> Response:
    key = _key(request)
    if key is None:
        response = problem(
            401,
            "unauthorized",
            "missing integration key: send 'Authorization: Bearer <key>' or '?key=<key>'",
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    found = await _integration(request, key, kind)
    if found is None:
        return problem(401, "unauthorized", f"unknown or revoked {kind} integration key")
    wait = inbound(request).retry_after(found)
    if wait is not None:
        response = problem(429, "rate_limited", "too many events for this integration key")
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return problem(413, "too_large", f"request body over {MAX_BODY} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return problem(400, "invalid_json", f"body is not valid JSON: {exc}")
    try:
        actions = translate(data, found)
    except InvalidEvent as exc:
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        return problem(400, "invalid_event", f"{exc} (nothing was stored)", errors=errors)
    done = await _carry_out(request, found, actions)
    return JSONResponse({"status": "success", "integration": found.id, "results": done}, 202)
