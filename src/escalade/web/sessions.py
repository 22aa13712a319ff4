"""Dashboard sessions: a signed cookie that holds a token id, never a token.

The cookie is `base64url(json) "." base64url(hmac_sha256(key, json))`. It carries
the token id (so revoking the token ends the session on the next request), the
person the user acts as, a CSRF token, and an expiry. No I/O here; time is an
argument.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

COOKIE = "escalade_session"
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Session:
    token_id: str
    acting_as: str  # the person (or token name) whose name goes on the timeline
    csrf: str
    expires: float  # POSIX seconds

    @classmethod
    def start(cls, token_id: str, acting_as: str, now: datetime) -> Session:
        return cls(token_id, acting_as, secrets.token_urlsafe(32), (now + LIFETIME).timestamp())

    def csrf_ok(self, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(submitted.encode(), self.csrf.encode())


def seal(session: Session, key: bytes) -> str:
    payload = json.dumps(asdict(session), separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def unseal(cookie: str | None, key: bytes, now: datetime) -> Session | None:
    """The session in a cookie, or None when missing, forged, malformed or expired."""
    if not cookie or "." not in cookie:
        return None
    body, _, mac = cookie.partition(".")
    try:
        payload = _unb64(body)
        given = _unb64(mac)
    except ValueError:
        return None
    if not hmac.compare_digest(given, hmac.new(key, payload, hashlib.sha256).digest()):
        return None
    try:
        session = Session(**json.loads(payload))
    except (TypeError, ValueError):
        return None
    return session if session.expires > now.timestamp() else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
