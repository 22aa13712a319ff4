"""Signals to incidents: which rule matches, which tier, which group.

Rules are tried in policy order and the first match wins. To keep the hot path
cheap, rules are indexed by the kinds they match so that only candidates are
tried, and `if` expressions are compiled once when the policy loads.

Rules with `when` are conditions over time. Their memory (since when a value
has held, the times of recent matching signals) lives in the database; the
engine hands it in as `WindowState` and stores the `Observation`s that come
back, so this module stays a pure function of its inputs.

- `when: {value: {gt: 0.3}, for: 10m}` matches once the value has held on every
  matching signal for 10 minutes. A signal where it does not hold resets it. A
  timer at `since + for` opens the incident then, even if no signal arrives.
- `when: {count: {at_least: 5, within: 1h}}` matches the signal that makes five
  matching signals of one group within the last hour (a sliding window).
A `when` rule that does not match lets the signal fall through to later rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escalade.domain.expressions import ExpressionError
from escalade.domain.policy import Match, Policy, Rule, When
from escalade.domain.signals import Signal


@dataclass(frozen=True, slots=True)
class WindowState:
    """What a `when` rule remembers about one group."""

    since: datetime | None = None
    hits: tuple[datetime, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    """New window state to store; `due` asks for a timer (a `for:` still running)."""

    rule_id: str
    group_key: str
    state: WindowState
    due: datetime | None = None


@dataclass(frozen=True, slots=True)
class Route:
    rule_id: str | None  # None when the policy's `default` applied
    tier: str
    type: str
    group_key: str
    silenced_by: str | None = None
    notes: tuple[str, ...] = ()
    observations: tuple[Observation, ...] = ()


StateOf = Callable[[str, str], WindowState]


def _no_history(rule_id: str, group: str) -> WindowState:
    return WindowState()


def matches(match: Match, signal: Signal) -> bool:
    if match.kind is not None and signal.kind not in match.kind:
        return False
    if match.source is not None and signal.source != match.source:
        return False
    # Most rules match on kind alone: the generators are not even started then.
    if match.subject and any(signal.subject.get(k) != v for k, v in match.subject.items()):
        return False
    return not match.labels or all(signal.labels.get(k) == v for k, v in match.labels.items())


def observe(
    when: When, state: WindowState, signal: Signal, now: datetime
) -> tuple[bool, tuple[WindowState, datetime | None]]:
    """Whether a `when` condition is met by this signal, and the state to keep."""
    if when.count is not None:
        horizon = now - when.count.within.as_timedelta()
        # The last `at_least` hits decide the count, so no more are kept.
        hits = (*(h for h in state.hits if h > horizon), now)[-when.count.at_least :]
        return len(hits) >= when.count.at_least, (WindowState(state.since, hits), None)
    assert when.value is not None and when.for_ is not None  # the model guarantees a form
    holds = signal.value is not None and when.value.holds(signal.value)
    if not holds:
        return False, (WindowState(None, state.hits), None)
    since = state.since or now
    due = since + when.for_.as_timedelta()
    return due <= now, (WindowState(since, state.hits), None if due <= now else due)


def dedup_group(dedup_key: str) -> str:
    """The group key of signals sent with `dedup_key`."""
    return f"dedup:{dedup_key}"


def group_key(rule_id: str | None, fields: tuple[str, ...], signal: Signal) -> str:
    """The key that makes signals join one incident.

    A client's `dedup_key` wins; otherwise the rule's `group_by` fields; with
    neither, signals of one kind about one subject group together.
    """
    if signal.dedup_key:
        return dedup_group(signal.dedup_key)
    paths = fields or ("kind", "subject.system", "subject.model")
    parts = ",".join(f"{p}={signal.field_value(p) or ''}" for p in paths)
    return f"{rule_id or 'default'}:{parts}"


_KINDS_KEPT = 1024  # signal kinds whose candidate rules a RuleBook remembers


class RuleBook:
    """The policy's rules, indexed for routing."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        by_kind: dict[str, list[int]] = defaultdict(list)
        any_kind: list[int] = []
        for index, rule in enumerate(policy.rules):
            kind = rule.match.kind
            if kind is None:
                any_kind.append(index)
            else:
                for k in kind:
                    by_kind[k].append(index)
        self._by_kind = {k: tuple(v) for k, v in by_kind.items()}
        self._any_kind = tuple(any_kind)
        self._candidates: dict[str, tuple[Rule, ...]] = {}

    def candidates(self, kind: str) -> tuple[Rule, ...]:
        found = self._candidates.get(kind)
        if found is None:
            indices = sorted({*self._by_kind.get(kind, ()), *self._any_kind})
            found = tuple(self._policy.rules[i] for i in indices)
            if len(self._candidates) < _KINDS_KEPT:  # kinds come from senders: bounded
                self._candidates[kind] = found
        return found

    def route(self, signal: Signal, now: datetime, state_of: StateOf = _no_history) -> Route:
        notes: list[str] = []
        observations: list[Observation] = []
        variables: dict[str, Any] = {}  # the CEL input, built when an expression needs it
        chosen: Rule | None = None
        for rule in self.candidates(signal.kind):
            if not matches(rule.match, signal):
                continue
            if rule.if_ is not None:
                variables = variables or {"signal": signal.as_expression_input()}
                try:
                    if not rule.if_.evaluate_bool(variables):
                        continue
                except ExpressionError as exc:
                    notes.append(f"rule {rule.id}: `if` could not be evaluated: {exc}")
                    continue
            if rule.when is not None:
                key = group_key(rule.id, rule.group_by, signal)
                seen, observation = observe(rule.when, state_of(rule.id, key), signal, now)
                observations.append(Observation(rule.id, key, *observation))
                if not seen:
                    continue
            chosen = rule
            break
        if chosen is None:
            default = self._policy.default
            route = Route(None, default.tier, default.type, group_key(None, (), signal))
        else:
            route = Route(
                chosen.id, chosen.tier, chosen.type, group_key(chosen.id, chosen.group_by, signal)
            )
        silenced = self.silenced_by(signal, now, variables) if self._policy.silences else None
        return Route(
            route.rule_id,
            route.tier,
            route.type,
            route.group_key,
            silenced,
            tuple(notes),
            tuple(observations),
        )

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self._policy.rules if r.id == rule_id), None)

    def silenced_by(
        self, signal: Signal, now: datetime, variables: dict[str, Any] | None = None
    ) -> str | None:
        wall = now.astimezone(self._policy.tz).replace(tzinfo=None)
        variables = variables or {"signal": signal.as_expression_input()}
        for silence in self._policy.silences:
            if not silence.from_ <= wall < silence.to or not matches(silence.match, signal):
                continue
            try:
                if silence.if_ is not None and not silence.if_.evaluate_bool(variables):
                    continue
            except ExpressionError:
                continue
            return silence.reason
        return None
