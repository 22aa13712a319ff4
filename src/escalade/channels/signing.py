"""The webhook signature scheme, shared by outgoing webhooks and review callbacks.

    X-Escalade-Delivery:  the delivery id (idempotency key)
    X-Escalade-Timestamp: unix seconds when the request was signed
    X-Escalade-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A receiver recomputes the HMAC over the raw body, compares in constant time,
and rejects timestamps older than its tolerance (five minutes is usual) to stop
replays. Several `v1=` values separated by commas may appear during rotation.
"""

from __future__ import annotations

import hashlib
import hmac

DELIVERY_HEADER = "X-Escalade-Delivery"
TIMESTAMP_HEADER = "X-Escalade-Timestamp"
SIGNATURE_HEADER = "X-Escalade-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: float = 300
) -> bool:
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))
