"""The API's requests as data, shared by the sync and the async client.

Each function builds one :class:`Call` (method, path, query, body, and which part
of the answer to return) and does no I/O; `EscaladeClient` sends it with httpx's
`Client`, `AsyncEscaladeClient` with its `AsyncClient`, so the two cannot drift.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    field: str | None = None  # return this key of the answer, not the whole answer
    headers: dict[str, str] | None = None

    def result(self, answer: Any) -> Any:
        return answer if self.field is None else answer[self.field]


# --- signals and incidents --------------------------------------------------------
def send_signals(signals: tuple[dict[str, Any], ...], queued: bool = False) -> Call:
    """`queued`: answered once durable, routed right after (`Prefer: respond-async`)."""
    payload = signals[0] if len(signals) == 1 else {"signals": list(signals)}
    headers = {"Prefer": "respond-async"} if queued else None
    return Call("POST", "/v1/signals", json=payload, headers=headers)


def incidents(filters: Mapping[str, Any]) -> Call:
    params = {k: v for k, v in filters.items() if v is not None}
    return Call("GET", "/v1/incidents", params=params, field="incidents")


def incident(incident_id: str) -> Call:
    return Call("GET", f"/v1/incidents/{incident_id}")


def act(incident_id: str, verb: str, by: str | None, note: str | None) -> Call:
    body = {k: v for k, v in {"by": by, "note": note}.items() if v}
    return Call("POST", f"/v1/incidents/{incident_id}/{verb}", json=body or None)


def export_incident(incident_id: str) -> Call:
    return Call("GET", f"/v1/incidents/{incident_id}/export")


def feedback(incident_id: str, rating: int, comment: str | None, by: str | None) -> Call:
    body: dict[str, Any] = {"rating": rating}
    body.update({k: v for k, v in (("comment", comment), ("by", by)) if v is not None})
    return Call("POST", f"/v1/incidents/{incident_id}/feedback", json=body)


def policy_versions(limit: int) -> Call:
    return Call("GET", "/v1/policy/versions", params={"limit": limit}, field="versions")


def policy_version(ref: str) -> Call:
    return Call("GET", f"/v1/policy/versions/{ref}")


def start_exercise(name: str, signal: Mapping[str, Any]) -> Call:
    return Call("POST", "/v1/exercises", json={"name": name, "signal": dict(signal)})


def exercises(limit: int) -> Call:
    return Call("GET", "/v1/exercises", params={"limit": limit}, field="exercises")


def exercise_report(incident_id: str) -> Call:
    return Call("GET", f"/v1/exercises/{incident_id}/report")


def health() -> Call:
    return Call("GET", "/healthz")


# --- human review ----------------------------------------------------------------
def review_body(
    action: str,
    args: Mapping[str, Any] | None,
    *,
    risk: float | None,
    subject: Mapping[str, str] | None,
    context: Mapping[str, Any] | None,
    summary: str | None,
    idempotency_key: str | None,
    callback_url: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action,
        "args": dict(args or {}),
        # A key of our own, so retrying after a lost answer never asks twice.
        "idempotency_key": idempotency_key or f"sdk-{uuid.uuid4()}",
    }
    optional = {
        "risk": risk,
        "subject": dict(subject) if subject else None,
        "context": dict(context) if context else None,
        "summary": summary,
        "callback_url": callback_url,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def review_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    names = ("risk", "subject", "context", "summary", "idempotency_key", "callback_url")
    unknown = set(fields) - set(names)
    if unknown:
        raise TypeError(f"unknown review fields: {', '.join(sorted(unknown))}")
    return {name: fields.get(name) for name in names}


def request_review(action: str, args: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> Call:
    body = review_body(action, args, **review_fields(fields))
    return Call("POST", "/v1/reviews", json=body, field="review")


def get_review(review_id: str, wait: float) -> Call:
    params = {"wait": f"{wait:g}"} if wait else None
    return Call("GET", f"/v1/reviews/{review_id}", params=params, field="review")


def reviews(status: str | None, limit: int) -> Call:
    params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
    return Call("GET", "/v1/reviews", params=params, field="reviews")


def decision_body(
    approve: bool, *, args: Mapping[str, Any] | None, comment: str | None, by: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"decision": "approve" if approve else "reject"}
    optional = {"args": dict(args) if args is not None else None, "comment": comment, "by": by}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def decide(
    review_id: str,
    approve: bool,
    *,
    args: Mapping[str, Any] | None,
    comment: str | None,
    by: str | None,
) -> Call:
    body = decision_body(approve, args=args, comment=comment, by=by)
    return Call("POST", f"/v1/reviews/{review_id}/decision", json=body, field="review")
