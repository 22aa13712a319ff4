"""Messages drafted from the policy's templates, approved, then sent.

Part of the pure core. The engine renders a template (in a Jinja sandbox) and
hands the text here:

- A draft is redacted at once for the template's `redact` classes; the stored
  text is the redacted one, and the approver sees what kinds were removed and
  where (a masked preview, never the value itself).
- Every role in `requires_approval` must approve this exact text: an approval
  carries the text's hash, and an edit re-redacts the text and drops every
  approval. Only the incident's holder of a required role may approve for it.
- Sending is refused until every required role approved the current text. A
  sent message goes through the outbox to the template's `to` targets; sending
  the template an obligation names records that obligation's submission.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalade.domain import governance
from escalade.domain.command import CommandRefused
from escalade.domain.effects import Effect, Notify, Record
from escalade.domain.governance import Catalogue, RecordSubmission
from escalade.domain.incidents import Incident
from escalade.domain.policy import Policy, Template
from escalade.domain.recipients import resolve
from escalade.domain.redaction import Redacted, redact


@dataclass(frozen=True, slots=True)
class DraftMessage:
    message_id: str
    template: str
    subject: str
    body: str
    by: str


@dataclass(frozen=True, slots=True)
class EditMessage:
    message_id: str
    subject: str
    body: str
    by: str


@dataclass(frozen=True, slots=True)
class ApproveMessage:
    message_id: str
    by: str


@dataclass(frozen=True, slots=True)
class SendMessage:
    message_id: str
    by: str


MessageEvent = DraftMessage | EditMessage | ApproveMessage | SendMessage
Result = tuple[Incident, list[Effect]]


def apply_message(
    policy: Policy, catalogue: Catalogue, incident: Incident, event: MessageEvent, now: datetime
) -> Result:
    if isinstance(event, DraftMessage):
        template = _template(policy, event.template)
        message = {
            "id": event.message_id,
            "template": event.template,
            "audience": template.audience,
            "channel": template.channel,
            "to": [str(t) for t in template.to],
            "requires_approval": list(template.requires_approval),
            "approvals": [],
            "state": "draft",
            "drafted_by": event.by,
            "drafted_at": now.isoformat(),
            **_redacted(template, incident, event.subject, event.body),
        }
        record = Record(incident.id, now, "message.drafted", actor=event.by, data=_shown(message))
        return incident.evolve(messages=(*incident.messages, message)), [record]
    message = _message(incident, event.message_id)
    if message["state"] != "draft":
        # `withheld` (a live drill's external message) is as final as `sent`.
        raise CommandRefused(
            "message_sent", f"message {event.message_id} was already {message['state']}"
        )
    template = _template(policy, message["template"])
    if isinstance(event, EditMessage):
        edited = {
            **message,
            **_redacted(template, incident, event.subject, event.body),
            "approvals": [],
        }
        record = Record(
            incident.id,
            now,
            "message.edited",
            actor=event.by,
            data={**_shown(edited), "approvals_reset": len(message["approvals"])},
        )
        return _replace(incident, edited), [record]
    if isinstance(event, ApproveMessage):
        return _approve(incident, message, event, now)
    return _send(policy, catalogue, incident, message, template, event, now)


def _approve(
    incident: Incident, message: dict[str, Any], event: ApproveMessage, now: datetime
) -> Result:
    done = {a["role"] for a in message["approvals"]}
    mine = [
        r
        for r in message["requires_approval"]
        if incident.roles.get(r) == event.by and r not in done
    ]
    if not mine:
        holds = [r for r in message["requires_approval"] if incident.roles.get(r) == event.by]
        if holds:
            raise CommandRefused("already_approved", f"{event.by} has approved this text already")
        raise CommandRefused(
            "not_an_approver",
            f"{event.by} holds none of the roles that must approve "
            f"({', '.join(message['requires_approval']) or 'none required'})",
        )
    approvals = [
        *message["approvals"],
        *(
            {"role": r, "by": event.by, "at": now.isoformat(), "text_hash": message["text_hash"]}
            for r in mine
        ),
    ]
    approved = {**message, "approvals": approvals}
    record = Record(
        incident.id,
        now,
        "message.approved",
        actor=event.by,
        data={"message_id": message["id"], "roles": mine, "text_hash": message["text_hash"]},
    )
    return _replace(incident, approved), [record]


def _send(
    policy: Policy,
    catalogue: Catalogue,
    incident: Incident,
    message: dict[str, Any],
    template: Template,
    event: SendMessage,
    now: datetime,
) -> Result:
    approved = {a["role"] for a in message["approvals"] if a["text_hash"] == message["text_hash"]}
    missing = [r for r in message["requires_approval"] if r not in approved]
    if missing:
        raise CommandRefused("not_approved", f"still needs approval by {', '.join(missing)}")
    if incident.exercise and message["audience"] != "internal":
        # A live drill never reaches customers, regulators or the public.
        withheld = {**message, "state": "withheld", "sent_by": event.by, "sent_at": now.isoformat()}
        record = Record(
            incident.id,
            now,
            "message.withheld",
            actor=event.by,
            data={"message_id": message["id"], "audience": message["audience"], "exercise": True},
        )
        return _replace(incident, withheld), [record]
    sent = {**message, "state": "sent", "sent_by": event.by, "sent_at": now.isoformat()}
    updated = _replace(incident, sent)
    effects: list[Effect] = [
        Record(
            incident.id,
            now,
            "message.sent",
            actor=event.by,
            data={
                "message_id": message["id"],
                "template": message["template"],
                "audience": message["audience"],
                "text_hash": message["text_hash"],
            },
        )
    ]
    for r in resolve(policy, template.to, incident.roles, now):
        channel = template.channel or r.channel
        effects.append(
            Notify(
                incident_id=incident.id,
                step=incident.ladder.step,
                channel=channel,
                person=r.person,
                target=r.target,
                reason=f"message {message['template']}",
                subject=message["subject"],
                text=message["body"],
                data={"message_id": message["id"], "audience": message["audience"]},
                tag=f"message:{message['id']}",
            )
        )
    for obligation in incident.obligations:
        binding = policy.obligations.get(obligation)
        if binding is not None and binding.template == message["template"]:
            updated, submitted = governance.apply_event(
                policy, catalogue, updated, RecordSubmission(obligation, event.by), now
            )
            effects += submitted
    return updated, effects


def _redacted(template: Template, incident: Incident, subject: str, body: str) -> dict[str, Any]:
    names = incident.facts.get("marked_names", {}).get("value") or []
    marked = [str(n) for n in names] if isinstance(names, list) else [str(names)]
    classes = list(template.redact)
    clean_subject = redact(subject, classes, names=marked) if classes else None
    clean_body = redact(body, classes, names=marked) if classes else None
    final_subject = clean_subject.text if clean_subject else subject
    final_body = clean_body.text if clean_body else body
    digest = hashlib.sha256(f"{final_subject}\n\n{final_body}".encode()).hexdigest()
    return {
        "subject": final_subject,
        "body": final_body,
        "text_hash": digest,
        "removed": _removed(clean_subject, subject) + _removed(clean_body, body),
    }


def _removed(result: Redacted | None, original: str) -> list[dict[str, Any]]:
    """What an approver is shown: the kind and a masked preview, never the value."""
    if result is None:
        return []
    return [
        {
            "kind": r.kind,
            "sensitivity": r.sensitivity.value,
            "preview": _mask(original[r.start : r.end]),
            "replacement": r.replacement,
        }
        for r in result.removals
    ]


def _mask(value: str) -> str:
    return f"{value[:2]}… ({len(value)} characters)"


def _shown(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": message["id"],
        "template": message["template"],
        "removed": [
            {"kind": r["kind"], "sensitivity": r["sensitivity"]} for r in message["removed"]
        ],
    }


def _template(policy: Policy, template_id: str) -> Template:
    template = policy.templates.get(template_id)
    if template is None:
        known = ", ".join(policy.templates) or "none"
        raise CommandRefused("no_such_template", f"no template {template_id!r} (known: {known})")
    return template


def _message(incident: Incident, message_id: str) -> dict[str, Any]:
    for message in incident.messages:
        if message["id"] == message_id:
            return message
    raise CommandRefused("no_such_message", f"no message {message_id!r} on this incident")


def _replace(incident: Incident, message: dict[str, Any]) -> Incident:
    return incident.evolve(
        messages=tuple(message if m["id"] == message["id"] else m for m in incident.messages)
    )
