"""Signals: what AI systems, monitors and people report.

`SignalIn` is the wire shape, validated at the edge (API, CLI, drills); `Signal`
is the accepted, immutable record the core routes. Validation rejects unknown
fields so that a typo (`lables`) never silently drops data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

_NAME = r"^[A-Za-z0-9_.:/@+-]+$"


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    href: str = Field(min_length=1, max_length=2048)
    text: str | None = Field(default=None, max_length=500)


class SignalIn(BaseModel):
    """One signal as it arrives over the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(default=None, min_length=1, max_length=200, pattern=_NAME)
    kind: str = Field(min_length=1, max_length=100, pattern=_NAME)
    source: str | None = Field(default=None, max_length=500)
    subject: dict[str, str] = Field(default_factory=dict, max_length=32)
    summary: str | None = Field(default=None, max_length=1024)
    value: float | None = None
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    occurred_at: AwareDatetime | None = None
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    details: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list, max_length=20)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


@dataclass(frozen=True, slots=True)
class Signal:
    """An accepted signal: the wire fields plus the id and time of receipt."""

    id: str
    kind: str
    received_at: datetime
    source: str | None = None
    subject: dict[str, str] = field(default_factory=dict)
    summary: str | None = None
    value: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    occurred_at: datetime | None = None
    dedup_key: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    links: tuple[dict[str, str], ...] = ()
    exercise: str | None = None  # the live drill this signal belongs to (docs/drills.md)
    # Its id was generated on arrival (no `id` on the wire), so it cannot be a
    # re-post and needs no look-up; any other id might have been seen before.
    fresh: bool = field(default=False, compare=False)

    @classmethod
    def accept(cls, wire: SignalIn, *, signal_id: str, received_at: datetime) -> Signal:
        # Positional, in field order: ingest makes one per signal, and keywords
        # cost a third more than the frozen dataclass's own setting of fields.
        return cls(
            wire.id or signal_id,
            wire.kind,
            received_at,
            wire.source,
            dict(wire.subject),
            wire.summary,
            wire.value,
            dict(wire.labels),
            wire.occurred_at,
            wire.dedup_key,
            dict(wire.details),
            tuple(link.model_dump(exclude_none=True) for link in wire.links) if wire.links else (),
            None,
            wire.id is None,
        )

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Signal:
        """The inverse of `to_record`; an inbox record may add `fresh` (see there).
        The record's dicts become the signal's, not copies: a record is read for
        this and no one changes either. Positional, like `accept` (the router
        makes one per queued signal)."""
        occurred = record.get("occurred_at")
        return cls(
            record["id"],
            record["kind"],
            datetime.fromisoformat(record["received_at"]),
            record.get("source"),
            record.get("subject") or {},
            record.get("summary"),
            record.get("value"),
            record.get("labels") or {},
            datetime.fromisoformat(occurred) if occurred else None,
            record.get("dedup_key"),
            record.get("details") or {},
            tuple(record.get("links") or ()),
            record.get("exercise"),
            record.get("fresh", False),
        )

    @property
    def title(self) -> str:
        if self.summary:
            return self.summary
        about = self.subject.get("model") or self.subject.get("system")
        return f"{self.kind} on {about}" if about else self.kind

    def as_expression_input(self) -> dict[str, Any]:
        """The `signal` variable that CEL expressions see.

        CEL does not coerce int and double, so the value is always a double, and
        absent optional fields are present with neutral values so that
        `signal.value > 0.1` does not fail on a signal without a value.
        """
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source or "",
            "subject": self.subject,
            "summary": self.summary or "",
            "value": float(self.value) if self.value is not None else 0.0,
            "has_value": self.value is not None,
            "labels": self.labels,
            "details": self.details,
        }

    def to_record(self) -> dict[str, Any]:
        """The JSON form stored and shown by the API."""
        record = _stored_form(
            self.id,
            self.kind,
            self.source,
            self.subject,
            self.summary,
            self.value,
            self.labels,
            self.occurred_at,
            self.received_at.isoformat(),
            self.dedup_key,
            self.details,
            list(self.links),
        )
        if self.exercise:
            record["exercise"] = self.exercise
        return record

    def field_value(self, path: str) -> str | None:
        """Value of a dotted path such as `subject.model` or `labels.segment`."""
        root, _, rest = path.partition(".")
        if root == "kind":
            return self.kind
        if root == "source":
            return self.source
        if root == "subject":
            return self.subject.get(rest)
        if root == "labels":
            return self.labels.get(rest)
        return None


def wire_record(wire: SignalIn, signal_id: str, received_at: str) -> dict[str, Any]:
    """`Signal.accept(wire, ...).to_record()` without the `Signal` in between:
    the stored form of a signal accepted from the wire, for the inbox, which
    keeps records and never needs the object. `received_at` is already in ISO
    form, as it is the same for a whole batch. Ingest makes one per queued
    signal, and this costs a third of making both (`docs/benchmarks.md`);
    a test holds the two to the same result."""
    return _stored_form(
        wire.id or signal_id,
        wire.kind,
        wire.source,
        wire.subject,
        wire.summary,
        wire.value,
        wire.labels,
        wire.occurred_at,
        received_at,
        wire.dedup_key,
        wire.details,
        [link.model_dump(exclude_none=True) for link in wire.links],
    )


def _stored_form(
    signal_id: str,
    kind: str,
    source: str | None,
    subject: dict[str, str],
    summary: str | None,
    value: float | None,
    labels: dict[str, str],
    occurred_at: datetime | None,
    received_at: str,
    dedup_key: str | None,
    details: dict[str, Any],
    links: list[dict[str, str]],
) -> dict[str, Any]:
    """A signal's JSON form, stored and shown by the API: its one definition,
    for `Signal.to_record` and `wire_record` alike."""
    return {
        "id": signal_id,
        "kind": kind,
        "source": source,
        "subject": subject,
        "summary": summary,
        "value": value,
        "labels": labels,
        "occurred_at": occurred_at.isoformat() if occurred_at else None,
        "received_at": received_at,
        "dedup_key": dedup_key,
        "details": details,
        "links": links,
    }
