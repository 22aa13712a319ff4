"""Acknowledge links for messages, signed with ESCALADE_SECRET_KEY under ESCALADE_PUBLIC_URL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from escalade.domain import ack_links
from escalade.domain.ack_links import AckGrant


class AckLinksOff(LookupError):
    """This server signs no acknowledge links (ESCALADE_SECRET_KEY is not set)."""


@dataclass(frozen=True, slots=True)
class AckLinks:
    secret: str
    public_url: str
    ttl: timedelta

    def url(self, incident_id: str, person: str | None, now: datetime) -> str:
        token = ack_links.issue(self.secret, incident_id, person, now, self.ttl)
        return f"{self.public_url.rstrip('/')}/v1/ack/{token}"

    def grant(self, token: str, now: datetime) -> AckGrant:
        """What the token allows; BadAckToken / ExpiredAckToken otherwise."""
        return ack_links.check(self.secret, token, now)

    def feedback_url(
        self, incident_id: str, person: str | None, now: datetime, ttl: timedelta
    ) -> str:
        """A link that lets `person` rate the response to `incident_id`, and nothing else."""
        token = ack_links.issue(self.secret, incident_id, person, now, ttl, purpose="feedback")
        return f"{self.public_url.rstrip('/')}/v1/feedback/{token}"

    def feedback_grant(self, token: str, now: datetime) -> AckGrant:
        return ack_links.check(self.secret, token, now, purpose="feedback")


def configured(secret: str | None, public_url: str | None, ttl: timedelta) -> AckLinks | None:
    """Links need both the key that signs them and the address they point to."""
    if not secret or not public_url:
        return None
    return AckLinks(secret, public_url, ttl)
