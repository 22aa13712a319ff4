"""The Python SDK for systems that talk to Escalade: signals, incidents, human review.

Importable without the server's dependencies: it needs only httpx.

    from escalade.sdk import EscaladeClient
    client = EscaladeClient("https://escalade.example", token="...")

    @client.require_approval(action="issue_refund", risk=0.7)
    def issue_refund(order: str, amount: int) -> None: ...

See docs/reviews.md.
"""

from escalade.sdk.aio import AsyncEscaladeClient
from escalade.sdk.client import EscaladeClient
from escalade.sdk.reviews import (
    Decision,
    EscaladeError,
    ReviewDenied,
    ReviewHalted,
    ServerUnavailable,
    UntrustedDecision,
    args_hash,
)
from escalade.sdk.signature import verify_signature

__all__ = [
    "AsyncEscaladeClient",
    "Decision",
    "EscaladeClient",
    "EscaladeError",
    "ReviewDenied",
    "ReviewHalted",
    "ServerUnavailable",
    "UntrustedDecision",
    "args_hash",
    "verify_signature",
]
