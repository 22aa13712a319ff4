"""How a refused command reads to a person: an HTTP status, a code and the message.

The API and the dashboard both answer from this table, so a refusal means the
same thing in JSON and on a page.
"""

from __future__ import annotations

from dataclasses import dataclass

from escalade.domain.command import CommandRefused
from escalade.domain.decisions import DecisionRefused
from escalade.domain.escalation import CannotEscalate
from escalade.domain.incidents import IllegalTransition
from escalade.domain.reviews import ReviewRefused
from escalade.engine.commands import IncidentNotFound
from escalade.engine.reviews import ReviewNotFound

# Refusals a person could fix by being someone else are 403; the rest are conflicts.
_COMMAND_STATUS = {
    "item_closed": 409,
    "item_open": 409,
    "message_sent": 409,
    "not_approved": 409,
    "already_approved": 409,
    "not_an_approver": 403,
    "no_such_message": 404,
    "no_such_item": 404,
    "open_action_items": 409,
    "review_closed": 409,
    "review_incomplete": 409,
}
_DECISION_FORBIDDEN = {"not_an_approver", "requester_cannot_approve"}
_REVIEW_STATUS = {
    "not_a_reviewer": 403,
    "already_decided": 409,
    "already_answered": 409,
    "edit_needs_approval": 422,
}

# What a command may raise that is the caller's to fix, not a server fault.
REFUSALS = (
    PermissionError,
    IncidentNotFound,
    ReviewNotFound,
    DecisionRefused,
    CommandRefused,
    ReviewRefused,
    IllegalTransition,
    CannotEscalate,
    LookupError,
)


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    error: str
    message: str


def refusal(exc: Exception) -> Refusal:
    """The status and code for one of `REFUSALS`."""
    message = str(exc)
    if isinstance(exc, PermissionError):
        return Refusal(403, "forbidden", message)
    if isinstance(exc, IncidentNotFound | ReviewNotFound):
        return Refusal(404, "not_found", message)
    if isinstance(exc, DecisionRefused):
        return Refusal(403 if exc.reason in _DECISION_FORBIDDEN else 409, exc.reason, message)
    if isinstance(exc, CommandRefused):
        return Refusal(_COMMAND_STATUS.get(exc.reason, 422), exc.reason, message)
    if isinstance(exc, ReviewRefused):
        return Refusal(_REVIEW_STATUS.get(exc.reason, 409), exc.reason, message)
    return Refusal(409, "conflict", message)
