import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from escalade.domain.ack_links import BadAckToken, ExpiredAckToken, check, issue
from escalade.settings import Settings

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def test_a_token_grants_its_incident_and_person_until_it_expires() -> None:
    token = issue("key", "inc_1", "alice", NOW, DAY)
    grant = check("key", token, NOW + DAY - timedelta(seconds=1))
    assert (grant.incident_id, grant.person, grant.expires_at) == ("inc_1", "alice", NOW + DAY)
    with pytest.raises(ExpiredAckToken):
        check("key", token, NOW + DAY)


def test_another_key_or_an_edited_payload_is_refused() -> None:
    token = issue("key", "inc_1", "alice", NOW, DAY)
    with pytest.raises(BadAckToken):
        check("other-key", token, NOW)
    payload, _, signature = token.partition(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["i"] = "inc_2"
    edited = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with pytest.raises(BadAckToken):
        check("key", f"{edited}.{signature}", NOW)
    for junk in ("", ".", "abc", "a.b", "!!.??"):
        with pytest.raises(BadAckToken):
            check("key", junk, NOW)


def test_the_link_lifetime_setting_is_a_duration() -> None:
    settings = Settings.from_env({"ESCALADE_ACK_LINK_TTL": "90m"})
    assert settings.ack_link_ttl == timedelta(minutes=90)
    assert Settings.from_env({}).ack_link_ttl == DAY
    with pytest.raises(ValueError, match="ESCALADE_ACK_LINK_TTL"):
        Settings.from_env({"ESCALADE_ACK_LINK_TTL": "soon"})
