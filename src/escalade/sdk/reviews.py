"""What the SDK hands back for a review, and the checks that make it trustworthy.

A :class:`Decision` is only built from a server answer whose action and arguments
hash to the ``args_hash`` it carries, so code that acts on ``decision.args`` acts on
exactly what a reviewer approved. When the server cannot be reached the client
fails closed: a deny with ``reason="unreachable"`` (unless told otherwise).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Outcome = Literal["approve", "deny", "halt"]


class EscaladeError(RuntimeError):
    """The server refused a request; ``status`` and ``body`` say why."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body


class ServerUnavailable(EscaladeError):
    """A 5xx answer: the server is there but cannot decide right now."""


class UntrustedDecision(EscaladeError):
    """The server's decision does not match what was asked (hash, action or expiry)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, {"message": message})


class ReviewDenied(PermissionError):
    """The action was not approved; ``decision`` says by whom and why."""

    def __init__(self, decision: Decision) -> None:
        who = ", ".join(decision.by) or decision.reason
        note = f": {decision.comment}" if decision.comment else ""
        verb = {"deny": "denied", "halt": "halted"}.get(decision.outcome, decision.outcome)
        super().__init__(f"{decision.action} was {verb} ({who}){note}")
        self.decision = decision


class ReviewHalted(ReviewDenied):
    """Denied, and the policy says to stop the whole activity, not just this action."""


@dataclass(frozen=True)
class Decision:
    """The answer to a review request."""

    review_id: str | None
    action: str
    outcome: Outcome
    reason: str  # reviewed | timeout | automatic | no_reviewers | unreachable
    args: dict[str, Any]
    args_hash: str
    edited: bool = False
    by: tuple[str, ...] = ()
    comment: str | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def approved(self) -> bool:
        return self.outcome == "approve"

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return (now or datetime.now(UTC)) >= self.expires_at

    def raise_unless_approved(self) -> None:
        if self.outcome == "halt":
            raise ReviewHalted(self)
        if not self.approved:
            raise ReviewDenied(self)


def args_hash(action: str, args: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of action and arguments, as the server computes it."""
    text = json.dumps(
        {"action": action, "args": dict(args)},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def decision_from(review: Mapping[str, Any], action: str) -> Decision:
    """The decision of a decided review record, checked against what was asked."""
    found = review.get("decision")
    if not isinstance(found, Mapping):
        raise UntrustedDecision(f"review {review.get('id')} carries no decision")
    if found.get("action") != action:
        raise UntrustedDecision(f"decision is for {found.get('action')!r}, not {action!r}")
    args = dict(found.get("args") or {})
    if args_hash(action, args) != found.get("args_hash"):
        raise UntrustedDecision("decision arguments do not match their hash")
    expires = found.get("expires_at")
    decision = Decision(
        review_id=str(review.get("id")),
        action=action,
        outcome=found["outcome"],
        reason=found["reason"],
        args=args,
        args_hash=found["args_hash"],
        edited=bool(found.get("edited")),
        by=tuple(found.get("by") or ()),
        comment=found.get("comment"),
        decided_at=_time(found.get("decided_at")),
        expires_at=_time(expires),
        raw=dict(review),
    )
    if decision.approved and decision.expired():
        raise UntrustedDecision(f"approval of review {decision.review_id} expired at {expires}")
    return decision


def unreachable(
    action: str, args: Mapping[str, Any], on_unreachable: Outcome, error: str
) -> Decision:
    """The decision the client makes on its own when the server cannot answer."""
    return Decision(
        review_id=None,
        action=action,
        outcome=on_unreachable,
        reason="unreachable",
        args=dict(args),
        args_hash=args_hash(action, args),
        comment=error,
    )


def bind_arguments(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> inspect.BoundArguments:
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def review_args(bound: inspect.BoundArguments, exclude: frozenset[str]) -> dict[str, Any]:
    """The call's arguments as the reviewer will see them (JSON-safe values only)."""
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if name in exclude or name in {"self", "cls"}:
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"argument {name!r} is not JSON and cannot be shown to a reviewer; "
                "pass it in exclude=... or convert it"
            ) from exc
        out[name] = value
    return out


def with_edits(bound: inspect.BoundArguments, decision: Decision) -> inspect.BoundArguments:
    """The call as approved: a reviewer's edited arguments replace the originals."""
    for name, value in decision.args.items():
        if name in bound.arguments:
            bound.arguments[name] = value
    return bound


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
