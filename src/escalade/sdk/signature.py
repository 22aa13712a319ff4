"""Verifying Escalade's signed requests (webhooks and review callbacks).

    X-Escalade-Delivery:  the delivery id (idempotency key)
    X-Escalade-Timestamp: unix seconds when the request was signed
    X-Escalade-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

Recompute the HMAC over the raw body (before any JSON parsing), compare in constant
time, and refuse old timestamps to stop replays. Several ``v1=`` values separated by
commas may appear while a secret is being rotated. The server signs with the same
functions, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

DELIVERY_HEADER = "X-Escalade-Delivery"
TIMESTAMP_HEADER = "X-Escalade-Timestamp"
SIGNATURE_HEADER = "X-Escalade-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Escalade-Signature`` value for ``body`` signed at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: float = 300
) -> bool:
    """True when ``signature`` is ``body``'s at ``timestamp`` and that is within ``tolerance``."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


def verify_signature(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> bool:
    """Check a request from Escalade given its raw body and its headers.

    Header names are matched case-insensitively, so a framework's header mapping
    (Flask, Django, Starlette, http.server) can be passed as it is.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower())
    signature = lower.get(SIGNATURE_HEADER.lower())
    if not timestamp or not signature:
        return False
    at = time.time() if now is None else now
    return verify(secret, timestamp, body, signature, now=at, tolerance=tolerance)
