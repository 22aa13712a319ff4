"""What an inbound payload asks for, whatever tool sent it.

Every translator turns its tool's JSON into a list of these actions; the engine
carries them out against the normal ingest path. Translators are pure: no I/O,
no clock, so each is tested with plain dictionaries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from escalade.domain.signals import SignalIn

KINDS = ("pagerduty", "alertmanager", "grafana", "evidently", "webhook")

_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_.:/@+-]+")


@dataclass(frozen=True, slots=True)
class Trigger:
    """A signal to ingest; its `dedup_key` (if any) is local to the integration."""

    signal: SignalIn


@dataclass(frozen=True, slots=True)
class Acknowledge:
    dedup_key: str


@dataclass(frozen=True, slots=True)
class Resolve:
    dedup_key: str


Action = Trigger | Acknowledge | Resolve


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidEvent(ValueError):
    """A payload the translator refuses; each error names the field at fault."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def fail(field: str, message: str) -> InvalidEvent:
    return InvalidEvent([FieldError(field, message)])


def slug(text: str, default: str) -> str:
    """`text` as a signal kind or id part: runs of other characters become `_`."""
    cleaned = _NOT_A_NAME.sub("_", text.strip()).strip("_")[:100]
    return cleaned or default


def text_map(value: object, field: str) -> dict[str, str]:
    """A JSON object of labels: every value as text, the object itself required."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(field, "expected an object")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def optional_str(data: Mapping[str, Any], key: str, field: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise fail(field, "expected a string")


def parse_time(value: object, field: str) -> datetime | None:
    """An RFC 3339 time; Go's zero time (`0001-01-01T00:00:00Z`) means none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise fail(field, "expected an ISO-8601 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(field, f"not an ISO-8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise fail(field, "the time needs a zone offset")
    return None if parsed.year == 1 else parsed


def build_signal(fields: dict[str, Any], prefix: str = "") -> SignalIn:
    """Validate translated fields as a signal, naming the source field on failure."""
    try:
        return SignalIn.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise fail(f"{prefix}{path}" if prefix else path, str(first["msg"])) from None


def subject_from(labels: Mapping[str, str]) -> dict[str, str]:
    """The AI subject (`system`, `model`, `version`) when the labels name it."""
    return {k: labels[k] for k in ("system", "model", "version") if labels.get(k)}
