"""Cross-reference checking: every name a policy mentions must be defined somewhere in it.

A :class:`~escalade.domain.policy.Policy` runs this when it is built; the loader
defers it and runs it itself, so that each problem points at its place in the text.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from escalade.domain.policy_base import Path
from escalade.domain.policy_governance import (
    BUILTIN_REGIMES,
    MofNTargets,
    ReviewDefault,
    ReviewPolicy,
)
from escalade.domain.targets import Target

if TYPE_CHECKING:  # only for annotations: policy.py imports this module
    from escalade.domain.policy import Policy

_Use = tuple[Path, str, str]


class ReferenceProblem(NamedTuple):
    """A name used at `path` (YAML keys and list indexes) that is not defined."""

    path: Path
    message: str


def reference_problems(policy: Policy) -> Iterator[ReferenceProblem]:
    """Every name used but not defined (with the closest defined one), and duplicate ids."""
    defined: dict[str, Collection[str]] = {
        "person": policy.people,
        "team": policy.teams,
        "schedule": policy.schedules,
        "role": policy.role_names(),
        "channel": policy.channels,
        "ladder": policy.ladders,
        "tier": policy.tiers,
        "template": policy.templates,
        "obligation": {*policy.obligations, *BUILTIN_REGIMES},
    }
    for path, kind, name in _uses(policy):
        if name not in defined[kind]:
            yield ReferenceProblem(
                path, f"unknown {kind} '{name}'{_closest(name, defined[kind], kind)}"
            )
    first_use: dict[str, int] = {}
    for i, rule in enumerate(policy.rules):
        if rule.id in first_use:
            message = f"duplicate rule id '{rule.id}' (also used by rules[{first_use[rule.id]}])"
            yield ReferenceProblem(("rules", i, "id"), message)
        first_use.setdefault(rule.id, i)
    for oid, obligation in policy.obligations.items():
        if oid not in BUILTIN_REGIMES and obligation.within is None:
            close = difflib.get_close_matches(oid, BUILTIN_REGIMES, n=1)
            hint = f"did you mean '{close[0]}'? Otherwise a" if close else "a"
            message = f"'{oid}' is not a built-in regime; {hint} custom clock needs 'within'"
            yield ReferenceProblem(("obligations", oid), message)


def _each(path: Path, kind: str, names: Iterable[str | Target]) -> Iterator[_Use]:
    for j, name in enumerate(names):
        if isinstance(name, Target):
            yield (*path, j), name.kind.value, name.id
        else:
            yield (*path, j), kind, name


def _uses(policy: Policy) -> Iterator[_Use]:
    """Every name the policy mentions: (where, what kind of thing, the name)."""
    for pid, person in policy.people.items():
        yield from _each(("people", pid, "contacts"), "channel", person.contacts)
    for cid, channel in policy.channels.items():
        if channel.fallback is not None:
            yield ("channels", cid, "fallback"), "channel", channel.fallback
    for tid, team in policy.teams.items():
        yield from _each(("teams", tid, "members"), "person", team.members)
    for sid, schedule in policy.schedules.items():
        yield from _each(
            ("schedules", sid, "rotation", "members"), "person", schedule.rotation.members
        )
        for j, override in enumerate(schedule.overrides):
            yield ("schedules", sid, "overrides", j, "who"), "person", override.who
    for tid, tier in policy.tiers.items():
        yield ("tiers", tid, "ladder"), "ladder", tier.ladder
    if policy.feedback is not None:
        for j, tier_id in enumerate(policy.feedback.tiers):
            yield ("feedback", "tiers", j), "tier", tier_id
    for rid, role in policy.roles.items():
        yield from _each(("roles", rid, "filled_by"), "", role.filled_by)
    for lid, ladder in policy.ladders.items():
        for j, rung in enumerate(ladder.rungs):
            yield from _each(("ladders", lid, "rungs", j, "notify"), "", rung.notify)
        yield from _each(("ladders", lid, "exhausted"), "", ladder.exhausted)
    for i, rule in enumerate(policy.rules):
        yield ("rules", i, "tier"), "tier", rule.tier
        yield from _each(("rules", i, "obligations"), "obligation", rule.obligations)
    yield ("default", "tier"), "tier", policy.default.tier
    for oid, obligation in policy.obligations.items():
        yield ("obligations", oid, "owner"), "role", obligation.owner
        if obligation.template is not None:
            yield ("obligations", oid, "template"), "template", obligation.template
    for did, decision in policy.decisions.items():
        approvers, base = decision.approvers, ("decisions", did, "approvers")
        yield from _each((*base, "any_of"), "role", approvers.any_of or ())
        yield from _each((*base, "all_of"), "role", approvers.all_of or ())
        yield from _each(
            (*base, "m_of_n", "of"), "role", approvers.m_of_n.of if approvers.m_of_n else ()
        )
        if decision.fallback is not None:
            yield ("decisions", did, "fallback"), "role", decision.fallback
    reviews: list[tuple[Path, ReviewPolicy | ReviewDefault]] = [
        *((("reviews", rid), review) for rid, review in policy.reviews.policies.items()),
        (("reviews", "default"), policy.reviews.default),
    ]
    for path, review in reviews:
        if isinstance(review.reviewers, MofNTargets):
            yield from _each((*path, "reviewers", "m_of_n", "of"), "", review.reviewers.m_of_n.of)
        elif review.reviewers is not None:
            yield from _each((*path, "reviewers"), "", review.reviewers)
        yield from _each((*path, "escalate_to"), "", review.escalate_to)
    for tid, template in policy.templates.items():
        if template.channel is not None:
            yield ("templates", tid, "channel"), "channel", template.channel
        yield from _each(("templates", tid, "to"), "", template.to)
        yield from _each(
            ("templates", tid, "requires_approval"), "role", template.requires_approval
        )


def _closest(name: str, defined: Collection[str], kind: str) -> str:
    close = difflib.get_close_matches(name, sorted(defined), n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    if not defined:
        return f"; no {kind}s are defined"
    names = sorted(defined)
    return f"; defined: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}"
