from datetime import UTC, datetime
from email.utils import format_datetime

from escalade.channels.base import Message
from escalade.channels.http import retry_after
from escalade.channels.pagerduty import SUMMARY_LIMIT, event, severity


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("120") == 120.0
    assert retry_after(None) is None
    assert retry_after("whenever") is None
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC).timestamp()
    date = format_datetime(datetime(2026, 11, 23, 10, 1, 30, tzinfo=UTC), usegmt=True)
    assert retry_after(date, now=now) == 90.0
    assert retry_after(date, now=now + 3600) == 0.0  # in the past: go now


def test_pagerduty_severity_follows_the_tier_number() -> None:
    assert [severity(t) for t in ("sev1", "P2", "sev3", "sev4", "low", None)] == [
        "critical",
        "error",
        "warning",
        "info",
        "info",
        "info",
    ]


def test_pagerduty_summary_is_cut_to_its_limit() -> None:
    message = Message(
        delivery_id="d",
        attempt=1,
        incident_id="inc_1",
        channel="pd",
        person=None,
        person_name=None,
        address=None,
        target="channel:pd",
        subject="x" * 2000,
        text="t",
        data={"incident": {"tier": "sev1", "subject": {}}},
    )
    body = event("k" * 32, message)
    assert len(body["payload"]["summary"]) == SUMMARY_LIMIT
    assert body["payload"]["source"] == "escalade" and "links" in body
