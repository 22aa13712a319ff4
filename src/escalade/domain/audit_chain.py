"""The tamper-evident audit chain over timeline entries (pure: no I/O).

Every entry of one incident's timeline carries `seq` (1, 2, 3, ...), the hash of
the entry before it and its own hash: SHA-256 over the previous hash and a
canonical JSON of the entry. The last `seq` and hash of each chain are kept
apart (the head), so cutting entries off the end is noticed too. Changing,
deleting, inserting or reordering any entry breaks the chain from that point.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def _normal(value: Any) -> Any:
    """The value as it reads back from either database's JSON column.

    PostgreSQL's JSONB gives integral numbers back as ints (`1e20` -> `10**20`),
    so integral floats are hashed as ints on both sides.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value  # the common case first: concrete type checks are cheap, ABCs are not
    if kind is float:
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, float):
        return int(value) if value.is_integer() else float(value)
    return value


def entry_hash(
    prev_hash: str,
    *,
    incident_id: str,
    seq: int,
    at: datetime,
    kind: str,
    actor: str | None,
    data: Mapping[str, Any],
) -> str:
    body = {
        "incident_id": incident_id,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "kind": kind,
        "actor": actor,
        "data": _normal(data),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored timeline entry as the verifier sees it."""

    id: int
    incident_id: str
    seq: int
    at: datetime
    kind: str
    actor: str | None
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Head:
    incident_id: str
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Break:
    """One place where a chain does not hold."""

    incident_id: str
    seq: int | None
    entry_id: int | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "seq": self.seq,
            "entry_id": self.entry_id,
            "problem": self.problem,
        }


def verify_chain(incident_id: str, entries: Iterable[Entry], head: Head | None) -> list[Break]:
    """The breaks in one incident's chain; entries in storage (id) order.

    Reports the first break only: after it, every later link is suspect anyway.
    """
    prev = GENESIS
    expected = 1
    last: Entry | None = None
    for entry in entries:
        where = (incident_id, entry.seq, entry.id)
        if entry.seq != expected:
            gap = "missing or reordered" if entry.seq > expected else "reordered or repeated"
            return [Break(*where, f"expected seq {expected}, found {entry.seq} ({gap})")]
        if entry.prev_hash != prev:
            return [Break(*where, "prev_hash does not match the entry before (deleted entry?)")]
        recomputed = entry_hash(
            prev,
            incident_id=entry.incident_id,
            seq=entry.seq,
            at=entry.at,
            kind=entry.kind,
            actor=entry.actor,
            data=entry.data,
        )
        if recomputed != entry.hash:
            return [Break(*where, "content does not match its hash (edited entry)")]
        prev, expected, last = entry.hash, expected + 1, entry
    if head is None:
        if last is not None:
            return [Break(incident_id, None, None, "chain head is missing")]
        return []
    found, found_hash = (last.seq, last.hash) if last is not None else (0, GENESIS)
    if head.seq != found or head.hash != found_hash:
        return [
            Break(
                incident_id,
                head.seq,
                None,
                f"head says {head.seq} entries, chain ends at {found} (tail deleted?)",
            )
        ]
    return []
