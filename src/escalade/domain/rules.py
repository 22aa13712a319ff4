"""Signals to incidents: which rule matches, which tier, which group.

Rules are tried in policy order and the first match wins. To keep the hot path
cheap, rules are indexed by the kinds they match so that only candidates are
tried, and `if` expressions are compiled once when the policy loads.

Rules with `when` (conditions over time) are evaluated by the engine, which
keeps the per-group history they need; this module skips them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from escalade.domain.expressions import ExpressionError
from escalade.domain.policy import Match, Policy, Rule
from escalade.domain.signals import Signal


@dataclass(frozen=True, slots=True)
class Route:
    rule_id: str | None  # None when the policy's `default` applied
    tier: str
    type: str
    group_key: str
    silenced_by: str | None = None
    notes: tuple[str, ...] = ()


def matches(match: Match, signal: Signal) -> bool:
    if match.kind is not None:
        kinds = (match.kind,) if isinstance(match.kind, str) else match.kind
        if signal.kind not in kinds:
            return False
    if match.source is not None and signal.source != match.source:
        return False
    if any(signal.subject.get(k) != v for k, v in match.subject.items()):
        return False
    return all(signal.labels.get(k) == v for k, v in match.labels.items())


def group_key(rule_id: str | None, fields: tuple[str, ...], signal: Signal) -> str:
    """The key that makes signals join one incident.

    A client's `dedup_key` wins; otherwise the rule's `group_by` fields; with
    neither, signals of one kind about one subject group together.
    """
    if signal.dedup_key:
        return f"dedup:{signal.dedup_key}"
    paths = fields or ("kind", "subject.system", "subject.model")
    parts = ",".join(f"{p}={signal.field_value(p) or ''}" for p in paths)
    return f"{rule_id or 'default'}:{parts}"


class RuleBook:
    """The policy's rules, indexed for routing."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        by_kind: dict[str, list[int]] = defaultdict(list)
        any_kind: list[int] = []
        for index, rule in enumerate(policy.rules):
            if rule.when is not None:
                continue
            kind = rule.match.kind
            if kind is None:
                any_kind.append(index)
            else:
                for k in (kind,) if isinstance(kind, str) else kind:
                    by_kind[k].append(index)
        self._by_kind = {k: tuple(v) for k, v in by_kind.items()}
        self._any_kind = tuple(any_kind)

    def candidates(self, kind: str) -> list[Rule]:
        indices = sorted({*self._by_kind.get(kind, ()), *self._any_kind})
        return [self._policy.rules[i] for i in indices]

    def route(self, signal: Signal, now: datetime) -> Route:
        notes: list[str] = []
        variables = {"signal": signal.as_expression_input()}
        chosen: Rule | None = None
        for rule in self.candidates(signal.kind):
            if not matches(rule.match, signal):
                continue
            if rule.if_ is not None:
                try:
                    if not rule.if_.evaluate_bool(variables):
                        continue
                except ExpressionError as exc:
                    notes.append(f"rule {rule.id}: `if` could not be evaluated: {exc}")
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
        silenced = self.silenced_by(signal, now)
        return Route(route.rule_id, route.tier, route.type, route.group_key, silenced, tuple(notes))

    def silenced_by(self, signal: Signal, now: datetime) -> str | None:
        wall = now.astimezone(self._policy.tz).replace(tzinfo=None)
        variables = {"signal": signal.as_expression_input()}
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
