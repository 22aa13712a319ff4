"""What responders do to an incident: acknowledge, resolve, escalate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from escalade.domain.escalation import Event, apply
from escalade.domain.incidents import Incident
from escalade.engine.effects import persist
from escalade.engine.forwarding import pagerduty_follow_ups
from escalade.engine.policies import LoadedPolicy
from escalade.storage import incidents


class IncidentNotFound(LookupError):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"no incident {incident_id!r}")
        self.incident_id = incident_id


@dataclass(frozen=True, slots=True)
class Acted:
    incident: Incident
    changed: bool
    due_now: bool


def act(db: Engine, loaded: LoadedPolicy, incident_id: str, event: Event, now: datetime) -> Acted:
    """Apply one responder event in one transaction.

    Raises IncidentNotFound, or the core's IllegalTransition / CannotEscalate,
    in which case nothing is written.
    """
    with db.begin() as conn:
        incident = incidents.get(conn, incident_id, lock=True)
        if incident is None:
            raise IncidentNotFound(incident_id)
        outcome = apply(loaded.policy, incident, event, now, loaded.catalogue)
        if not outcome.changed:
            return Acted(incident, changed=False, due_now=False)
        if outcome.incident is not incident:
            incidents.save(conn, [(outcome.incident, incident.version)])
        follow_ups = pagerduty_follow_ups(conn, loaded.policy, outcome.effects)
        due = persist(conn, [*outcome.effects, *follow_ups], now)
        return Acted(outcome.incident, changed=True, due_now=due)
