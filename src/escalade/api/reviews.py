"""Human review of AI actions: requests, long-poll waits, reviewers' decisions."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import Field, model_validator

from escalade.api.auth import authorize, requires, service
from escalade.api.errors import problem
from escalade.api.governance import ActorBody
from escalade.api.responses import JSONResponse
from escalade.domain.reviews import Review, ReviewRequestIn
from escalade.engine.refusals import REFUSALS, refusal
from escalade.engine.reviews import IdempotencyConflict
from escalade.engine.service import Escalade, Principal

router = APIRouter(tags=["reviews"])
Asker = Annotated[Principal, Depends(requires("ingest"))]
Reader = Annotated[Principal, Depends(requires("ingest", "viewer"))]
Viewer = Annotated[Principal, Depends(requires("viewer"))]


async def _decider(review_id: str, request: Request) -> Principal:
    """Any valid token, then the engine's check of its scope: a refused attempt is
    recorded on the review's timeline. Runs before the body is read, so a token
    that may not decide gets its 403 whatever it sent."""
    escalade = service(request)
    principal = authorize(escalade, request.headers.get("authorization", ""), _ANY_SCOPE)
    try:
        await anyio.to_thread.run_sync(escalade.check_decider, principal, review_id)
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from exc
    return principal


_ANY_SCOPE = ("viewer", "ingest")  # with the grants, every scope
Decider = Annotated[Principal, Depends(_decider)]

MAX_WAIT = 60  # seconds a long-poll may hold the connection


class DecisionBody(ActorBody):
    decision: Literal["approve", "reject"]
    args: dict[str, Any] | None = None  # approve with these arguments instead
    comment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _edits_approve(self) -> DecisionBody:
        if self.args is not None and self.decision != "approve":
            raise ValueError("'args' (edited arguments) come only with decision 'approve'")
        return self


def _may_read(principal: Principal, review: Review) -> bool:
    """An ingest-only token sees the reviews it asked for, and no others."""
    return principal.may("viewer") or review.requested_by == principal.name


def _body(escalade: Escalade, review: Review, *, timeline: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"review": review.to_record()}
    if timeline:
        out["timeline"] = escalade.review_timeline(review.id)
    return out


@router.post("/v1/reviews", status_code=201)
async def request_review(
    body: Annotated[ReviewRequestIn, Body()], request: Request, principal: Asker
) -> Response:
    """An AI system proposes an action; 201 with the review (200 when the idempotency
    key was seen before). A request the policy decides at once comes back decided."""
    escalade = service(request)
    try:
        requested = await anyio.to_thread.run_sync(
            lambda: escalade.request_review(body, principal.name)
        )
    except IdempotencyConflict as exc:
        return problem(409, "idempotency_conflict", str(exc))
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        return problem(
            422, "invalid_request", str(exc), errors=[{"field": field, "message": message}]
        )
    return JSONResponse(
        {"review": requested.review.to_record(), "created": requested.created},
        status_code=201 if requested.created else 200,
    )


@router.get("/v1/reviews")
async def list_reviews(
    request: Request,
    _: Viewer,
    status: Annotated[str | None, Query(pattern="^(pending|decided)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """The review queue, newest first."""
    escalade = service(request)
    found = await anyio.to_thread.run_sync(
        lambda: escalade.list_reviews(status=status, limit=limit)
    )
    return JSONResponse({"reviews": [r.to_record() for r in found]})


@router.get("/v1/reviews/{review_id}")
async def get_review(
    review_id: str,
    request: Request,
    principal: Reader,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0,
) -> Response:
    """The review and its timeline. With `wait`, hold until it is decided or `wait`
    seconds pass (long-poll); a pending answer after the wait is not an error."""
    escalade = service(request)
    deadline = time.monotonic() + wait
    pause = 0.05
    while True:
        review = await anyio.to_thread.run_sync(lambda: escalade.review(review_id))
        if review is None or not _may_read(principal, review):
            return problem(404, "not_found", f"no review {review_id!r}")
        left = deadline - time.monotonic()
        if not review.pending or left <= 0:
            break
        await anyio.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)
    body = await anyio.to_thread.run_sync(lambda: _body(escalade, review, timeline=True))
    return JSONResponse(body)


@router.post("/v1/reviews/{review_id}/decision")
async def decide(
    review_id: str, body: Annotated[DecisionBody, Body()], request: Request, principal: Decider
) -> Response:
    """A reviewer approves, rejects, or approves with edited `args`. Only reviewers the
    policy names may answer, through a responder's token (403 otherwise, and the
    attempt is on the timeline, whatever the token's scope)."""
    escalade = service(request)
    try:
        review = await anyio.to_thread.run_sync(
            lambda: escalade.decide_review(
                principal,
                review_id,
                body.decision == "approve",
                by=body.by,
                args=body.args,
                comment=body.comment,
            )
        )
    except REFUSALS as exc:
        refused = refusal(exc)
        return problem(refused.status, refused.error, refused.message)
    return JSONResponse({"review": review.to_record()})


@router.get("/v1/metrics/reviews", tags=["metrics"])
async def review_metrics(
    request: Request, _: Viewer, days: Annotated[int, Query(ge=1, le=3650)] = 30
) -> Response:
    """Time to decision and timeout rate per review policy over the last `days`."""
    escalade = service(request)
    stats = await anyio.to_thread.run_sync(lambda: escalade.review_metrics(days))
    return JSONResponse({"days": days, "policies": {k: v.to_record() for k, v in stats.items()}})
