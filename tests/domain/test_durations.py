from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from escalade.domain.durations import Duration, DurationField, Percent, parse_percent


@pytest.mark.parametrize(
    ("text", "seconds", "business_days", "canonical"),
    [
        ("0s", 0, 0, "0s"),
        ("30s", 30, 0, "30s"),
        ("5m", 300, 0, "5m"),
        ("4h", 4 * 3600, 0, "4h"),
        ("2d", 2 * 86400, 0, "2d"),
        ("1w", 7 * 86400, 0, "1w"),
        ("1h30m", 5400, 0, "1h30m"),
        ("90m", 5400, 0, "1h30m"),
        ("7d", 7 * 86400, 0, "1w"),
        ("1d2h3m4s", 93784, 0, "1d2h3m4s"),
        (" 15m ", 900, 0, "15m"),
        ("4bd", 0, 4, "4bd"),
        ("1bd", 0, 1, "1bd"),
    ],
)
def test_parse_reads_every_documented_form(
    text: str, seconds: int, business_days: int, canonical: str
) -> None:
    duration = Duration.parse(text)
    assert duration == Duration(seconds=seconds, business_days=business_days)
    assert str(duration) == canonical
    assert Duration.parse(str(duration)) == duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("5", "needs a unit, e.g. '5m'"),
        ("5x", "invalid duration '5x'"),
        ("m5", "invalid duration"),
        ("-5m", "invalid duration"),
        ("1.5h", "invalid duration"),
        ("30m1h", "largest first"),
        ("5m5m", "largest first"),
        ("1bd2h", "cannot be combined"),
        ("5 m", "invalid duration"),
        ("٣m", "invalid duration"),  # non-ASCII digits are not numbers here
        ("999999999999w", "at most 100 years"),
        ("9999999999999999m", "invalid duration"),
    ],
)
def test_parse_rejects_with_a_message_saying_what_is_expected(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as caught:
        Duration.parse(text)
    if expected.startswith("invalid"):
        assert "'5m'" in str(caught.value)  # the message shows valid examples


def test_calendar_durations_convert_to_timedelta_and_business_days_refuse() -> None:
    assert Duration.parse("1h30m").as_timedelta() == timedelta(minutes=90)
    assert not Duration.parse("1h").is_business
    four = Duration.parse("4bd")
    assert four.is_business
    with pytest.raises(ValueError, match="business days"):
        four.as_timedelta()


def test_a_duration_is_never_negative_nor_mixed() -> None:
    with pytest.raises(ValueError, match="negative"):
        Duration(seconds=-1)
    with pytest.raises(ValueError, match="not both"):
        Duration(seconds=60, business_days=1)


def test_durations_are_hashable_values() -> None:
    assert len({Duration.parse("60m"), Duration.parse("1h"), Duration(seconds=3600)}) == 1


class _Timed(BaseModel):
    after: DurationField
    remind: tuple[Percent, ...] = ()


def test_duration_field_accepts_text_or_duration_and_dumps_text() -> None:
    assert _Timed(after="5m").after == Duration(seconds=300)  # type: ignore[arg-type]
    assert _Timed(after=Duration(seconds=60)).after == Duration(seconds=60)
    assert (
        _Timed(after=Duration(business_days=2)).model_dump_json() == '{"after":"2bd","remind":[]}'
    )
    with pytest.raises(ValidationError, match="needs a unit"):
        _Timed(after="10")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="expected a duration"):
        _Timed(after=10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fraction"), [("50%", 0.5), ("80%", 0.8), ("12.5%", 0.125), ("100%", 1.0)]
)
def test_percent_reads_percentages(text: str, fraction: float) -> None:
    assert parse_percent(text) == pytest.approx(fraction)
    assert _Timed(after="1m", remind=(text,)).remind == (pytest.approx(fraction),)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", "such as '50%'"),
        ("0%", "above 0%"),
        ("150%", "at most 100%"),
        ("x%", "such as"),
        (50, "such as"),
    ],
)
def test_percent_rejects_what_is_not_a_percentage(value: object, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_percent(value)
