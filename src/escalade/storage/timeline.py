"""The incident timeline: an append-only log of everything that happened.

Each incident's entries form a hash chain (domain/audit_chain.py). Appending locks the
chain's head row first, so two writers to one incident queue up instead of
forking the chain; on SQLite the write transaction (BEGIN IMMEDIATE) already
serialises them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select

from escalade.domain.audit_chain import GENESIS, Break, Entry, Head, entry_hash, verify_chain
from escalade.domain.effects import Record
from escalade.storage._upsert import insert_rows, update_rows
from escalade.storage.schema import audit_heads, timeline


def append(conn: Connection, records: Sequence[Record], *, started: Collection[str] = ()) -> None:
    """Chain and insert records. `started` names chains this transaction begins
    (incidents it creates): they have no head to lock, so no look-up is made."""
    if not records:
        return
    locked = sorted({r.incident_id for r in records}.difference(started))
    heads = _lock_heads(conn, locked) if locked else {}
    existing = set(heads)
    rows = []
    for r in records:
        seq, prev = heads.get(r.incident_id, (0, GENESIS))
        seq += 1
        digest = entry_hash(
            prev,
            incident_id=r.incident_id,
            seq=seq,
            at=r.at,
            kind=r.kind,
            actor=r.actor,
            data=r.data,
        )
        rows.append(
            {
                "incident_id": r.incident_id,
                "at": r.at,
                "kind": r.kind,
                "actor": r.actor,
                "data": r.data,
                "seq": seq,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        heads[r.incident_id] = (seq, digest)
    moved = [{"b_key": i, "seq": s, "hash": h} for i, (s, h) in heads.items() if i in existing]
    insert_rows(conn, timeline, rows)
    # The heads are locked above, so each update finds its row: inside a
    # pipelined transaction nothing waits for the count.
    update_rows(conn, audit_heads, moved, match=_HEAD, answer_unread=True)
    # A chain without a head is one this transaction starts (an incident or review
    # it creates, invisible to other writers until commit). Should another writer
    # start the same chain anyway, the primary key fails one of them: no fork.
    new_heads = [
        {"incident_id": i, "seq": s, "hash": h} for i, (s, h) in heads.items() if i not in existing
    ]
    insert_rows(conn, audit_heads, new_heads)


_HEAD = {"incident_id": "b_key"}


# Built once (each append uses it; building one costs up to 100 µs).
_LOCK_HEADS = (
    select(audit_heads.c.incident_id, audit_heads.c.seq, audit_heads.c.hash)
    .where(audit_heads.c.incident_id.in_(bindparam("ids", expanding=True)))
    .order_by(audit_heads.c.incident_id)
    .with_for_update()
)


def _lock_heads(conn: Connection, incident_ids: list[str]) -> dict[str, tuple[int, str]]:
    """The existing heads of these chains, locked until commit (in one fixed order,
    so two writers never deadlock)."""
    rows = conn.execute(_LOCK_HEADS, {"ids": incident_ids})
    return {r.incident_id: (r.seq, r.hash) for r in rows}


def for_incident(conn: Connection, incident_id: str) -> list[dict[str, Any]]:
    return for_incidents(conn, [incident_id]).get(incident_id, [])


def recent(conn: Connection, *, limit: int, before: int | None = None) -> list[dict[str, Any]]:
    """The whole log, newest first, across incidents and reviews; page with `before` (an id)."""
    query = select(timeline).order_by(timeline.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(timeline.c.id < before)
    return [_entry(r) | {"incident_id": r.incident_id} for r in conn.execute(query)]


def _entry(r: Any) -> dict[str, Any]:
    return {"id": r.id, "at": r.at.isoformat(), "kind": r.kind, "actor": r.actor, "data": r.data}


def for_incidents(conn: Connection, incident_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The timelines of several incidents in one query, each oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not incident_ids:
        return found
    rows = conn.execute(
        select(timeline)
        .where(timeline.c.incident_id.in_(list(incident_ids)))
        .order_by(timeline.c.id)
    )
    for r in rows:
        found.setdefault(r.incident_id, []).append(_entry(r))
    return found


def last_of(conn: Connection, incident_id: str, kinds: Sequence[str]) -> dict[str, Any] | None:
    """The newest entry of these kinds on an incident's timeline, or None."""
    row = conn.execute(
        select(timeline.c.kind, timeline.c.data)
        .where(timeline.c.incident_id == incident_id)
        .where(timeline.c.kind.in_(list(kinds)))
        .order_by(timeline.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else {"kind": row.kind, "data": row.data}


def verify(
    conn: Connection, chain_ids: Collection[str] | None = None
) -> tuple[int, int, list[Break]]:
    """Check every chain (or these): (chains checked, entries checked, breaks)."""
    if isinstance(chain_ids, str):
        raise TypeError("chain_ids is a collection of ids, not one id")
    heads_query = select(audit_heads)
    entries_query = select(timeline).order_by(timeline.c.incident_id, timeline.c.id)
    if chain_ids is not None:
        wanted = sorted(chain_ids)
        heads_query = heads_query.where(audit_heads.c.incident_id.in_(wanted))
        entries_query = entries_query.where(timeline.c.incident_id.in_(wanted))
    heads = {r.incident_id: Head(r.incident_id, r.seq, r.hash) for r in conn.execute(heads_query)}
    chains = entries = 0
    breaks: list[Break] = []
    seen: set[str] = set()
    for chain_id, chain in _chains(conn.execute(entries_query).yield_per(1000)):
        seen.add(chain_id)
        chains += 1
        entries += len(chain)
        breaks += verify_chain(chain_id, chain, heads.get(chain_id))
    for chain_id in sorted(set(heads) - seen):
        chains += 1
        breaks += verify_chain(chain_id, [], heads[chain_id])
    return chains, entries, breaks


def verify_report(conn: Connection, chain_ids: Collection[str] | None = None) -> dict[str, Any]:
    """`verify` as JSON: ok, chains, entries, and each break."""
    chains, entries, breaks = verify(conn, chain_ids)
    return {
        "ok": not breaks,
        "chains": chains,
        "entries": entries,
        "breaks": [b.as_dict() for b in breaks],
    }


def _chains(rows: Any) -> Iterator[tuple[str, list[Entry]]]:
    current: str | None = None
    chain: list[Entry] = []
    for r in rows:
        if r.incident_id != current:
            if current is not None:
                yield current, chain
            current, chain = r.incident_id, []
        chain.append(
            Entry(r.id, r.incident_id, r.seq, r.at, r.kind, r.actor, r.data, r.prev_hash, r.hash)
        )
    if current is not None:
        yield current, chain
