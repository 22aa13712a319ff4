"""Ids: ULID layout (48-bit milliseconds, 80 random bits) in Crockford base32."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from escalade.engine import ids

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def spelled(value: int) -> str:
    """The plain reading of the layout: 26 characters of 5 bits, high bits first."""
    return "".join(ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9999, 1, 1)),
    st.lists(st.binary(min_size=10, max_size=10), min_size=1, max_size=5),
)
def test_an_id_is_the_time_and_the_random_bits_in_crockford_base32(
    when: datetime, randoms: list[bytes]
) -> None:
    now = when.replace(tzinfo=UTC)
    real = ids.os.urandom
    ids.os.urandom = lambda n: b"".join(randoms)[:n]  # type: ignore[assignment]
    try:
        one = ids.new_id("sig", now)
        many = ids.new_ids("sig", now, len(randoms))
    finally:
        ids.os.urandom = real
    ms = int(now.timestamp() * 1000)
    expected = [f"sig_{spelled((ms << 80) | int.from_bytes(r, 'big'))}" for r in randoms]
    assert one == expected[0]
    assert many == expected


def test_ids_sort_by_time_and_differ_within_a_millisecond() -> None:
    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    same_ms = {ids.new_id("inc", now) for _ in range(500)} | set(ids.new_ids("inc", now, 500))
    assert len(same_ms) == 1000
    later = ids.new_id("inc", now + timedelta(milliseconds=1))
    assert all(later > earlier for earlier in same_ms)
