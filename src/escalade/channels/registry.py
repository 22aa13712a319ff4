"""Senders for the channels a policy defines, rebuilt when the policy changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TextIO

from escalade.channels.base import Sender
from escalade.channels.callback import CallbackSender
from escalade.channels.console import ConsoleSender
from escalade.channels.email import EmailSender
from escalade.channels.http import DEFAULT_TIMEOUT
from escalade.channels.pagerduty import PagerDutySender
from escalade.channels.slack import SlackSender
from escalade.channels.teams import TeamsSender
from escalade.channels.webhook import WebhookSender
from escalade.domain.policy import Channel, Policy


def build(channel: Channel, console: TextIO | None = None) -> Sender:
    timeout = float(channel.timeout.seconds) if channel.timeout else DEFAULT_TIMEOUT
    if channel.type == "console":
        return ConsoleSender(console)
    if channel.type == "webhook":
        return WebhookSender(channel.url, channel.secret, timeout=timeout)
    if channel.type == "email":
        return EmailSender(channel, timeout=timeout)
    if channel.type == "slack":
        return SlackSender(channel.url, timeout=timeout)
    if channel.type == "teams":
        return TeamsSender(channel.url, timeout=timeout)
    return PagerDutySender(channel.url, channel.routing_key, timeout=timeout)


class Senders:
    """One sender per channel id, for the policy they were built from."""

    def __init__(
        self,
        console: TextIO | None = None,
        build_sender: Callable[[Channel], Sender] | None = None,
        *,
        callback_secret: str | None = None,
    ) -> None:
        self._console = console
        # Decision callbacks to AI systems (reviews); off without a signing secret.
        self.callback: Sender | None = CallbackSender(callback_secret) if callback_secret else None
        self._build = build_sender or (lambda channel: build(channel, console))
        self._lock = threading.Lock()
        self._policy: Policy | None = None
        self._senders: dict[str, Sender] = {}

    def for_channel(self, policy: Policy, channel_id: str) -> Sender | None:
        with self._lock:
            if policy is not self._policy:
                old = self._senders
                self._senders = {cid: self._build(c) for cid, c in policy.channels.items()}
                self._policy = policy
                for sender in old.values():
                    sender.close()
            return self._senders.get(channel_id)

    def close(self) -> None:
        if self.callback is not None:
            self.callback.close()
        with self._lock:
            for sender in self._senders.values():
                sender.close()
            self._senders = {}
            self._policy = None
