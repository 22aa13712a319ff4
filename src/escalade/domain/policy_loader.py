"""YAML text to a :class:`~escalade.domain.policy.Policy`, with errors that point at the text.

The loader never reads files or the environment: callers pass ``(filename, text)``
pairs and a mapping of environment variables. It composes the YAML into nodes
(which carry line and column), builds plain data while recording where every key
and value came from, substitutes ``${NAME}`` placeholders, merges several files
into one policy (:mod:`~escalade.domain.yaml_source`), validates, and reports
*every* problem it found at once as a :class:`PolicyError`, worded by
:mod:`~escalade.domain.policy_errors`. Nothing partial is returned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from escalade.domain.policy import DEFER_REFERENCES, Policy
from escalade.domain.policy_base import format_path
from escalade.domain.policy_errors import report_validation_error
from escalade.domain.yaml_source import Document, Loc, Problems, compose, merge, value_at

__all__ = ["Locate", "PolicyError", "PolicyIssue", "parse_policy", "parse_policy_with_locations"]

Locate = Callable[[str], tuple[str, int, int]]
"""Where a dotted key path (``"ladders.standard.rungs[1]"``) was written: (file, line, column)."""

_LAST_PART = re.compile(r"(\[\d+\]|\.?[^.\[]*)$")


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy, located in its text (line and column are 1-based)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(Exception):
    """A policy that cannot be loaded, with every issue found."""

    def __init__(self, issues: Sequence[PolicyIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def parse_policy(sources: Sequence[tuple[str, str]], env: Mapping[str, str]) -> Policy:
    """Load a policy from ``(filename, yaml_text)`` pairs; several files are merged.

    Top-level sections that are mappings merge key by key (a key defined in two
    files is an error), lists (``rules``, ``silences``) are concatenated in file
    order, and plain values (``version``, ``timezone``...) must agree.
    """
    return parse_policy_with_locations(sources, env)[0]


def parse_policy_with_locations(
    sources: Sequence[tuple[str, str]], env: Mapping[str, str]
) -> tuple[Policy, Locate]:
    """Like :func:`parse_policy`, and also where each key path was written.

    The locator answers for any dotted key path; a path that was not written (a
    default value) is placed at its nearest written ancestor, an entry at its key.
    """
    problems = Problems()
    if not sources:
        raise PolicyError([PolicyIssue("<policy>", 1, 1, "", "no policy files were given")])
    documents = [compose(name, text, env, problems) for name, text in sources]
    merged = merge(documents, problems)
    first_file = Loc(sources[0][0], 1, 1)
    policy: Policy | None = None
    if any(doc.broken for doc in documents):
        # Validating what was read before a syntax error would only add noise.
        raise PolicyError(_sorted_issues(problems, [name for name, _ in sources]))
    try:
        policy = Policy.model_validate(merged.data, context={DEFER_REFERENCES: True})
    except ValidationError as exc:
        for error in exc.errors():
            report_validation_error(error, merged, first_file, problems)
    if policy is not None:
        for problem in policy.reference_problems():
            # A problem with a whole entry (not one of its values) points at its key.
            at_key = isinstance(value_at(merged.data, problem.path), dict)
            loc = merged.locate(problem.path, first_file, key=at_key)
            problems.add(loc, problem.path, problem.message)
    if problems.found or policy is None:
        raise PolicyError(_sorted_issues(problems, [name for name, _ in sources]))
    return policy, _locator(merged, first_file)


def _locator(document: Document, fallback: Loc) -> Locate:
    where = {format_path(path): loc for path, loc in document.values.items()}
    # An entry is best pointed at by its key (`sev3:`), a list item by its value.
    where.update((format_path(path), loc) for path, loc in document.keys.items())

    def locate(path: str) -> tuple[str, int, int]:
        while path not in where and path:
            parent = _LAST_PART.sub("", path, count=1)
            path = parent if parent != path else ""
        loc = where.get(path, fallback)
        return loc.file, loc.line, loc.column

    return locate


def _sorted_issues(problems: Problems, files: list[str]) -> list[PolicyIssue]:
    issues = {
        PolicyIssue(loc.file, loc.line, loc.column, path, msg) for loc, path, msg in problems.found
    }
    order = {name: index for index, name in enumerate(files)}
    return sorted(
        issues, key=lambda i: (order.get(i.file, len(order)), i.line, i.column, i.path, i.message)
    )
