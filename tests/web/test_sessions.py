"""Session cookies: sealed with a key, refused when altered, foreign or expired."""

from datetime import UTC, datetime, timedelta

from escalade.web.sessions import LIFETIME, Session, seal, unseal

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEY = b"k" * 32


def test_a_sealed_session_opens_until_it_expires() -> None:
    session = Session.start("tok_1", "lena", NOW)
    cookie = seal(session, KEY)
    assert unseal(cookie, KEY, NOW) == session
    assert unseal(cookie, KEY, NOW + LIFETIME - timedelta(seconds=1)) == session
    assert unseal(cookie, KEY, NOW + LIFETIME) is None


def test_altered_foreign_or_malformed_cookies_are_refused() -> None:
    cookie = seal(Session.start("tok_1", "lena", NOW), KEY)
    body, _, mac = cookie.partition(".")
    forged = seal(Session("tok_admin", "erin", "x", 9e12), b"other key")
    for bad in (None, "", "x", f"{body}A.{mac}", f"{body}.{mac}A", forged, "!!.!!", "e30.AAAA"):
        assert unseal(bad, KEY, NOW) is None, bad


def test_the_csrf_check_wants_the_exact_token() -> None:
    session = Session.start("tok_1", "lena", NOW)
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(None)
    assert not session.csrf_ok("")
    assert not session.csrf_ok(session.csrf + "x")
    assert Session.start("tok_1", "lena", NOW).csrf != session.csrf
