"""Identifiers that sort by creation time (ULID layout: 48-bit ms time, 80 random bits)."""

from __future__ import annotations

import os
import secrets
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
# Every 10-bit value as its two characters: 13 look-ups spell an id, twice as
# fast as 26 shifts in a loop (ingest makes an id per signal).
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def new_id(prefix: str, now: datetime) -> str:
    v = (int(now.timestamp() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    p = _PAIRS
    return (
        f"{prefix}_{p[v >> 120]}{p[(v >> 110) & 1023]}{p[(v >> 100) & 1023]}"
        f"{p[(v >> 90) & 1023]}{p[(v >> 80) & 1023]}{p[(v >> 70) & 1023]}"
        f"{p[(v >> 60) & 1023]}{p[(v >> 50) & 1023]}{p[(v >> 40) & 1023]}"
        f"{p[(v >> 30) & 1023]}{p[(v >> 20) & 1023]}{p[(v >> 10) & 1023]}{p[v & 1023]}"
    )


def new_token() -> str:
    return "esk_" + secrets.token_urlsafe(32)
