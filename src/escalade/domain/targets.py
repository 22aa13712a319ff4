"""Who or where a notification goes: ``"person:alice"``, ``"team:legal"``, ``"role:lead"``...

Parsing only checks the shape. Whether the id exists is a question for the whole
policy, answered by :meth:`escalade.domain.policy.Policy.reference_problems`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

__all__ = ["Target", "TargetField", "TargetKind", "parse_target"]


class TargetKind(StrEnum):
    """The kinds of thing a target can name."""

    PERSON = "person"
    TEAM = "team"
    SCHEDULE = "schedule"
    ROLE = "role"  # resolved per incident to whoever holds the role
    CHANNEL = "channel"  # a broadcast destination, not a person


_KINDS = tuple(kind.value for kind in TargetKind)
_KIND_LIST = ", ".join(_KINDS)


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed ``kind:id`` reference."""

    kind: TargetKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


def parse_target(text: str) -> Target:
    """Read ``"kind:id"``; the error names the valid kinds and the closest one."""
    if not isinstance(text, str):
        raise ValueError(f"expected a target like 'person:alice' ({_KIND_LIST}), found {text!r}")
    kind_text, colon, ident = text.strip().partition(":")
    if not colon:
        raise ValueError(
            f"expected a target like 'person:alice' or 'team:{text.strip() or 'oncall'}', "
            f"found {text!r}; the part before ':' is one of {_KIND_LIST}"
        )
    if kind_text not in _KINDS:
        close = difflib.get_close_matches(kind_text.lower(), _KINDS, n=1)
        hint = f"; did you mean '{close[0]}:{ident}'?" if close else ""
        raise ValueError(
            f"unknown target kind '{kind_text}' in {text!r}; expected one of {_KIND_LIST}{hint}"
        )
    if not ident or any(ch.isspace() for ch in ident):
        raise ValueError(
            f"the id after '{kind_text}:' must be a name without spaces, found {text!r}"
        )
    return Target(TargetKind(kind_text), ident)


def _to_target(value: object) -> Target:
    if isinstance(value, Target):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a target like 'person:alice' ({_KIND_LIST})")
    return parse_target(value)


TargetField = Annotated[
    Target,
    PlainValidator(_to_target),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": rf"^({'|'.join(_KINDS)}):\S+$"}),
]
"""A policy field holding a :class:`Target`; accepts ``"kind:id"`` or a Target."""
