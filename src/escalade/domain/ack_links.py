"""Signed, expiring acknowledge links: the token is the credential.

A token names one incident, the person it was sent to, and when it stops working;
it is good for acknowledging and nothing else. Pure: the time is an argument.

    token = base64url(json payload) "." base64url(HMAC-SHA256(key, "ack.v1." + payload))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

PURPOSE = "ack"
_DOMAIN = b"escalade.ack.v1."


@dataclass(frozen=True, slots=True)
class AckGrant:
    incident_id: str
    person: str | None
    expires_at: datetime


class BadAckToken(ValueError):
    """The token is malformed, forged, or for another purpose."""


class ExpiredAckToken(ValueError):
    """The token was genuine but its time is up."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, payload: str) -> bytes:
    return hmac.new(key.encode(), _DOMAIN + payload.encode(), hashlib.sha256).digest()


_NAMES = {PURPOSE: "acknowledge", "feedback": "feedback"}


def issue(
    key: str,
    incident_id: str,
    person: str | None,
    now: datetime,
    ttl: timedelta,
    purpose: str = PURPOSE,
) -> str:
    """A token that acknowledges `incident_id` as `person` until `now + ttl` (or, with
    another `purpose`, does that one thing: `feedback` rates the response)."""
    expires = int((now + ttl).timestamp())
    body = {"u": purpose, "i": incident_id, "p": person, "x": expires}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_mac(key, payload))}"


def check(key: str, token: str, now: datetime, purpose: str = PURPOSE) -> AckGrant:
    """The grant a token carries for `purpose`; BadAckToken or ExpiredAckToken otherwise."""
    name = _NAMES.get(purpose, purpose)
    invalid = f"the link is not a valid {name} link"
    payload, _, signature = token.partition(".")
    try:
        given = _unb64(signature)
        body = json.loads(_unb64(payload))
    except (binascii.Error, ValueError) as exc:
        raise BadAckToken(invalid) from exc
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise BadAckToken(invalid)
    if not isinstance(body, dict) or body.get("u") != purpose:
        article = "an" if name[0] in "aeiou" else "a"
        raise BadAckToken(f"the link is not {article} {name} link")
    incident_id, person, expires = body.get("i"), body.get("p"), body.get("x")
    if not isinstance(incident_id, str) or not isinstance(expires, int):
        raise BadAckToken(invalid)
    if person is not None and not isinstance(person, str):
        raise BadAckToken(invalid)
    expires_at = datetime.fromtimestamp(expires, tz=now.tzinfo)
    if now >= expires_at:
        raise ExpiredAckToken(f"the {name} link has expired")
    return AckGrant(incident_id, person, expires_at)
