from datetime import UTC, datetime, timedelta, timezone

import pytest

from escalade.domain.paging import Cursor, next_cursor

AT = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)


def test_a_cursor_reads_back_what_it_wrote() -> None:
    cursor = Cursor(AT, "inc_01ABC")
    assert cursor.text == "2026-11-23T10:00:00.123456Z~inc_01ABC"
    assert Cursor.parse(cursor.text) == cursor


def test_a_cursor_is_written_in_utc_whatever_zone_it_was_given() -> None:
    berlin = AT.astimezone(timezone(timedelta(hours=1)))
    assert Cursor(berlin, "inc_1").text == Cursor(AT, "inc_1").text


def test_a_bare_time_is_a_cursor_before_every_id_of_that_time() -> None:
    cursor = Cursor.parse("2026-11-23T11:00:00+01:00")
    assert cursor == Cursor(AT.replace(microsecond=0), "")
    assert cursor.text == "2026-11-23T10:00:00Z"


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-23T10:00:00~inc_1", "~inc_1"])
def test_anything_else_says_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected a previous page's next_before"):
        Cursor.parse(text)


def test_only_a_full_page_has_a_next_one() -> None:
    page = [{"id": n, "opened_at": AT.isoformat()} for n in ("inc_2", "inc_1")]
    assert next_cursor(page, 2) == Cursor(AT, "inc_1").text
    assert next_cursor(page, 3) is None
    assert next_cursor([], 0) is None
