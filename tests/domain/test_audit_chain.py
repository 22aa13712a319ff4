"""The audit chain in plain values: any edit, deletion or reordering breaks it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from escalade.domain.audit_chain import GENESIS, Entry, Head, entry_hash, verify_chain

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def chain(n: int = 4) -> tuple[list[Entry], Head]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        at, data = T0 + timedelta(seconds=seq), {"n": seq, "nested": {"b": [1, 2.5]}}
        digest = entry_hash(
            prev, incident_id="inc", seq=seq, at=at, kind="k", actor="amy", data=data
        )
        entries.append(Entry(seq * 10, "inc", seq, at, "k", "amy", data, prev, digest))
        prev = digest
    return entries, Head("inc", n, prev)


def test_an_untouched_chain_verifies() -> None:
    entries, head = chain()
    assert verify_chain("inc", entries, head) == []


def test_an_edited_entry_is_found() -> None:
    entries, head = chain()
    entries[1] = replace(entries[1], data={"n": 99, "nested": {"b": [1, 2.5]}})
    (found,) = verify_chain("inc", entries, head)
    assert found.seq == 2 and "edited" in found.problem


def test_an_edited_actor_or_time_is_found() -> None:
    for change in ({"actor": "mallory"}, {"at": T0}, {"kind": "other"}):
        entries, head = chain()
        entries[2] = replace(entries[2], **change)  # type: ignore[arg-type]
        assert verify_chain("inc", entries, head)[0].seq == 3


def test_a_deleted_middle_entry_is_found() -> None:
    entries, head = chain()
    del entries[1]
    (found,) = verify_chain("inc", entries, head)
    assert found.seq == 3 and "expected seq 2" in found.problem


def test_a_deleted_tail_is_found_through_the_head() -> None:
    entries, head = chain()
    (found,) = verify_chain("inc", entries[:-1], head)
    assert "tail deleted" in found.problem


def test_reordered_entries_are_found() -> None:
    entries, head = chain()
    entries[1], entries[2] = entries[2], entries[1]
    (found,) = verify_chain("inc", entries, head)
    assert "expected seq 2, found 3" in found.problem


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries, head = chain()
    e = entries[1]
    forged = entry_hash(
        e.prev_hash, incident_id="inc", seq=2, at=e.at, kind="k", actor="amy", data={"n": 0}
    )
    entries[1] = replace(e, data={"n": 0}, hash=forged)
    (found,) = verify_chain("inc", entries, head)
    assert found.seq == 3 and "prev_hash" in found.problem


def test_a_missing_head_is_reported_and_an_empty_chain_with_head_zero_is_fine() -> None:
    entries, _ = chain()
    assert "head is missing" in verify_chain("inc", entries, None)[0].problem
    assert verify_chain("inc", [], Head("inc", 0, GENESIS)) == []


def test_integral_floats_hash_like_the_ints_jsonb_gives_back() -> None:
    a = entry_hash(GENESIS, incident_id="i", seq=1, at=T0, kind="k", actor=None, data={"v": 1e20})
    b = entry_hash(GENESIS, incident_id="i", seq=1, at=T0, kind="k", actor=None, data={"v": 10**20})
    assert a == b
