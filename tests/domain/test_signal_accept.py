"""An accepted signal carries every wire field under its own name."""

from __future__ import annotations

from datetime import UTC, datetime

from escalade.domain.signals import Signal, SignalIn

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
