"""The asyncio client: the same methods as :class:`EscaladeClient`, awaited."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import httpx

from escalade.sdk import calls
from escalade.sdk.client import LONG_POLL, UNREACHABLE, answer_of, describe, settings
from escalade.sdk.reviews import (
    Decision,
    Outcome,
    bind_arguments,
    decision_from,
    review_args,
    unreachable,
    with_edits,
)

P = ParamSpec("P")
R = TypeVar("R")


class AsyncEscaladeClient:
    """Signals, incidents and human review for asyncio code; fails closed like the
    synchronous client."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        on_unreachable: Outcome = "deny",
        retry_for: float = 15.0,
    ) -> None:
        self.url, headers = settings(url, token)
        self.on_unreachable: Outcome = on_unreachable
        self.retry_for = retry_for
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, read=LONG_POLL + 15)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncEscaladeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return answer_of(await self._http.request(method, path, **kwargs))

    async def _run(self, call: calls.Call) -> Any:
        answer = await self._call(
            call.method, call.path, params=call.params, json=call.json, headers=call.headers
        )
        return call.result(answer)

    # --- signals and incidents (see EscaladeClient for each) ---------------------
    async def send_signals(self, *signals: dict[str, Any], queued: bool = False) -> dict[str, Any]:
        return dict(await self._run(calls.send_signals(signals, queued)))

    async def incidents(self, **filters: Any) -> list[dict[str, Any]]:
        return list(await self._run(calls.incidents(filters)))

    async def incident(self, incident_id: str) -> dict[str, Any]:
        return dict(await self._run(calls.incident(incident_id)))

    async def policy_versions(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(await self._run(calls.policy_versions(limit)))

    async def policy_version(self, ref: str) -> dict[str, Any]:
        return dict(await self._run(calls.policy_version(ref)))

    async def feedback(
        self, incident_id: str, rating: int, comment: str | None = None, by: str | None = None
    ) -> dict[str, Any]:
        return dict(await self._run(calls.feedback(incident_id, rating, comment, by)))

    async def start_exercise(self, name: str, signal: Mapping[str, Any]) -> dict[str, Any]:
        return dict(await self._run(calls.start_exercise(name, signal)))

    async def exercises(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(await self._run(calls.exercises(limit)))

    async def exercise_report(self, incident_id: str) -> dict[str, Any]:
        return dict(await self._run(calls.exercise_report(incident_id)))

    async def export_incident(self, incident_id: str) -> dict[str, Any]:
        return dict(await self._run(calls.export_incident(incident_id)))

    async def act(
        self, incident_id: str, verb: str, by: str | None = None, note: str | None = None
    ) -> dict[str, Any]:
        return dict(await self._run(calls.act(incident_id, verb, by, note)))

    async def acknowledge(self, incident_id: str, by: str | None = None) -> dict[str, Any]:
        return await self.act(incident_id, "acknowledge", by)

    async def resolve(self, incident_id: str, by: str | None = None) -> dict[str, Any]:
        return await self.act(incident_id, "resolve", by)

    async def health(self) -> dict[str, Any]:
        return dict(await self._run(calls.health()))

    # --- human review ----------------------------------------------------------
    async def request_review(
        self, action: str, args: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Ask for a review and return the review record at once (no waiting)."""
        return dict(await self._run(calls.request_review(action, args, fields)))

    async def get_review(self, review_id: str, wait: float = 0) -> dict[str, Any]:
        """The review record; with `wait`, once decided or after `wait` seconds."""
        return dict(await self._run(calls.get_review(review_id, wait)))

    async def reviews(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The review queue, newest first (viewer scope)."""
        return list(await self._run(calls.reviews(status, limit)))

    async def decide(
        self,
        review_id: str,
        approve: bool,
        *,
        args: Mapping[str, Any] | None = None,
        comment: str | None = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        """A reviewer's answer (for reviewer tools: chat bots, consoles)."""
        call = calls.decide(review_id, approve, args=args, comment=comment, by=by)
        return dict(await self._run(call))

    async def review(
        self,
        action: str,
        args: Mapping[str, Any] | None = None,
        *,
        risk: float | None = None,
        subject: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
        summary: str | None = None,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
        timeout: float | None = None,
    ) -> Decision:
        """Ask a human before acting and await the decision (see EscaladeClient.review)."""
        body = calls.review_body(
            action,
            args,
            risk=risk,
            subject=subject,
            context=context,
            summary=summary,
            idempotency_key=idempotency_key,
            callback_url=callback_url,
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            answer = await self._with_retries(lambda: self._call("POST", "/v1/reviews", json=body))
            review = answer["review"]
            while review["status"] == "pending":
                left = LONG_POLL if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    return unreachable(action, body["args"], self.on_unreachable, "wait timed out")
                path = f"/v1/reviews/{review['id']}"
                wait = {"wait": f"{min(left, LONG_POLL):.3f}"}
                answer = await self._with_retries(
                    functools.partial(self._call, "GET", path, params=wait)
                )
                review = answer["review"]
        except UNREACHABLE as exc:
            return unreachable(action, body["args"], self.on_unreachable, describe(exc))
        return decision_from(review, action)

    async def _with_retries(self, call: Callable[[], Awaitable[Any]]) -> Any:
        give_up: float | None = None
        pause = 0.2
        while True:
            try:
                return await call()
            except UNREACHABLE:
                now = time.monotonic()
                give_up = give_up or now + self.retry_for
                if now >= give_up:
                    raise
                await asyncio.sleep(min(pause, give_up - now))
                pause = min(pause * 2, 2.0)

    def require_approval(
        self,
        action: str,
        *,
        risk: float | None = None,
        subject: Mapping[str, str] | None = None,
        exclude: tuple[str, ...] = (),
        timeout: float | None = None,
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """Await a reviewer's approval before running the decorated coroutine function."""

        def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            if not inspect.iscoroutinefunction(function):
                raise TypeError(f"{function.__name__} is not async: use EscaladeClient")

            @functools.wraps(function)
            async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                bound = bind_arguments(function, args, kwargs)
                shown = review_args(bound, frozenset(exclude))
                decision = await self.review(
                    action, shown, risk=risk, subject=subject, timeout=timeout
                )
                decision.raise_unless_approved()
                approved = with_edits(bound, decision)
                return await function(*approved.args, **approved.kwargs)

            return guarded

        return decorate
