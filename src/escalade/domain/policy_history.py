"""Policy history: what changed between two versions of the policy files.

Part of the pure core. A policy is one or more YAML files; a version is their
texts. The diff is a unified diff per file, in file order, with files that were
added or removed shown against nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

Sources = Sequence[tuple[str, str]]  # (file name, text)


def diff(
    before: Sources, after: Sources, *, label_before: str = "before", label_after: str = "after"
) -> str:
    """A unified diff of two policies; empty when they are the same."""
    old, new = dict(before), dict(after)
    if len(old) == len(new) == 1 and old.keys() != new.keys():
        # One file on each side under different paths: compare the texts.
        pairs = [(next(iter(old)), next(iter(new)))]
    else:
        pairs = [(name, name) for name in sorted(set(old) | set(new))]
    parts: list[str] = []
    for left, right in pairs:
        lines = difflib.unified_diff(
            old.get(left, "").splitlines(keepends=True),
            new.get(right, "").splitlines(keepends=True),
            fromfile=f"{left} ({label_before})" if left in old else "/dev/null",
            tofile=f"{right} ({label_after})" if right in new else "/dev/null",
        )
        parts.extend(line if line.endswith("\n") else line + "\n" for line in lines)
    return "".join(parts)


def changed_lines(text: str) -> tuple[int, int]:
    """(added, removed) lines of a unified diff."""
    added = removed = 0
    for line in text.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed
