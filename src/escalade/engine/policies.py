"""The running policy: loaded from a file or a directory, replaced only by a
policy that loads cleanly."""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from escalade.domain.obligations import REGIMES_FILE, holiday_dates
from escalade.domain.policy import Policy
from escalade.domain.policy_loader import PolicyError, PolicyIssue, parse_policy_with_locations
from escalade.domain.regimes import Regime, parse_catalogue
from escalade.domain.rules import RuleBook


@functools.cache
def regime_catalogue() -> Mapping[str, Regime]:
    """The regulatory regimes shipped with Escalade (domain/regimes.yaml)."""
    text = resources.files("escalade.domain").joinpath(REGIMES_FILE).read_text(encoding="utf-8")
    return parse_catalogue(text)


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    rules: RuleBook
    source: str
    digest: str
    catalogue: Mapping[str, Regime] = field(default_factory=regime_catalogue)
    files: tuple[tuple[str, str], ...] = ()  # (name, text) of each policy file


def read_sources(path: Path) -> list[tuple[str, str]]:
    """The YAML files of a policy: one file, or every *.yaml/*.yml of a directory.

    A directory's scenario files (`*.drill.yaml`, `scenarios/`) are not policy.
    """
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.suffix in (".yaml", ".yml") and ".drill." not in p.name and p.is_file()
        )
        if not files:
            raise PolicyError((PolicyIssue(str(path), 1, 1, "", "no policy files (*.yaml)"),))
    else:
        files = [path]
    try:
        return [(str(p), p.read_text(encoding="utf-8")) for p in files]
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError((PolicyIssue(str(path), 1, 1, "", f"cannot read: {exc}"),)) from exc


def load(path: Path, env: Mapping[str, str] | None = None) -> LoadedPolicy:
    sources = read_sources(path)
    policy, locate = parse_policy_with_locations(sources, os.environ if env is None else env)
    try:
        holiday_dates(policy.holidays, (2026,))
    except ValueError as exc:
        file, line, column = locate("holidays")
        raise PolicyError((PolicyIssue(file, line, column, "holidays", str(exc)),)) from exc
    digest = hashlib.sha256("\0".join(text for _, text in sources).encode()).hexdigest()
    return LoadedPolicy(policy, RuleBook(policy), str(path), digest, files=tuple(sources))


class PolicyStore:
    """Holds the current policy; `reload` swaps it only when the new one is valid."""

    def __init__(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        self._path = path
        self._env = env
        self._lock = threading.Lock()
        self._current = load(path, env)

    @property
    def current(self) -> LoadedPolicy:
        return self._current

    @property
    def path(self) -> Path:
        return self._path

    def reload(self) -> LoadedPolicy:
        """Load the file again; on any error raise PolicyError and keep the old policy."""
        fresh = load(self._path, self._env)
        with self._lock:
            self._current = fresh
        return fresh
