from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from zoneinfo import ZoneInfo

import pytest

from escalade.domain.obligations import (
    REGIMES_FILE,
    Deadline,
    Fact,
    Regime,
    deadlines,
    holiday_dates,
    parse_catalogue,
    reminder_times,
)
from escalade.domain.policy_governance import BUILTIN_REGIMES, Obligation

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
CATALOGUE = parse_catalogue((files("escalade.domain") / REGIMES_FILE).read_text())
BOUND = Obligation(owner="legal_liaison")


def facts(**at: datetime) -> dict[str, Fact]:
    return {name: Fact(name, moment) for name, moment in at.items()}


def clocks(
    regime_id: str,
    known: Mapping[str, Fact],
    submitted: Mapping[str, datetime] | None = None,
    tz: ZoneInfo = UTC,  # type: ignore[assignment]
    policy_holidays: str | None = None,
) -> dict[str, Deadline]:
    found = deadlines(
        regime_id,
        BOUND,
        CATALOGUE[regime_id],
        known,
        submitted or {},
        tz,
        policy_holidays,
    )
    return {deadline.stage: deadline for deadline in found}


# --- The catalogue ---------------------------------------------------------------------


def test_every_builtin_regime_is_in_the_catalogue_with_a_citation() -> None:
    assert set(CATALOGUE) == set(BUILTIN_REGIMES)
    for regime in CATALOGUE.values():
        assert isinstance(regime, Regime)
        assert regime.citation and regime.recipient and regime.title
        assert all(limb.label for stage in regime.stages for limb in stage.limbs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nregimes: [", "invalid YAML"),
        ("", "regimes: required key is missing"),
        ("version: 2\nregimes: {}", "version"),
        (
            "version: 1\nregimes:\n  x:\n    title: T\n    citation: C\n    recipient: R\n"
            "    stages: [{id: s, limbs: [{within: 1h, label: L}]}]\n    colour: red\n",
            "regimes.yaml:8:5: regimes.x.colour: unknown key",
        ),
        (
            "version: 1\nregimes:\n  x:\n    title: T\n    recipient: R\n"
            "    stages: [{id: s, limbs: [{within: 1h, label: L}]}]\n",
            "regimes.x.citation: required key is missing",
        ),
        (
            "version: 1\nregimes:\n  x: {title: T, citation: C, recipient: R, stages: "
            "[{id: s, limbs: [{within: 1h, months: 1, label: L}]}]}\n",
            "exactly one of 'within'",
        ),
        (
            "version: 1\nregimes:\n  x: {title: T, citation: C, recipient: R, stages: "
            "[{id: s, limbs: [{within: 1h, when_any: [death], label: L}]}]}\n",
            "exactly one limb without 'when_any' (found 0)",
        ),
        (
            "version: 1\nregimes:\n  x: {title: T, citation: C, recipient: R, stages: "
            "[{id: s, limbs: [{within: 72, label: L}]}]}\n",
            "within: expected a duration",
        ),
        (
            "version: 1\nregimes:\n  x: {title: T, citation: C, recipient: R, stages: ["
            "{id: a, after: b, limbs: [{within: 1h, label: L}]},"
            "{id: b, limbs: [{within: 1h, label: L}]}]}\n",
            "'a' comes after 'b', which is not an earlier stage",
        ),
        (
            "version: 1\nregimes:\n  x: {title: T, citation: C, recipient: R, stages: ["
            "{id: a, from: x, after: b, limbs: [{within: 1h, label: L}]}]}\n",
            "not both",
        ),
        (
            "version: 1\nregimes:\n  x: {title: T, citation: C, recipient: R, timezone: Mars/Base,"
            " stages: [{id: a, limbs: [{within: 1h, label: L}]}]}\n",
            "unknown time zone 'Mars/Base'",
        ),
    ],
)
def test_a_malformed_catalogue_is_refused_with_where_and_why(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match="the regime catalogue is malformed") as caught:
        parse_catalogue(text)
    assert expected in str(caught.value)


# --- GDPR ------------------------------------------------------------------------------


def test_gdpr_art33_is_72_elapsed_hours_across_the_dst_change() -> None:
    aware = datetime(2026, 10, 23, 10, 0, tzinfo=BERLIN)  # CEST; clocks go back 25 Oct
    report = clocks("gdpr-art33", facts(aware_at=aware), tz=BERLIN)["report"]
    assert report.due_at.astimezone(UTC) - aware.astimezone(UTC) == timedelta(hours=72)
    assert report.due_at == datetime(2026, 10, 26, 9, 0, tzinfo=BERLIN)  # CET wall time
    assert report.citation == "Regulation (EU) 2016/679 (GDPR) Art. 33(1)"
    assert report.recipient is not None and "supervisory authority" in report.recipient
    assert not report.indicative


def test_gdpr_art33_starting_on_a_weekend_counts_the_weekend() -> None:
    aware = datetime(2026, 10, 3, 22, 0, tzinfo=BERLIN)  # a Saturday
    report = clocks("gdpr-art33", facts(aware_at=aware), tz=BERLIN)["report"]
    assert report.due_at == datetime(2026, 10, 6, 22, 0, tzinfo=BERLIN)


def test_gdpr_art34_is_an_indicative_window_not_a_statutory_deadline() -> None:
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    communication = clocks("gdpr-art34", facts(aware_at=aware))["communication"]
    assert communication.indicative
    assert "without undue delay" in communication.limb
    assert communication.due_at == aware + timedelta(hours=72)


def test_no_start_fact_means_no_deadline_yet() -> None:
    assert clocks("gdpr-art33", {}) == {}
    denied = {"aware_at": Fact("aware_at", datetime(2026, 3, 2, tzinfo=UTC), value=False)}
    assert clocks("gdpr-art33", denied) == {}


# --- EU AI Act Art. 73 -----------------------------------------------------------------

AWARE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("flags", "days", "article"),
    [
        ((), 15, "Art. 73(2)"),
        (("death",), 10, "Art. 73(4)"),
        (("widespread_infringement",), 2, "Art. 73(3)"),
        (("critical_infrastructure",), 2, "Art. 73(3)"),
        (("death", "widespread_infringement"), 2, "Art. 73(3)"),
    ],
)
def test_ai_act_the_shortest_applicable_limb_wins(
    flags: tuple[str, ...], days: int, article: str
) -> None:
    known = facts(aware_at=AWARE) | facts(**dict.fromkeys(flags, AWARE + timedelta(hours=1)))
    report = clocks("eu-ai-act-art73", known)["report"]
    assert report.due_at == AWARE + timedelta(days=days)
    assert article in report.limb
    assert report.started_at == AWARE


def test_ai_act_a_fact_recorded_false_does_not_pick_its_limb() -> None:
    known = facts(aware_at=AWARE) | {"death": Fact("death", AWARE, value=False)}
    assert clocks("eu-ai-act-art73", known)["report"].due_at == AWARE + timedelta(days=15)


def test_ai_act_recording_a_death_later_shortens_the_running_clock() -> None:
    known = facts(aware_at=AWARE)
    before = clocks("eu-ai-act-art73", known)["report"]
    assert before.due_at == AWARE + timedelta(days=15)
    known |= facts(death=AWARE + timedelta(days=3))
    after = clocks("eu-ai-act-art73", known)["report"]
    assert after.due_at == AWARE + timedelta(days=10)
    assert after.limb == "death of a person: 10 days (Art. 73(4))"


# --- NIS2 Art. 23 ----------------------------------------------------------------------


def test_nis2_early_warning_and_notification_run_from_awareness() -> None:
    stages = clocks("nis2-art23", facts(aware_at=AWARE))
    assert list(stages) == ["early_warning", "notification"]
    assert stages["early_warning"].due_at == AWARE + timedelta(hours=24)
    assert stages["early_warning"].citation.endswith("Art. 23(4)(a)")
    assert stages["notification"].due_at == AWARE + timedelta(hours=72)


def test_nis2_trust_service_providers_notify_within_24_hours() -> None:
    known = facts(aware_at=AWARE, trust_service_provider=AWARE)
    assert clocks("nis2-art23", known)["notification"].due_at == AWARE + timedelta(hours=24)


@pytest.mark.parametrize(
    ("sent", "due"),
    [
        (
            datetime(2026, 3, 15, 16, 30, tzinfo=BERLIN),
            datetime(2026, 4, 15, 16, 30, tzinfo=BERLIN),
        ),
        (datetime(2026, 1, 31, 10, 0, tzinfo=BERLIN), datetime(2026, 2, 28, 10, 0, tzinfo=BERLIN)),
        (datetime(2028, 1, 31, 10, 0, tzinfo=BERLIN), datetime(2028, 2, 29, 10, 0, tzinfo=BERLIN)),
    ],
)
def test_nis2_final_report_is_a_calendar_month_after_the_notification(
    sent: datetime, due: datetime
) -> None:
    aware = sent - timedelta(hours=40)
    known = facts(aware_at=aware)
    assert "final_report" not in clocks("nis2-art23", known, tz=BERLIN)
    stages = clocks("nis2-art23", known, {"notification": sent}, tz=BERLIN)
    final = stages["final_report"]
    assert final.started_at == sent
    assert final.due_at == due
    assert final.citation.endswith("Art. 23(4)(d)")
    assert "notification" in stages  # submitted stages stay listed, for the record


# --- DORA Art. 19 ----------------------------------------------------------------------


def test_dora_has_no_clock_until_the_incident_is_classified_major() -> None:
    assert clocks("dora-art19", facts(aware_at=AWARE)) == {}


@pytest.mark.parametrize(
    ("classified_after", "due_after", "wording"),
    [
        (timedelta(hours=2), timedelta(hours=6), "4 hours after classification"),
        (timedelta(hours=22), timedelta(hours=24), "24 hours after becoming aware"),
        # Classified after the 24h mark: the cap has passed, 4h from classification.
        (timedelta(hours=30), timedelta(hours=34), "4 hours after classification"),
    ],
)
def test_dora_initial_is_4h_from_classification_and_at_most_24h_from_awareness(
    classified_after: timedelta, due_after: timedelta, wording: str
) -> None:
    known = facts(aware_at=AWARE, classified_major=AWARE + classified_after)
    initial = clocks("dora-art19", known)["initial"]
    assert initial.started_at == AWARE + classified_after
    assert initial.due_at == AWARE + due_after
    assert wording in initial.limb


def test_dora_intermediate_and_final_chain_on_submissions() -> None:
    known = facts(aware_at=AWARE, classified_major=AWARE + timedelta(hours=1))
    assert list(clocks("dora-art19", known)) == ["initial"]
    initial_sent = AWARE + timedelta(hours=3)
    stages = clocks("dora-art19", known, {"initial": initial_sent})
    assert stages["intermediate"].due_at == initial_sent + timedelta(hours=72)
    assert "final" not in stages
    intermediate_sent = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    submitted = {"initial": initial_sent, "intermediate": intermediate_sent}
    final = clocks("dora-art19", known, submitted)["final"]
    assert final.due_at == datetime(2026, 4, 5, 12, 0, tzinfo=UTC)
    assert final.citation == "RTS (EU) 2025/301 Art. 5(1)(c)"


# --- SEC Form 8-K Item 1.05 ------------------------------------------------------------


def sec_due(determined: datetime, **options: object) -> datetime:
    known = facts(aware_at=determined - timedelta(days=2), materiality_determined=determined)
    return clocks("sec-8k-105", known, **options)["report"].due_at  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("determined", "due"),
    [
        # Friday: Mon, Tue, Wed, Thu.
        (
            datetime(2026, 10, 16, 15, 0, tzinfo=NEW_YORK),
            datetime(2026, 10, 22, 15, 0, tzinfo=NEW_YORK),
        ),
        # Friday before Thanksgiving (Thu 26 Nov): Mon, Tue, Wed, Fri.
        (
            datetime(2026, 11, 20, 15, 0, tzinfo=NEW_YORK),
            datetime(2026, 11, 27, 15, 0, tzinfo=NEW_YORK),
        ),
        # Monday before Christmas (Fri 25 Dec): Tue, Wed, Thu, Mon.
        (
            datetime(2026, 12, 21, 9, 0, tzinfo=NEW_YORK),
            datetime(2026, 12, 28, 9, 0, tzinfo=NEW_YORK),
        ),
        # Saturday: the weekend does not count; Mon, Tue, Wed, Thu.
        (
            datetime(2026, 10, 17, 10, 0, tzinfo=NEW_YORK),
            datetime(2026, 10, 22, 10, 0, tzinfo=NEW_YORK),
        ),
    ],
)
def test_sec_8k_is_4_us_federal_business_days_after_the_materiality_determination(
    determined: datetime, due: datetime
) -> None:
    assert sec_due(determined, tz=NEW_YORK) == due


def test_sec_8k_uses_the_us_calendar_and_new_york_days_whatever_the_policy_says() -> None:
    # Ascension (Thu 14 May 2026) is a German holiday but a US business day.
    monday = datetime(2026, 5, 11, 11, 0, tzinfo=NEW_YORK)
    assert sec_due(monday, tz=BERLIN, policy_holidays="DE") == datetime(
        2026, 5, 15, 11, 0, tzinfo=NEW_YORK
    )
    # Friday 20:00 in New York is already Saturday in Berlin; the day counts in New York.
    late_friday = datetime(2026, 10, 16, 20, 0, tzinfo=NEW_YORK)
    assert sec_due(late_friday, tz=BERLIN) == datetime(2026, 10, 22, 20, 0, tzinfo=NEW_YORK)


def test_sec_8k_awaits_the_materiality_determination() -> None:
    assert clocks("sec-8k-105", facts(aware_at=AWARE)) == {}


# --- HIPAA -----------------------------------------------------------------------------

DISCOVERED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def hipaa(delay: Fact | None = None) -> dict[str, Deadline]:
    known = facts(aware_at=DISCOVERED)
    if delay is not None:
        known["law_enforcement_delay"] = delay
    return clocks("hipaa-breach", known)


def delay(start: datetime, until: datetime | None) -> Fact:
    return Fact("law_enforcement_delay", start, until=until)


def test_hipaa_is_60_calendar_days_from_discovery() -> None:
    report = hipaa()["report"]
    assert report.due_at == datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    assert report.citation == "45 CFR 164.404(b)"


@pytest.mark.parametrize(
    ("start", "until", "due"),
    [
        # Fully inside the window: ten days later.
        (
            datetime(2026, 1, 10, 9, 0, tzinfo=UTC),
            datetime(2026, 1, 20, 9, 0, tzinfo=UTC),
            datetime(2026, 3, 16, 9, 0, tzinfo=UTC),
        ),
        # Began before discovery: only the overlap (three days) counts.
        (
            datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
            datetime(2026, 1, 8, 9, 0, tzinfo=UTC),
            datetime(2026, 3, 9, 9, 0, tzinfo=UTC),
        ),
        # Began inside, ended after the original deadline: the clock stood still 19 days.
        (
            datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
            datetime(2026, 3, 20, 9, 0, tzinfo=UTC),
            datetime(2026, 3, 25, 9, 0, tzinfo=UTC),
        ),
        # Ended before discovery: nothing to toll.
        (
            datetime(2025, 12, 1, 9, 0, tzinfo=UTC),
            datetime(2025, 12, 2, 9, 0, tzinfo=UTC),
            datetime(2026, 3, 6, 9, 0, tzinfo=UTC),
        ),
    ],
)
def test_hipaa_law_enforcement_delay_tolls_the_clock(
    start: datetime, until: datetime, due: datetime
) -> None:
    report = hipaa(delay(start, until))["report"]
    assert report.due_at == due
    assert report.started_at == DISCOVERED
    if due != datetime(2026, 3, 6, 9, 0, tzinfo=UTC):
        assert "law_enforcement_delay" in report.limb


def test_hipaa_the_tolled_limb_says_by_how_much() -> None:
    start, until = datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 20, 12, tzinfo=UTC)
    assert hipaa(delay(start, until))["report"].limb.endswith(
        "; moved 1w3d12h later by law_enforcement_delay"
    )


def test_hipaa_an_open_delay_leaves_no_deadline_yet() -> None:
    assert hipaa(delay(datetime(2026, 1, 10, tzinfo=UTC), None)) == {}


def test_hipaa_a_delay_after_the_deadline_changes_nothing() -> None:
    late = delay(datetime(2026, 3, 10, tzinfo=UTC), None)
    assert hipaa(late)["report"].due_at == datetime(2026, 3, 6, 9, 0, tzinfo=UTC)


# --- Custom clocks ---------------------------------------------------------------------


def custom(binding: dict[str, object], known: Mapping[str, Fact], **kw: object) -> list[Deadline]:
    obligation = Obligation.model_validate({"owner": "incident_lead", **binding})
    tz = kw.get("tz", UTC)
    holidays = kw.get("policy_holidays")
    return deadlines("exec-briefing", obligation, None, known, {}, tz, holidays)  # type: ignore[arg-type]


def test_a_custom_clock_runs_from_its_fact() -> None:
    declared = datetime(2026, 3, 2, 23, 30, tzinfo=BERLIN)
    binding = {"within": "2h", "from": "declared"}
    assert custom(binding, facts(aware_at=AWARE)) == []
    [briefing] = custom(binding, facts(aware_at=AWARE, declared=declared))
    assert briefing == Deadline(
        obligation="exec-briefing",
        stage="report",
        citation="policy obligation 'exec-briefing'",
        started_at=declared,
        due_at=declared + timedelta(hours=2),
        limb="2h after declared (policy)",
        recipient=None,
    )


def test_a_custom_clock_defaults_to_awareness_and_the_policy_calendar() -> None:
    wednesday = datetime(2026, 5, 13, 9, 0, tzinfo=BERLIN)  # Thursday is Ascension in DE
    [due] = custom({"within": "1bd"}, facts(aware_at=wednesday), tz=BERLIN, policy_holidays="DE")
    assert due.due_at == datetime(2026, 5, 15, 9, 0, tzinfo=BERLIN)


def test_a_custom_clock_needs_within() -> None:
    with pytest.raises(ValueError, match="'exec-briefing' is not a built-in regime"):
        custom({}, facts(aware_at=AWARE))


# --- Reminders and holidays ------------------------------------------------------------


def test_reminders_at_50_80_95_percent_and_never_at_the_deadline() -> None:
    report = clocks("gdpr-art33", facts(aware_at=AWARE))["report"]
    assert reminder_times(report, [0.5, 0.8, 0.95, 1.0]) == [
        AWARE + timedelta(hours=36),
        AWARE + timedelta(hours=57, minutes=36),
        AWARE + timedelta(hours=68, minutes=24),
    ]
    assert reminder_times(report, []) == []


def test_holiday_dates() -> None:
    assert holiday_dates(None, [2026]) == frozenset()
    us = holiday_dates("US", [2026, 2027])
    assert {date(2026, 11, 26), date(2026, 12, 25), date(2027, 1, 1)} <= us
    assert date(2026, 4, 3) not in us  # Good Friday: markets close, federal offices don't
    assert date(2026, 5, 14) in holiday_dates("DE", [2026])
    assert date(2026, 2, 12) in holiday_dates("US-NY", [2026])  # Lincoln's Birthday
    with pytest.raises(ValueError, match="no holiday calendar for 'XX'"):
        holiday_dates("XX", [2026])
