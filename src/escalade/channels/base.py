"""What every channel implements, and the results it can report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Message:
    delivery_id: str  # the idempotency key; receivers de-duplicate on it
    attempt: int
    incident_id: str
    channel: str
    person: str | None
    person_name: str | None
    address: str | None  # e.g. the person's email, where the channel needs one
    target: str
    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    ack_url: str | None = None  # a signed, expiring acknowledge link (docs/channels.md)


@dataclass(frozen=True, slots=True)
class Sent:
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Retry:
    """A failure worth trying again (timeout, 5xx, 429...)."""

    error: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """A failure that trying again will not fix (4xx, misconfiguration)."""

    error: str


Result = Sent | Retry | Failed


class Sender(Protocol):
    def send(self, message: Message) -> Result: ...

    def close(self) -> None: ...
