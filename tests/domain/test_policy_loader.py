from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalade.domain.durations import Duration
from escalade.domain.policy import BUILTIN_REGIMES, MofNTargets, Policy
from escalade.domain.policy_loader import PolicyError, PolicyIssue, parse_policy
from escalade.domain.targets import Target, TargetKind, parse_target

POLICIES = Path(__file__).resolve().parent.parent / "fixtures" / "policies"
REFERENCE_ENV = {
    "SMTP_HOST": "127.0.0.1",
    "OPS_HOOK_URL": "http://127.0.0.1:9/hook",
    "OPS_HOOK_SECRET": "s3cret",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/slack",
}
MINIMAL = (POLICIES / "minimal.yaml").read_text()


def _load(name: str, env: dict[str, str] | None = None) -> Policy:
    return parse_policy([(name, (POLICIES / name).read_text())], env or {})


def _issues(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy([("p.yaml", text)], env or {})
    return [str(issue) for issue in caught.value.issues]


def _with(extra: str) -> str:
    """The minimal policy plus more sections; `extra` starts on line 16."""
    return MINIMAL + extra


# --- The reference policy ---------------------------------------------------------------------


def test_the_reference_policy_loads() -> None:
    policy = _load("reference.yaml", REFERENCE_ENV)
    assert policy.organization == "Acme AI"
    assert policy.tz.key == "Europe/Berlin"
    assert list(policy.tiers) == ["sev1", "sev2", "sev3", "sev4"]
    assert policy.tier_order("sev1") == 0
    assert policy.tier_order("sev4") == 3
    assert policy.team_members("ml-oncall") == ("alice", "bob")
    assert policy.tiers["sev4"].ack_within == Duration(business_days=1)
    critical = policy.ladders["critical"]
    assert critical.rungs[1].notify[1] == Target(TargetKind.ROLE, "security_lead")
    assert (critical.repeat, critical.ack_expires) == (2, Duration(seconds=7200))
    hours = policy.ladders["business-hours"].hours
    assert hours is not None
    assert (hours.weekdays, hours.from_, hours.to) == (frozenset(range(5)), time(9), time(17))
    schedule = policy.schedules["ml-primary"]
    assert schedule.rotation.start == datetime(2026, 1, 5, 9, 0)
    assert schedule.overrides[0].who == "carol"
    assert policy.channels["email"].type == "email"
    drift = policy.rules[3].when
    assert drift is not None and drift.value is not None and drift.value.holds(0.31)
    assert drift.for_ == Duration(seconds=600)
    burst = policy.rules[4].when
    assert burst is not None and burst.count is not None and burst.count.at_least == 5
    assert policy.rules[1].facts["death"].evaluate_bool({"signal": {"labels": {"harm": "death"}}})
    assert policy.rules[0].sensitivity == ("personal_data",)
    assert policy.obligations["gdpr-art33"].remind_at == (0.5, 0.8, 0.95)
    assert policy.decisions["halt_data_collection"].approvers.roles == (
        "technical_lead",
        "security_lead",
        "legal_liaison",
    )
    assert policy.reviews.default.outcome == "approve"
    medical = policy.reviews.policies["medical-advice"]
    assert isinstance(medical.reviewers, MofNTargets) and medical.reviewers.m_of_n.m == 2
    assert policy.templates["customer-initial"].redact == ("personal_data", "secrets")
    assert set(policy.obligations) - set(BUILTIN_REGIMES) == {"exec-briefing"}


def test_the_reference_policy_names_each_missing_variable_at_its_line() -> None:
    with pytest.raises(PolicyError) as caught:
        _load("reference.yaml", {})
    found = [(i.line, i.path, i.message) for i in caught.value.issues]
    assert found == [
        (59, "channels.email.smtp.host", "environment variable SMTP_HOST is not set"),
        (60, "channels.ops-hook.url", "environment variable OPS_HOOK_URL is not set"),
        (60, "channels.ops-hook.secret", "environment variable OPS_HOOK_SECRET is not set"),
        (61, "channels.incidents-room.url", "environment variable SLACK_WEBHOOK_URL is not set"),
    ]


def test_a_loaded_policy_round_trips_through_json() -> None:
    policy = _load("reference.yaml", REFERENCE_ENV)
    again = Policy.model_validate_json(policy.model_dump_json())
    assert again == policy


# --- Errors, one class at a time --------------------------------------------------------------


def test_an_unknown_key_names_the_closest_valid_one_at_its_line_and_column() -> None:
    with pytest.raises(PolicyError) as caught:
        _load("unknown-key.yaml")
    assert [str(i) for i in caught.value.issues] == [
        "unknown-key.yaml:7:9: ladders.standard.rungs[0]: missing required key 'escalate_after'",
        "unknown-key.yaml:8:9: ladders.standard.rungs[0].escalate_aftr: unknown key; "
        "did you mean 'escalate_after'?",
    ]


def test_an_unknown_key_in_a_flow_mapping_points_at_the_key() -> None:
    issues = _issues(_with("rules:\n  - {id: a, tierr: sev1, type: x}\n"))
    assert "p.yaml:17:13: rules[0].tierr: unknown key; did you mean 'tier'?" in issues


def test_a_wrong_type_says_what_was_expected_and_found() -> None:
    issues = _issues(
        _with("silences:\n  - {from: '2026-01-01T00:00', to: '2026-02-01T00:00', reason: 7}\n")
    )
    assert issues == [
        "p.yaml:17:64: silences[0].reason: expected text, found the number 7; "
        "put it in quotes to use it as text"
    ]
    listed = MINIMAL.replace("alice: {name: Alice, contacts: [console]}", "[alice]")
    assert _issues(listed) == [
        "p.yaml:4:3: people: expected a mapping of keys to values, found a list"
    ]


def test_a_bad_duration_shows_valid_examples() -> None:
    [issue] = _issues(_with("grouping: {window: 5x}\n"))
    assert issue.startswith("p.yaml:16:20: grouping.window: invalid duration '5x'; expected")
    assert "'1h30m'" in issue


def test_dangling_references_name_the_closest_defined_name() -> None:
    text = MINIMAL.replace("ladder: standard}", "ladder: standrd}").replace(
        "members: [alice]", "members: [alise]"
    )
    assert _issues(text) == [
        "p.yaml:6:22: teams.oncall.members[0]: unknown person 'alise'; did you mean 'alice'?",
        "p.yaml:10:50: tiers.sev1.ladder: unknown ladder 'standrd'; did you mean 'standard'?",
    ]


def test_dangling_targets_and_roles_are_reported_per_item() -> None:
    issues = _issues(
        _with(
            "roles:\n  lead: {filled_by: [schedule:nope, channel:consol, role:lead]}\n"
            "decisions:\n  d: {approvers: {any_of: [lead, boss]}, decide_within: 5m}\n"
            "obligations:\n  gdpr-art3: {owner: lead}\n"
            "templates:\n  t: {audience: internal, body: hi, channel: mail}\n"
        )
    )
    assert issues == [
        "p.yaml:17:22: roles.lead.filled_by[0]: unknown schedule 'nope'; no schedules are defined",
        "p.yaml:17:37: roles.lead.filled_by[1]: unknown channel 'consol'; did you mean 'console'?",
        "p.yaml:19:34: decisions.d.approvers.any_of[1]: unknown role 'boss'; defined: lead",
        "p.yaml:21:3: obligations.gdpr-art3: 'gdpr-art3' is not a built-in regime; "
        "did you mean 'gdpr-art34'? Otherwise a custom clock needs 'within'",
        "p.yaml:23:46: templates.t.channel: unknown channel 'mail'; defined: console",
    ]


def test_duplicate_keys_in_one_mapping_are_errors() -> None:
    issues = _issues(_with("grouping:\n  window: 5m\n  window: 10m\n"))
    assert issues == [
        "p.yaml:18:3: grouping.window: duplicate key 'window' (first at line 17, column 3)"
    ]


def test_duplicate_rule_ids_are_errors() -> None:
    issues = _issues(
        _with(
            "rules:\n  - {id: a, tier: sev1, type: x}\n  - {id: b, tier: sev1, type: x}\n"
            "  - {id: a, tier: sev1, type: x}\n"
        )
    )
    assert issues == ["p.yaml:19:10: rules[2].id: duplicate rule id 'a' (also used by rules[0])"]


def test_a_yaml_syntax_error_is_reported_at_its_position_and_nothing_else() -> None:
    issues = _issues("version: 1\ntiers: [sev1\n")
    assert issues == [
        "p.yaml:3:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 2, column 8)"
    ]
    [bad_indent] = _issues("version: 1\n  tiers: x\n")
    assert bad_indent.startswith("p.yaml:2:8: invalid YAML: mapping values are not allowed here")


def test_bad_cel_is_reported_with_its_column() -> None:
    issues = _issues(_with("rules:\n  - {id: a, tier: sev1, type: x, if: 'signal.value >'}\n"))
    assert issues == [
        "p.yaml:17:38: rules[0].if: invalid expression at column 15: the expression ends too "
        "early (expected one of '[', '{', '(', '.', '-', '!', ...)"
    ]
    [unknown] = _issues(
        _with("reviews:\n  r: {if: 'signal.x', reviewers: [team:oncall], respond_within: 1m}\n")
    )
    assert "reviews.r.if: unknown variable 'signal'" in unknown
    assert "available here: request" in unknown


def test_a_bad_target_kind_names_the_valid_kinds() -> None:
    [issue] = _issues(MINIMAL.replace("[team:oncall]", "[teem:oncall]"))
    assert issue == (
        "p.yaml:14:19: ladders.standard.rungs[0].notify[0]: unknown target kind 'teem' in "
        "'teem:oncall'; expected one of person, team, schedule, role, channel; "
        "did you mean 'team:oncall'?"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("person:alice", Target(TargetKind.PERSON, "alice")),
        ("schedule:ml-primary", Target(TargetKind.SCHEDULE, "ml-primary")),
        (" channel:incidents-room ", Target(TargetKind.CHANNEL, "incidents-room")),
    ],
)
def test_targets_parse_and_print_as_kind_colon_id(text: str, expected: Target) -> None:
    assert parse_target(text) == expected
    assert str(parse_target(text)) == text.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("alice", "like 'person:alice'"), ("person:", "without spaces"), ("group:x", "one of person")],
)
def test_bad_targets_say_what_a_target_looks_like(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_target(text)


def test_m_of_n_must_be_between_one_and_the_number_listed() -> None:
    issues = _issues(
        _with(
            "roles:\n  a: {filled_by: [person:alice]}\n  b: {filled_by: [person:alice]}\n"
            "decisions:\n  d: {approvers: {m_of_n: {m: 3, of: [a, b]}}, decide_within: 5m}\n"
            "  e: {approvers: {m_of_n: {m: 0, of: [a]}}, decide_within: 5m}\n"
            "reviews:\n  r: {reviewers: {m_of_n: {m: 2, of: [team:oncall]}}, respond_within: 1m}\n"
        )
    )
    assert issues == [
        "p.yaml:20:27: decisions.d.approvers.m_of_n: m is 3 but 'of' lists only 2; "
        "m must be 1 to 2",
        "p.yaml:21:31: decisions.e.approvers.m_of_n.m: expected a number of at least 1, "
        "found the number 0",
        "p.yaml:23:27: reviews.r.reviewers.m_of_n: m is 2 but 'of' lists only 1; m must be 1 to 1",
    ]


def test_approvers_need_exactly_one_form() -> None:
    [issue] = _issues(
        _with("decisions:\n  d: {approvers: {any_of: [x], all_of: [y]}, decide_within: 5m}\n")
    )
    assert "exactly one of any_of, all_of or m_of_n (found any_of and all_of)" in issue


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{}", "expected either {value: {gt: 0.3}, for: 10m} or {count:"),
        ("{value: {gt: 1}, for: 1m, count: {at_least: 1, within: 1h}}", "not both"),
        ("{value: {gt: 1}}", "add 'for'"),
        ("{for: 5m}", "add 'value'"),
        ("{value: {}, for: 5m}", "at least one of gt, gte, lt, lte, eq"),
    ],
)
def test_when_needs_exactly_one_form(when: str, expected: str) -> None:
    [issue] = _issues(_with(f"rules:\n  - {{id: a, tier: sev1, type: x, when: {when}}}\n"))
    assert issue.startswith("p.yaml:17:")
    assert expected in issue


def test_an_unknown_channel_type_lists_the_valid_types() -> None:
    issues = _issues(
        _with("channels:\n  x: {type: slak, url: u}\n  y: {url: u}\n").replace(
            "channels:\n  console: {type: console}\n", ""
        )
    )
    assert issues[0] == (
        "p.yaml:15:6: channels.x: unknown type 'slak'; expected one of console, webhook, email, "
        "slack, teams, pagerduty; did you mean 'slack'?"
    )
    assert issues[1].endswith(
        "channels.y: missing key 'type'; expected one of console, webhook, "
        "email, slack, teams, pagerduty"
    )


def test_literal_values_suggest_the_closest_option() -> None:
    [issue] = _issues(
        MINIMAL.replace("ladder: standard}", "ladder: standard, postmortem: requird}")
    )
    assert issue.endswith(
        "tiers.sev1.postmortem: expected one of required, optional, none, found 'requird'; "
        "did you mean 'required'?"
    )


def test_missing_required_sections_say_what_to_add() -> None:
    issues = _issues("organization: Acme\n")
    assert (
        "p.yaml:1:1: missing required key 'default'; add 'default: {tier: <tier id>}'" in issues[0]
    )
    assert [i.split(";")[0] for i in issues[1:]] == [
        "p.yaml:1:1: missing required key 'ladders'",
        "p.yaml:1:1: missing required key 'tiers'",
        "p.yaml:1:1: missing required key 'version'",
    ]


def test_all_issues_come_at_once_sorted_by_line() -> None:
    text = MINIMAL.replace("5m, ladder", "5x, ladder").replace(
        "alice: {name: Alice", "alice: {nme: A"
    )
    lines = [issue.split(":")[1] for issue in _issues(text + "unknown: 1\n")]
    assert lines == sorted(lines, key=int)
    assert len(lines) == 4  # name missing, nme unknown, bad duration, unknown section


def test_issue_without_a_path_prints_without_one() -> None:
    assert str(PolicyIssue("p.yaml", 3, 1, "", "invalid YAML: x")) == "p.yaml:3:1: invalid YAML: x"


def test_timezones_are_checked_and_the_closest_is_suggested() -> None:
    [issue] = _issues(_with("timezone: Europe/Berln\n"))
    assert (
        issue
        == "p.yaml:16:11: timezone: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"
    )


def test_local_times_refuse_offsets() -> None:
    [issue] = _issues(
        _with("silences:\n  - {from: '2026-01-01T00:00Z', to: '2026-02-01T00:00', reason: r}\n")
    )
    assert "silences[0].from: write a local time without an offset" in issue


# --- YAML details -----------------------------------------------------------------------------


def test_placeholders_are_substituted_and_double_dollar_escapes() -> None:
    text = _with("templates:\n  t: {audience: internal, body: '${GREETING} costs $${PRICE}'}\n")
    policy = parse_policy([("p.yaml", text)], {"GREETING": "hello"})
    assert policy.templates["t"].body == "hello costs ${PRICE}"


def test_bad_placeholders_are_errors() -> None:
    issues = _issues(_with("templates:\n  t: {audience: internal, body: '${bad-name} ${open'}\n"))
    assert issues == [
        "p.yaml:17:33: templates.t.body: '${bad-name}' is not a valid variable name",
        "p.yaml:17:33: templates.t.body: unclosed '${' (write '$${' for a literal '${')",
    ]


def test_yaml_1_1_surprises_stay_text() -> None:
    text = _with(
        "holidays: NO\n"
        "organization: 2026-01-01\n"
        "ladders:\n  standard:\n"
        "    hours: {days: 'mon,wed-thu', from: 9:30, to: '17:00'}\n"
        "    rungs: [{notify: [team:oncall], escalate_after: 5m}]\n"
    ).replace(
        "ladders:\n  standard:\n    rungs:\n      - {notify: [team:oncall], escalate_after: 5m}\n",
        "",
    )
    policy = parse_policy([("p.yaml", text)], {})
    assert policy.holidays == "NO"  # Norway, not false
    assert policy.organization == "2026-01-01"
    hours = policy.ladders["standard"].hours
    assert hours is not None and hours.from_ == time(9, 30) and hours.weekdays == {0, 2, 3}


def test_anchors_merge_keys_and_x_sections_are_allowed() -> None:
    text = _with(
        "x-rung: &rung {notify: [team:oncall], escalate_after: 5m}\n"
        "rules:\n"
        "  - &base {id: a, tier: sev1, type: x}\n"
        "  - {<<: *base, id: b}\n"
    )
    policy = parse_policy([("p.yaml", text)], {})
    assert [(r.id, r.tier, r.type) for r in policy.rules] == [
        ("a", "sev1", "x"),
        ("b", "sev1", "x"),
    ]


def test_recursive_aliases_and_unsafe_tags_are_errors_not_crashes() -> None:
    issues = _issues(_with("loop: &a [*a]\n"))
    assert "p.yaml:16:7: loop[0]: an alias refers to the node that contains it" in issues
    issues = _issues(_with("organization: !!python/object:os.system x\n"))
    assert "unsupported YAML tag !!python/object:os.system" in issues[0]


def test_no_sources_is_an_error() -> None:
    with pytest.raises(PolicyError, match="no policy files"):
        parse_policy([], {})


def test_direct_construction_also_checks_references() -> None:
    data = {
        "version": 1,
        "tiers": {"sev1": {"name": "x", "ack_within": "5m", "ladder": "nope"}},
        "ladders": {"l": {"rungs": [{"notify": ["person:bob"], "escalate_after": "5m"}]}},
        "default": {"tier": "sev1"},
    }
    with pytest.raises(ValueError, match=r"tiers\.sev1\.ladder: unknown ladder 'nope'") as caught:
        Policy.model_validate(data)
    assert "ladders.l.rungs[0].notify[0]: unknown person 'bob'" in str(caught.value)


# --- Several files ----------------------------------------------------------------------------


def _split() -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in sorted((POLICIES / "split").glob("*.yaml"))]


def test_files_of_a_directory_merge_into_one_policy() -> None:
    sources = _split()
    sources[1] = (sources[1][0], sources[1][1].replace("tier: sev0", "tier: sev1"))
    policy = parse_policy(sources, {})
    assert policy.timezone == "Europe/Berlin"
    assert set(policy.people) == {"alice", "bob"}
    assert [rule.id for rule in policy.rules] == ["drift", "harm", "leak"]


def test_errors_in_merged_files_point_into_the_right_file() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_split(), {})
    [issue] = [str(i) for i in caught.value.issues]
    assert (
        issue
        == "20-escalation.yaml:12:51: rules[2].tier: unknown tier 'sev0'; did you mean 'sev1'?"
    )


def test_a_key_defined_in_two_files_names_both_places() -> None:
    sources = [
        ("a.yaml", MINIMAL),
        ("b.yaml", "timezone: UTC\npeople:\n  bob: {name: Bob}\n  alice: {name: Alice 2}\n"),
        ("c.yaml", "version: 1\ntimezone: Europe/Paris\n"),
    ]
    with pytest.raises(PolicyError) as caught:
        parse_policy(sources, {})
    assert [str(i) for i in caught.value.issues] == [
        "b.yaml:4:3: people.alice: defined twice: also at a.yaml:4:3",
        "c.yaml:2:1: timezone: differs from its value at b.yaml:1:1",
    ]


# --- Anything at all --------------------------------------------------------------------------

_FRAGMENTS = [*"abcdeftirsvlo019:-_ []{},&*!<>%$'\"\n\t#|.", "version: 1\n", "tiers:", "${a}"]
_YAMLISH = st.lists(st.sampled_from(_FRAGMENTS), max_size=80).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_YAMLISH, st.text(max_size=100), _YAMLISH.map(lambda s: MINIMAL + s)))
def test_any_text_either_loads_or_raises_policy_error(text: str) -> None:
    try:
        parse_policy([("fuzz.yaml", text)], {"a": "b"})
    except PolicyError as exc:
        assert exc.issues
        assert all(issue.line >= 1 and issue.column >= 1 for issue in exc.issues)
