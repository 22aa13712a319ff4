"""Rendering message templates in a Jinja sandbox.

Templates come from the policy, so they are code written by policy authors: the
sandbox keeps them to data access (no attribute tricks, no imports), and an
unknown variable renders as empty instead of failing an incident at 3 a.m.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from escalade.domain.command import CommandRefused
from escalade.domain.incidents import Incident
from escalade.domain.policy import Policy, Template


def render(
    policy: Policy,
    template: Template,
    incident: Incident,
    next_update_due: datetime | None = None,
) -> tuple[str, str]:
    """(subject, body) of `template` for `incident`; CommandRefused on a broken template.

    `next_update_due` is when the tier's `update_every` wants the next status
    update (None when the tier sets no cadence).
    """
    env = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)
    env.filters["localtime"] = lambda value: _local(policy, value)
    view = {**_view(policy, incident), "next_update_due": next_update_due}
    context = {"incident": view, "organization": policy.organization}
    try:
        subject = env.from_string(template.subject or "").render(context)
        body = env.from_string(template.body).render(context)
    except TemplateError as exc:
        raise CommandRefused("template_error", f"template cannot render: {exc}") from exc
    return subject, body


def _view(policy: Policy, incident: Incident) -> dict[str, Any]:
    record = incident.to_record()
    roles = {}
    for role, person_id in incident.roles.items():
        person = policy.people.get(person_id)
        roles[role] = {
            "id": person_id,
            "name": person.name if person else person_id,
            "email": person.email if person else None,
        }
    aware = incident.facts.get("aware_at", {}).get("at")
    return {**record, "roles": roles, "aware_at": aware}


def _local(policy: Policy, value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.astimezone(policy.tz).strftime("%Y-%m-%d %H:%M %Z")
    return "" if value is None else str(value)
