"""The synchronous client for the Escalade HTTP API."""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import httpx

from escalade.sdk import calls
from escalade.sdk.reviews import (
    Decision,
    EscaladeError,
    Outcome,
    ServerUnavailable,
    bind_arguments,
    decision_from,
    review_args,
    unreachable,
    with_edits,
)

P = ParamSpec("P")
R = TypeVar("R")

LONG_POLL = 30.0  # seconds per wait request; the server holds at most 60


def settings(url: str | None, token: str | None) -> tuple[str, dict[str, str]]:
    url = (url or os.environ.get("ESCALADE_URL") or "http://127.0.0.1:8080").rstrip("/")
    token = token or os.environ.get("ESCALADE_TOKEN") or os.environ.get("ESCALADE_ADMIN_TOKEN")
    return url, ({"Authorization": f"Bearer {token}"} if token else {})


def answer_of(response: httpx.Response) -> Any:
    body = response.json() if response.content else None
    if response.status_code >= 500:
        raise ServerUnavailable(response.status_code, body)
    if response.status_code >= 400:
        raise EscaladeError(response.status_code, body)
    return body


class EscaladeClient:
    """Signals, incidents and human review, over HTTP.

    ``on_unreachable`` is what :meth:`review` decides when the server cannot be
    reached (connection refused, timeouts, 5xx): ``"deny"`` by default, so an
    outage never turns into an unreviewed action.
    """

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
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, read=LONG_POLL + 15)
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EscaladeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return answer_of(self._http.request(method, path, **kwargs))

    def _run(self, call: calls.Call) -> Any:
        answer = self._call(
            call.method, call.path, params=call.params, json=call.json, headers=call.headers
        )
        return call.result(answer)

    # --- signals and incidents ------------------------------------------------
    def send_signals(self, *signals: dict[str, Any], queued: bool = False) -> dict[str, Any]:
        """Send signals; the answer has each one's incident, or with `queued` comes as
        soon as they are durable (`Prefer: respond-async`) and they are routed after."""
        return dict(self._run(calls.send_signals(signals, queued)))

    def incidents(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self._run(calls.incidents(filters)))

    def incident(self, incident_id: str) -> dict[str, Any]:
        return dict(self._run(calls.incident(incident_id)))

    def policy_versions(self, limit: int = 50) -> list[dict[str, Any]]:
        """Every policy that went live, newest first."""
        return list(self._run(calls.policy_versions(limit)))

    def policy_version(self, ref: str) -> dict[str, Any]:
        """One version (number, digest prefix or "current") with its files and diff."""
        return dict(self._run(calls.policy_version(ref)))

    def feedback(
        self, incident_id: str, rating: int, comment: str | None = None, by: str | None = None
    ) -> dict[str, Any]:
        """Rate how the response to a resolved incident went (1-5), as a participant."""
        return dict(self._run(calls.feedback(incident_id, rating, comment, by)))

    def start_exercise(self, name: str, signal: Mapping[str, Any]) -> dict[str, Any]:
        """Open a live drill: an exercise incident through the real channels and people."""
        return dict(self._run(calls.start_exercise(name, signal)))

    def exercises(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self._run(calls.exercises(limit)))

    def exercise_report(self, incident_id: str) -> dict[str, Any]:
        return dict(self._run(calls.exercise_report(incident_id)))

    def export_incident(self, incident_id: str) -> dict[str, Any]:
        """The incident anonymised for publishing (shared learnings)."""
        return dict(self._run(calls.export_incident(incident_id)))

    def act(
        self, incident_id: str, verb: str, by: str | None = None, note: str | None = None
    ) -> dict[str, Any]:
        return dict(self._run(calls.act(incident_id, verb, by, note)))

    def acknowledge(self, incident_id: str, by: str | None = None) -> dict[str, Any]:
        return self.act(incident_id, "acknowledge", by)

    def resolve(self, incident_id: str, by: str | None = None) -> dict[str, Any]:
        return self.act(incident_id, "resolve", by)

    def health(self) -> dict[str, Any]:
        return dict(self._run(calls.health()))

    # --- human review ----------------------------------------------------------
    def request_review(
        self, action: str, args: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Ask for a review and return the review record at once (no waiting)."""
        return dict(self._run(calls.request_review(action, args, fields)))

    def get_review(self, review_id: str, wait: float = 0) -> dict[str, Any]:
        """The review record; with `wait`, once decided or after `wait` seconds."""
        return dict(self._run(calls.get_review(review_id, wait)))

    def reviews(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The review queue, newest first (viewer scope)."""
        return list(self._run(calls.reviews(status, limit)))

    def decide(
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
        return dict(self._run(call))

    def review(
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
        """Ask a human before acting, and wait for the decision.

        Waits until the server decides (its policy always does, at the latest by
        ``on_timeout``) or ``timeout`` seconds pass, whichever is first. A server that
        cannot be reached, or a wait that runs out, yields ``on_unreachable``.
        """
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
            review = self._with_retries(lambda: self._call("POST", "/v1/reviews", json=body))[
                "review"
            ]
            while review["status"] == "pending":
                left = LONG_POLL if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    return unreachable(action, body["args"], self.on_unreachable, "wait timed out")
                path = f"/v1/reviews/{review['id']}"
                wait = {"wait": f"{min(left, LONG_POLL):.3f}"}
                review = self._with_retries(
                    functools.partial(self._call, "GET", path, params=wait)
                )["review"]
        except UNREACHABLE as exc:
            return unreachable(action, body["args"], self.on_unreachable, describe(exc))
        return decision_from(review, action)

    def _with_retries(self, call: Callable[[], Any]) -> Any:
        """Retry while the server is unreachable, for up to ``retry_for`` seconds
        (a restart or a deploy should not deny what a reviewer is about to approve)."""
        give_up: float | None = None
        pause = 0.2
        while True:
            try:
                return call()
            except UNREACHABLE:
                now = time.monotonic()
                give_up = give_up or now + self.retry_for
                if now >= give_up:
                    raise
                time.sleep(min(pause, give_up - now))
                pause = min(pause * 2, 2.0)

    def require_approval(
        self,
        action: str,
        *,
        risk: float | None = None,
        subject: Mapping[str, str] | None = None,
        exclude: tuple[str, ...] = (),
        timeout: float | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Run the decorated function only when a reviewer approves the call.

        The call's arguments (less ``exclude``) are what the reviewer sees; edited
        arguments replace the originals. A denial raises :class:`ReviewDenied`
        (:class:`ReviewHalted` for ``halt``) and the function does not run.
        """

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            if inspect.iscoroutinefunction(function):
                raise TypeError(
                    f"{function.__name__} is async: use AsyncEscaladeClient.require_approval"
                )

            @functools.wraps(function)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                bound = bind_arguments(function, args, kwargs)
                shown = review_args(bound, frozenset(exclude))
                decision = self.review(action, shown, risk=risk, subject=subject, timeout=timeout)
                decision.raise_unless_approved()
                approved = with_edits(bound, decision)
                return function(*approved.args, **approved.kwargs)

            return guarded

        return decorate


UNREACHABLE = (httpx.TransportError, ServerUnavailable)
"""Failures after which the client decides on its own (``on_unreachable``)."""


def describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
