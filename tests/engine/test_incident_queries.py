"""What the dashboard and `GET /v1/incidents` ask of the engine: filters, the next
rung, who is on call."""

from datetime import timedelta

from conftest import FakeClock
from escalade.domain.signals import SignalIn
from escalade.engine.service import Escalade
from support.engines import Harness


def _open(service: Escalade, kind: str, model: str, **labels: str) -> str:
    wire = SignalIn.model_validate(
        {"kind": kind, "value": 0.5, "subject": {"model": model}, "labels": labels}
    )
    incident_id = service.ingest(service.accept([wire])).accepted[0].incident_id
    assert incident_id
    return incident_id


def test_incidents_filter_by_type_model_team_and_time(harness: Harness, clock: FakeClock) -> None:
    service = harness.service()
    early = _open(service, "privacy_leak", "chat-v2")
    clock.advance(hours=1)
    late = _open(service, "fairness", "credit-v7", env="production", segment="a")
    other = _open(service, "drift", "credit-v7")

    def ids(**filters: object) -> set[str]:
        return {i["id"] for i in service.list_incidents(**filters)}  # type: ignore[arg-type]

    assert ids(type="privacy") == {early}
    assert ids(model="credit-v7") == {late, other}
    assert ids(model="credit-v7", type="fairness") == {late}
    assert ids(since=clock.now() - timedelta(minutes=1)) == {late, other}
    assert ids(until=clock.now() - timedelta(minutes=1)) == {early}
    # Only sev1 has an incident lead (from `primary`: alice or bob, both of `oncall`).
    assert ids(team="oncall") == {early}
    assert ids(team="exec") == set()
    assert ids(team="no-such-team") == set()


def test_an_incident_says_when_its_next_rung_fires(harness: Harness, clock: FakeClock) -> None:
    service = harness.service()
    incident_id = _open(service, "privacy_leak", "chat-v2")
    record = service.incident(incident_id)
    assert record and record["next_rung_at"] == (clock.now() + timedelta(minutes=5)).isoformat()
    service.acknowledge(incident_id, "alice")
    record = service.incident(incident_id)
    assert record and record["next_rung_at"] is None


def test_on_call_names_the_holder_and_the_next(harness: Harness, clock: FakeClock) -> None:
    service = harness.service()
    [primary] = service.on_call()
    assert primary.schedule == "primary"
    assert {primary.now, primary.next} == {"alice", "bob"}
    assert primary.until and primary.until > clock.now()
