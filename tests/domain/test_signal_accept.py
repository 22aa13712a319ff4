"""An accepted signal carries every wire field under its own name."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from escalade.domain.signals import Signal, SignalIn, wire_record

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
WIRE = {
    "kind": "drift",
    "source": "evidently",
    "subject": {"model": "chat-v2"},
    "summary": "PSI over 0.2",
    "value": 0.31,
    "labels": {"segment": "eu"},
    "occurred_at": "2026-12-07T02:59:00+00:00",
    "dedup_key": "drift-chat-v2",
    "details": {"psi": 0.31},
    "links": [{"href": "https://example.test/run/1", "text": "run"}],
}


def test_each_field_is_the_wire_s_own() -> None:
    # Signal.accept passes fields by position (it runs once per signal): a
    # field moved in the dataclass must not shift values into its neighbours.
    wire = SignalIn.model_validate(WIRE)
    signal = Signal.accept(wire, signal_id="sig_1", received_at=NOW)
    assert (signal.id, signal.fresh, signal.received_at, signal.exercise) == (
        "sig_1",
        True,
        NOW,
        None,
    )
    for name in ("kind", "source", "subject", "summary", "value", "labels", "dedup_key"):
        assert getattr(signal, name) == WIRE[name], name
    assert signal.occurred_at == datetime(2026, 12, 7, 2, 59, tzinfo=UTC)
    assert signal.details == {"psi": 0.31}
    assert signal.links == ({"href": "https://example.test/run/1", "text": "run"},)


def test_a_named_id_is_kept_and_not_fresh() -> None:
    wire = SignalIn.model_validate({**WIRE, "id": "evt-42", "links": []})
    signal = Signal.accept(wire, signal_id="sig_1", received_at=NOW)
    assert (signal.id, signal.fresh, signal.links) == ("evt-42", False, ())


NAMES = st.from_regex(r"[A-Za-z0-9_.:/@+-]{1,12}", fullmatch=True)
TEXTS = st.text(max_size=12)
WIRES = st.fixed_dictionaries(
    {"kind": NAMES},
    optional={
        "id": NAMES,
        "source": TEXTS,
        "subject": st.dictionaries(TEXTS, TEXTS, max_size=3),
        "summary": TEXTS,
        "value": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5),
        "labels": st.dictionaries(TEXTS, TEXTS, max_size=3),
        "occurred_at": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
        "dedup_key": NAMES,
        "details": st.dictionaries(
            TEXTS, TEXTS | st.integers(-(2**63), 2**63 - 1) | st.none(), max_size=3
        ),
        "links": st.lists(
            st.fixed_dictionaries({"href": NAMES}, optional={"text": TEXTS}), max_size=2
        ),
    },
)


@settings(max_examples=200, deadline=None)
@given(WIRES)
def test_a_queued_record_is_the_accepted_signal_s_stored_form(data: dict[str, object]) -> None:
    # The inbox's records skip the Signal (wire_record); the router reads them
    # back as Signals (from_record). Both ways must agree with the one form.
    wire = SignalIn.model_validate(data)
    signal = Signal.accept(wire, signal_id="sig_1", received_at=NOW)
    record = wire_record(wire, "sig_1", NOW.isoformat())
    assert record == signal.to_record()
    assert orjson.loads(orjson.dumps(record)) == orjson.loads(orjson.dumps(signal.to_record()))
    assert Signal.from_record({**record, "fresh": signal.fresh}) == signal
    # The router stores a queued record as it is (less `fresh`): read back, the
    # signal's own stored form is that record again.
    assert Signal.from_record(dict(record)).to_record() == record
