"""Policy lint: a valid policy that would still fail people when it matters.

`escalade policy check` answers "does this load?"; :func:`lint` answers "will
anyone be paged?". It looks for ladders that end with nobody reachable, on-call
gaps in the weeks ahead, tiers no rule reaches, roles nobody fills, decisions
without a fallback, obligations without an owner, and people who are notified
but cannot be reached. Each :class:`Finding` names where in the file to look and
how to fix it.

Reachability is static: a team reaches its members, a schedule everyone it may
put on call, and ``role:X`` whoever ``roles.X.filled_by`` may pick, but only in
incidents whose tier lists the role, because only those roles are filled. A
person counts as reachable when they have a contact. A ``channel:`` target
broadcasts to a room and reaches no one in particular.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Literal

from escalade.domain.policy import (
    MofNTargets,
    Path,
    Policy,
    ReviewDefault,
    ReviewPolicy,
    Schedule,
    format_path,
)
from escalade.domain.schedules import handoffs, on_call, schedule_zone
from escalade.domain.targets import Target, TargetKind

__all__ = ["HORIZON", "Finding", "Locate", "lint"]

Locate = Callable[[str], tuple[str, int, int]]
"""Where a dotted key path (``"ladders.standard.rungs[1]"``) was written: (file, line, column)."""

HORIZON = timedelta(weeks=8)
"""How far ahead schedules are checked for gaps."""

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, at a place in the policy text, with a way to fix it."""

    severity: Severity
    file: str
    line: int
    column: int
    path: str  # the key path, e.g. "ladders.standard.rungs[1]"
    message: str
    hint: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.severity}: {self.message} (hint: {self.hint})"


def lint(policy: Policy, locate: Locate, now: datetime) -> list[Finding]:
    """Every finding for `policy`, schedules checked from the aware instant `now`."""
    linter = _Linter(policy, locate)
    linter.ladders()
    linter.schedules(now)
    linter.tiers()
    linter.roles()
    linter.decisions()
    linter.obligations()
    linter.people()
    return sorted(
        linter.found, key=lambda f: (f.file, f.line, f.column, f.severity, f.path, f.message)
    )


def _target_fields(policy: Policy) -> Iterator[tuple[Path, Target]]:
    """Every target the policy names, with where it is named."""
    for lid, ladder in policy.ladders.items():
        for j, rung in enumerate(ladder.rungs):
            for k, target in enumerate(rung.notify):
                yield ("ladders", lid, "rungs", j, "notify", k), target
        for k, target in enumerate(ladder.exhausted):
            yield ("ladders", lid, "exhausted", k), target
    for rid, role in policy.roles.items():
        for k, target in enumerate(role.filled_by):
            yield ("roles", rid, "filled_by", k), target
    reviews: list[tuple[str, ReviewPolicy | ReviewDefault]] = [
        *policy.reviews.policies.items(),
        ("default", policy.reviews.default),
    ]
    for rid, review in reviews:
        base: Path = ("reviews", rid)
        if isinstance(review.reviewers, MofNTargets):
            for k, target in enumerate(review.reviewers.m_of_n.of):
                yield (*base, "reviewers", "m_of_n", "of", k), target
        elif review.reviewers is not None:
            for k, target in enumerate(review.reviewers):
                yield (*base, "reviewers", k), target
        for k, target in enumerate(review.escalate_to):
            yield (*base, "escalate_to", k), target
    for tid, template in policy.templates.items():
        for k, target in enumerate(template.to):
            yield ("templates", tid, "to", k), target


def _role_uses(policy: Policy) -> Iterator[tuple[Path, str]]:
    """Every place a role is named, whatever the form."""
    for tid, tier in policy.tiers.items():
        for k, role in enumerate(tier.roles):
            yield ("tiers", tid, "roles", k), role
    for path, target in _target_fields(policy):
        if target.kind is TargetKind.ROLE:
            yield path, target.id
    for oid, obligation in policy.obligations.items():
        yield ("obligations", oid, "owner"), obligation.owner
    for did, decision in policy.decisions.items():
        approvers = decision.approvers
        for form, names in (
            (("any_of",), approvers.any_of or ()),
            (("all_of",), approvers.all_of or ()),
            (("m_of_n", "of"), approvers.m_of_n.of if approvers.m_of_n else ()),
        ):
            for k, role in enumerate(names):
                yield ("decisions", did, "approvers", *form, k), role
        if decision.fallback is not None:
            yield ("decisions", did, "fallback"), decision.fallback
    for tid, template in policy.templates.items():
        for k, role in enumerate(template.requires_approval):
            yield ("templates", tid, "requires_approval", k), role


def _local(instant: datetime, schedule: Schedule, policy: Policy) -> str:
    return instant.astimezone(schedule_zone(schedule, policy)).strftime("%Y-%m-%d %H:%M")


class _Linter:
    def __init__(self, policy: Policy, locate: Locate) -> None:
        self.policy = policy
        self.locate = locate
        self.found: list[Finding] = []

    def add(self, severity: Severity, path: Path, message: str, hint: str) -> None:
        dotted = format_path(path)
        file, line, column = self.locate(dotted)
        self.found.append(Finding(severity, file, line, column, dotted, message, hint))

    # --- Who a target reaches -----------------------------------------------------------

    def people_of(
        self, target: Target, roles: Collection[str] | None, seen: frozenset[str] = frozenset()
    ) -> set[str]:
        """Everyone `target` may stand for; `roles` are those filled (None: all)."""
        policy = self.policy
        if target.kind is TargetKind.PERSON:
            return {target.id}
        if target.kind is TargetKind.TEAM:
            return set(policy.teams[target.id].members)
        if target.kind is TargetKind.SCHEDULE:
            schedule = policy.schedules[target.id]
            return {*schedule.rotation.members, *(o.who for o in schedule.overrides)}
        if target.kind is TargetKind.ROLE:
            spec = policy.roles.get(target.id)
            if spec is None or target.id in seen or (roles is not None and target.id not in roles):
                return set()
            inner = seen | {target.id}
            return {p for t in spec.filled_by for p in self.people_of(t, None, inner)}
        return set()  # a channel: a room, not a person

    def reachable(self, targets: Collection[Target], roles: Collection[str] | None) -> set[str]:
        people = {p for t in targets for p in self.people_of(t, roles)}
        return {p for p in people if self.policy.people[p].contacts}

    # --- Checks -------------------------------------------------------------------------

    def ladders(self) -> None:
        users: dict[str, list[str]] = {}
        for tid, tier in self.policy.tiers.items():
            users.setdefault(tier.ladder, []).append(tid)
        for lid, ladder in self.policy.ladders.items():
            tiers = users.get(lid, [])
            contexts: list[tuple[str, Collection[str] | None]] = [
                (tid, self.policy.tiers[tid].roles) for tid in tiers
            ] or [("", None)]
            self._role_targets(lid, tiers)
            last = len(ladder.rungs) - 1
            ends_dead = [
                tid
                for tid, roles in contexts
                if not self.reachable((*ladder.rungs[-1].notify, *ladder.exhausted), roles)
            ]
            if ends_dead:
                self.add(
                    "error",
                    ("ladders", lid),
                    f"ladder '{lid}' ends with nobody reachable{_for_tiers(ends_dead)}: its last "
                    "rung and 'exhausted' reach no person with a contact",
                    f"add a team or person with contacts to ladders.{lid}.exhausted "
                    "or to its last rung",
                )
            for j, rung in enumerate(ladder.rungs):
                if j == last and ends_dead:
                    continue
                if any(t.kind is TargetKind.CHANNEL for t in rung.notify):
                    continue  # a room is told, even if no one in particular is paged
                dead = [tid for tid, roles in contexts if not self.reachable(rung.notify, roles)]
                if dead:
                    self.add(
                        "error",
                        ("ladders", lid, "rungs", j),
                        f"rung {j + 1} of ladder '{lid}' reaches nobody{_for_tiers(dead)}",
                        "notify a team, schedule or person with contacts on this rung",
                    )

    def _role_targets(self, lid: str, tiers: list[str]) -> None:
        ladder = self.policy.ladders[lid]
        targets: list[tuple[Path, Target]] = [
            (("ladders", lid, "rungs", j, "notify", k), t)
            for j, rung in enumerate(ladder.rungs)
            for k, t in enumerate(rung.notify)
        ]
        targets += [(("ladders", lid, "exhausted", k), t) for k, t in enumerate(ladder.exhausted)]
        for path, target in targets:
            if target.kind is not TargetKind.ROLE:
                continue
            missing = [tid for tid in tiers if target.id not in self.policy.tiers[tid].roles]
            if missing:
                self.add(
                    "warning",
                    path,
                    f"{target} reaches nobody{_for_tiers(missing)}: roles are filled only when "
                    "the incident's tier lists them",
                    f"add '{target.id}' to tiers.{missing[0]}.roles, or notify a team or "
                    "schedule instead",
                )

    def schedules(self, now: datetime) -> None:
        end = now + HORIZON
        for sid, schedule in self.policy.schedules.items():
            tz = schedule_zone(schedule, self.policy)
            points = [now, *handoffs(schedule, tz, now, end), end]
            gaps: dict[str | None, list[tuple[datetime, datetime]]] = {}
            for start, stop in pairwise(points):
                if start >= stop:
                    continue
                who = on_call(schedule, tz, start)
                if who is not None and self.policy.people[who].contacts:
                    continue
                spans = gaps.setdefault(who, [])
                if spans and spans[-1][1] == start:
                    spans[-1] = (spans[-1][0], stop)
                else:
                    spans.append((start, stop))
            for who, spans in gaps.items():
                self._gap(sid, schedule, who, spans)

    def _gap(
        self, sid: str, schedule: Schedule, who: str | None, spans: list[tuple[datetime, datetime]]
    ) -> None:
        first_start, first_end = spans[0]
        more = f" and {len(spans) - 1} more time(s) in the next 8 weeks" if len(spans) > 1 else ""
        when = (
            f"from {_local(first_start, schedule, self.policy)} "
            f"to {_local(first_end, schedule, self.policy)}{more}"
        )
        if who is None:
            path: Path = ("schedules", sid, "rotation", "members")
            why, hint = (
                "nobody is on call",
                "add members to the rotation or cover it with an override",
            )
        else:
            path = self._holder_path(sid, schedule, who, first_start)
            why = f"{who} is on call and has no contacts"
            hint = (
                f"give {who} a contact (people.{who}.contacts) or cover the time with an override"
            )
        self.add("error", path, f"schedule '{sid}' reaches nobody {when}: {why}", hint)

    def _holder_path(self, sid: str, schedule: Schedule, who: str, at: datetime) -> Path:
        wall = at.astimezone(schedule_zone(schedule, self.policy)).replace(tzinfo=None)
        for i in reversed(range(len(schedule.overrides))):
            override = schedule.overrides[i]
            if override.from_ <= wall < override.to:
                return ("schedules", sid, "overrides", i, "who")
        if who not in schedule.rotation.members:
            return ("schedules", sid)
        return ("schedules", sid, "rotation", "members", schedule.rotation.members.index(who))

    def tiers(self) -> None:
        reached = {rule.tier for rule in self.policy.rules} | {self.policy.default.tier}
        for tid in self.policy.tiers:
            if tid not in reached:
                self.add(
                    "warning",
                    ("tiers", tid),
                    f"tier '{tid}' is reached by no rule and is not the default's tier",
                    f"route signals to it with a rule ('tier: {tid}'), or remove it",
                )

    def roles(self) -> None:
        for rid, role in self.policy.roles.items():
            if not self.reachable(role.filled_by, None):
                self.add(
                    "error",
                    ("roles", rid),
                    f"role '{rid}' can be filled by nobody: filled_by reaches no person "
                    "with a contact",
                    f"add a team, schedule or person with contacts to roles.{rid}.filled_by",
                )
        uses: dict[str, list[Path]] = {}
        for path, name in _role_uses(self.policy):
            if name not in self.policy.roles:
                uses.setdefault(name, []).append(path)
        for name, paths in uses.items():
            others = f" (and {len(paths) - 1} more place(s))" if len(paths) > 1 else ""
            self.add(
                "error",
                paths[0],
                f"role '{name}' is used here{others} but has no entry under 'roles', "
                "so nobody ever fills it",
                f"add 'roles: {{{name}: {{filled_by: [team:...]}}}}'",
            )

    def decisions(self) -> None:
        for did, decision in self.policy.decisions.items():
            if decision.fallback is None:
                self.add(
                    "warning",
                    ("decisions", did),
                    f"decision '{did}' has no fallback: a request nobody decides within "
                    f"{decision.decide_within} is left waiting",
                    f"add 'fallback: <role>' to decisions.{did}, e.g. an executive sponsor",
                )

    def obligations(self) -> None:
        for oid, obligation in self.policy.obligations.items():
            owner, path = obligation.owner, ("obligations", oid, "owner")
            if not any(owner in tier.roles for tier in self.policy.tiers.values()):
                raising = sorted(
                    {rule.tier for rule in self.policy.rules if oid in rule.obligations}
                )
                where = f"tiers.{raising[0]}.roles" if raising else "the roles of its tiers"
                self.add(
                    "error",
                    path,
                    f"obligation '{oid}' is owned by role '{owner}', which no tier includes, "
                    "so no incident ever has its owner",
                    f"add '{owner}' to {where}",
                )
            spec = self.policy.roles.get(owner)
            if spec is None or not self.reachable(spec.filled_by, None):
                why = "has no entry under 'roles'" if spec is None else "reaches no one"
                self.add(
                    "error",
                    path,
                    f"obligation '{oid}' is owned by role '{owner}', which nobody can fill "
                    f"(the role {why})",
                    f"add a team or person with contacts to roles.{owner}.filled_by",
                )

    def people(self) -> None:
        via: dict[str, tuple[Target, Path]] = {}
        for path, target in _target_fields(self.policy):
            for person in sorted(self.people_of(target, None)):
                via.setdefault(person, (target, path))
        for pid, (target, path) in via.items():
            if self.policy.people[pid].contacts:
                continue
            how = "directly" if target.kind is TargetKind.PERSON else f"via {target}"
            self.add(
                "warning",
                ("people", pid),
                f"person '{pid}' has no contacts but is notified {how} ({format_path(path)})",
                f"add 'contacts: [<channel>]' to people.{pid}",
            )


def _for_tiers(tiers: list[str]) -> str:
    tiers = [t for t in tiers if t]
    if not tiers:
        return ""
    return f" in tier{'s' if len(tiers) > 1 else ''} {', '.join(tiers)}"
