"""People, teams, on-call schedules, and the channels messages go out through."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from escalade.domain.durations import Duration
from escalade.domain.policy_base import (
    CalendarDuration,
    LocalDateTime,
    PolicyModel,
    TimeZoneName,
)


class Person(PolicyModel):
    name: str
    email: str | None = None
    phone: str | None = None
    contacts: tuple[str, ...] = ()  # channel ids


class Team(PolicyModel):
    members: tuple[str, ...] = ()


class Rotation(PolicyModel):
    members: tuple[str, ...] = Field(min_length=1)
    shift: CalendarDuration
    start: LocalDateTime  # first handoff, local time

    @field_validator("shift")
    @classmethod
    def _positive(cls, shift: Duration) -> Duration:
        if not shift.seconds:
            raise ValueError("a shift must be longer than 0s")
        return shift


class Override(PolicyModel):
    who: str
    from_: LocalDateTime = Field(alias="from")
    to: LocalDateTime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_ >= self.to:
            raise ValueError("'from' must be before 'to'")
        return self


class Schedule(PolicyModel):
    timezone: TimeZoneName | None = None  # None: the policy's timezone
    rotation: Rotation
    overrides: tuple[Override, ...] = ()


class Throttle(PolicyModel):
    """At most `max` messages to one contact (person or room) per `per`; the rest wait."""

    max: int = Field(ge=1)
    per: CalendarDuration


class ChannelOptions(PolicyModel):
    """Delivery options every channel type takes (docs/channels.md)."""

    timeout: CalendarDuration | None = None  # per attempt; 5s when unset
    attempts: int = Field(default=12, ge=1, le=50)  # tries before the fallback takes over
    throttle: Throttle | None = None
    fallback: str | None = None  # channel id that gets the message when this one fails


class ConsoleChannel(ChannelOptions):
    type: Literal["console"]


class WebhookChannel(ChannelOptions):
    type: Literal["webhook"]
    url: str
    secret: str | None = None


class SmtpSettings(PolicyModel):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # a private CA to trust for STARTTLS (PEM)


class EmailChannel(ChannelOptions):
    type: Literal["email"]
    smtp: SmtpSettings
    from_: str = Field(alias="from")
    to: str | None = None  # for `channel:ID` targets (a list address); people use their email


class SlackChannel(ChannelOptions):
    type: Literal["slack"]
    url: str


class TeamsChannel(ChannelOptions):
    type: Literal["teams"]
    url: str


class PagerDutyChannel(ChannelOptions):
    type: Literal["pagerduty"]
    url: str = "https://events.pagerduty.com/v2/enqueue"
    routing_key: str


Channel = Annotated[
    ConsoleChannel | WebhookChannel | EmailChannel | SlackChannel | TeamsChannel | PagerDutyChannel,
    Field(discriminator="type"),
]
