"""Follow-ups for PagerDuty: an incident acknowledged or resolved here is
acknowledged or resolved there, under the same dedup_key (the incident id), on
every PagerDuty channel the incident was forwarded to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from escalade.domain.effects import Effect, Notify, Record
from escalade.domain.policy import Policy
from escalade.storage import deliveries

_ACTIONS = {"incident.acknowledged": "acknowledge", "incident.resolved": "resolve"}


def pagerduty_follow_ups(
    conn: Connection, policy: Policy, effects: Sequence[Effect]
) -> list[Notify]:
    out: list[Notify] = []
    for effect in effects:
        if not isinstance(effect, Record) or effect.kind not in _ACTIONS:
            continue
        action = _ACTIONS[effect.kind]
        used = deliveries.channels_of(conn, effect.incident_id)
        for channel_id in sorted(used):
            channel = policy.channels.get(channel_id)
            if channel is None or channel.type != "pagerduty":
                continue
            out.append(
                Notify(
                    incident_id=effect.incident_id,
                    step=0,
                    channel=channel_id,
                    person=None,
                    target=f"channel:{channel_id}",
                    reason=effect.kind,
                    subject=f"{effect.kind} by {effect.actor or 'escalade'}",
                    text="",
                    data={"pagerduty": {"event_action": action}},
                    tag=f"pagerduty:{action}:{effect.at.isoformat()}",
                )
            )
    return out
