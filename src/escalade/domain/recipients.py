"""Turning targets (`team:ml-oncall`, `role:legal_liaison`, ...) into people and
the channels that reach them, at an instant and for one incident."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from escalade.domain.policy import Policy
from escalade.domain.schedules import on_call_now
from escalade.domain.targets import Target, TargetKind


@dataclass(frozen=True, slots=True)
class Recipient:
    person: str | None  # None for a broadcast channel such as a Slack room
    channel: str
    target: str


def people_of(policy: Policy, target: Target, roles: Mapping[str, str], at: datetime) -> list[str]:
    """The people a target stands for right now (empty when nobody holds it)."""
    if target.kind is TargetKind.PERSON:
        return [target.id]
    if target.kind is TargetKind.TEAM:
        return list(policy.teams[target.id].members)
    if target.kind is TargetKind.SCHEDULE:
        person = on_call_now(policy, target.id, at)
        return [person] if person else []
    if target.kind is TargetKind.ROLE:
        holder = roles.get(target.id)
        return [holder] if holder else []
    return []


def resolve(
    policy: Policy, targets: Iterable[Target], roles: Mapping[str, str], at: datetime
) -> list[Recipient]:
    """Every (person, channel) pair the targets reach, each once, in order."""
    seen: set[tuple[str | None, str]] = set()
    out: list[Recipient] = []
    for target in targets:
        if target.kind is TargetKind.CHANNEL:
            pairs: list[tuple[str | None, str]] = [(None, target.id)]
        else:
            pairs = [
                (person, channel)
                for person in people_of(policy, target, roles, at)
                for channel in policy.people[person].contacts
            ]
        for pair in pairs:
            if pair not in seen:
                seen.add(pair)
                out.append(Recipient(person=pair[0], channel=pair[1], target=str(target)))
    return out


def fill_roles(policy: Policy, role_ids: Iterable[str], at: datetime) -> dict[str, str]:
    """Assign each role the first reachable person (one with a contact)."""
    filled: dict[str, str] = {}
    for role_id in role_ids:
        spec = policy.roles.get(role_id)
        if spec is None:
            continue
        for target in spec.filled_by:
            candidates = people_of(policy, target, filled, at)
            reachable = [p for p in candidates if policy.people[p].contacts]
            if reachable:
                filled[role_id] = reachable[0]
                break
    return filled
