"""YAML text to plain data that remembers where every key and value was written.

Nothing here knows the policy's models. :func:`compose` reads one file into a
:class:`Document` (data plus line and column for every key path), substituting
``${NAME}`` placeholders from a mapping the caller passes; :func:`merge` combines
several documents into one. Problems are collected, not raised, so that the loader
can report every one of them at once.

Scalars follow YAML 1.2 where YAML 1.1 surprises people: only ``true``/``false``
are booleans (``holidays: NO`` is Norway, not false), ``9:30`` is text rather than
a base-60 number, and unquoted dates stay text for the model to parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from escalade.domain.policy_base import Path, format_path

_MAX_DEPTH = 64
_MAX_NODES = 200_000
_CORE = "tag:yaml.org,2002:"
_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Loc:
    """A place in a file (1-based)."""

    file: str
    line: int
    column: int


@dataclass
class Document:
    """Plain data from one or more files, with where each key and value was written."""

    data: dict[str, Any] = field(default_factory=dict)
    values: dict[Path, Loc] = field(default_factory=dict)
    keys: dict[Path, Loc] = field(default_factory=dict)
    broken: bool = False  # the YAML could not be read at all

    def locate(self, path: Path, fallback: Loc, *, key: bool = False) -> Loc:
        """Where `path` (its key, with `key`) was written, or its nearest recorded ancestor."""
        for end in range(len(path), 0, -1):
            prefix = path[:end]
            if key and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return self.values.get((), fallback)


class Problems:
    """Problems found so far: where, at which key path, and what is wrong."""

    def __init__(self) -> None:
        self.found: list[tuple[Loc, str, str]] = []

    def add(self, loc: Loc, path: Path, message: str) -> None:
        self.found.append((loc, format_path(path), message))


def value_at(data: Any, path: Path) -> Any:
    """What plain data holds at `path`, or None if nothing is there."""
    for part in path:
        in_dict = isinstance(data, dict) and part in data
        if not in_dict and not (
            isinstance(data, list) and isinstance(part, int) and part < len(data)
        ):
            return None
        data = data[part]
    return data


# --- One file ----------------------------------------------------------------------------


def compose(name: str, text: str, env: Mapping[str, str], problems: Problems) -> Document:
    """Read the YAML `text` of file `name`; a top level that is not a mapping is a problem."""
    document = Document(broken=True)
    try:
        root = _read(text)
    except (yaml.YAMLError, RecursionError) as exc:
        loc, message = _syntax_issue(name, text, exc)
        problems.add(loc, (), f"invalid YAML: {message}")
        return document
    document.broken = False
    if root is None:
        return document  # an empty file contributes nothing
    walker = _Walker(name, env, problems, document)
    data = walker.walk(root, (), 0)
    if isinstance(data, dict):
        # `x-...` keys hold anchors for reuse elsewhere, as in Compose files.
        document.data = {k: v for k, v in data.items() if not k.startswith("x-")}
    elif not walker.gave_up:
        problems.add(
            walker.loc(root),
            (),
            "a policy file must be a mapping of sections (version:, tiers:, ...)",
        )
    return document


def _read(text: str) -> yaml.Node | None:
    loader = yaml.SafeLoader(text)  # checks for unprintable characters at once
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _syntax_issue(name: str, text: str, exc: BaseException) -> tuple[Loc, str]:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(name, mark.line + 1, mark.column + 1) if mark else Loc(name, 1, 1)
        return loc, _yaml_message(exc)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return Loc(name, line, column), f"character #x{exc.character:04x} is not allowed"
    if isinstance(exc, RecursionError):
        return Loc(name, 1, 1), "the document is nested too deeply"
    return Loc(name, 1, 1), str(exc)


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    message = exc.problem or "cannot parse this"
    if exc.context and exc.context_mark and exc.context_mark is not exc.problem_mark:
        mark = exc.context_mark
        message += f" ({exc.context} at line {mark.line + 1}, column {mark.column + 1})"
    elif exc.context:
        message += f" ({exc.context})"
    return message


def _tag(node: yaml.Node) -> str:
    return node.tag.replace(_CORE, "!!")


class _Walker:
    def __init__(
        self, name: str, env: Mapping[str, str], problems: Problems, into: Document
    ) -> None:
        self.name, self.env, self.problems, self.doc = name, env, problems, into
        self.active: set[int] = set()  # nodes being walked, to stop recursive aliases
        self.count = 0
        self.gave_up = False
        self.constructor = yaml.constructor.SafeConstructor()

    def loc(self, node: yaml.Node) -> Loc:
        return Loc(self.name, node.start_mark.line + 1, node.start_mark.column + 1)

    def walk(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.gave_up or self.count > _MAX_NODES or depth > _MAX_DEPTH:
            if not self.gave_up:
                self.gave_up = True
                self.problems.add(
                    self.loc(node), path, "the policy is too large or nested too deeply"
                )
            return None
        if id(node) in self.active:
            self.problems.add(self.loc(node), path, "an alias refers to the node that contains it")
            return None
        self.doc.values.setdefault(path, self.loc(node))
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, depth)
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _CORE + "seq":
                    self.problems.add(self.loc(node), path, f"unsupported YAML tag {_tag(node)}")
                return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
            assert isinstance(node, yaml.ScalarNode)  # the composer makes only three kinds
            return self._scalar(node, path)
        finally:
            self.active.discard(id(node))

    def _pairs(
        self, node: yaml.MappingNode, path: Path
    ) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """Entries in order; those from ``<<`` merge keys are flagged as inherited."""
        for key, value in node.value:
            if key.tag != _CORE + "merge":
                yield key, value, False
                continue
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                if isinstance(source, yaml.MappingNode) and id(source) not in self.active:
                    self.active.add(id(source))
                    yield from ((k, v, True) for k, v, _ in self._pairs(source, path))
                    self.active.discard(id(source))
                else:
                    self.problems.add(self.loc(source), path, "'<<' must merge a mapping")

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        if node.tag != _CORE + "map":
            self.problems.add(self.loc(node), path, f"unsupported YAML tag {_tag(node)}")
        result: dict[str, Any] = {}
        pairs = list(self._pairs(node, path))
        explicit = {
            key.value
            for key, _, inherited in pairs
            if not inherited and isinstance(key, yaml.ScalarNode)
        }
        for key_node, value_node, inherited in pairs:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.add(
                    self.loc(key_node), path, "a key must be plain text, not a list or mapping"
                )
                continue
            key = str(key_node.value)
            if inherited and (key in explicit or key in result):
                continue  # explicit keys override merged ones, as YAML specifies
            if key in result:
                first = self.doc.keys[(*path, key)]
                message = (
                    f"duplicate key '{key}' (first at line {first.line}, column {first.column})"
                )
                self.problems.add(self.loc(key_node), (*path, key), message)
                continue
            self.doc.keys[(*path, key)] = self.loc(key_node)
            result[key] = self.walk(value_node, (*path, key), depth + 1)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        tag, text = node.tag.removeprefix(_CORE), node.value
        if tag == "null":
            return None
        if tag == "bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if tag in ("int", "float") and ":" not in text:
            try:
                if tag == "int":
                    return self.constructor.construct_yaml_int(node)
                return self.constructor.construct_yaml_float(node)
            except ValueError:
                self.problems.add(self.loc(node), path, f"'{text}' is not a valid {tag}")
                return text
        if tag not in ("str", "bool", "int", "float", "timestamp", "value"):
            self.problems.add(self.loc(node), path, f"unsupported YAML tag {_tag(node)}")
        return self._substitute(node, path) if tag == "str" else text

    def _substitute(self, node: yaml.ScalarNode, path: Path) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name = match.group(1)
            if name is None:
                self.problems.add(
                    self.loc(node), path, "unclosed '${' (write '$${' for a literal '${')"
                )
            elif not _ENV_NAME.fullmatch(name):
                self.problems.add(
                    self.loc(node), path, f"'${{{name}}}' is not a valid variable name"
                )
            elif name not in self.env:
                self.problems.add(self.loc(node), path, f"environment variable {name} is not set")
            else:
                return self.env[name]
            return match.group(0)

        return _PLACEHOLDER.sub(replace, node.value)


# --- Several files into one --------------------------------------------------------------


def merge(documents: list[Document], problems: Problems) -> Document:
    """One document from several: top-level mappings merge key by key (a key in two files
    is a problem), lists concatenate in file order, and plain values must agree."""
    if len(documents) == 1:
        return documents[0]
    merged = Document()
    for doc in documents:
        moved: dict[str, Any] = {}  # section -> True (whole), set of entries, or index offset
        for key, value in doc.data.items():
            existing = merged.data.get(key)
            if key not in merged.data:
                # Copies, so that merging never changes a file's own data.
                merged.data[key] = value.copy() if isinstance(value, dict | list) else value
                moved[key] = True
            elif isinstance(existing, dict) and isinstance(value, dict):
                moved[key] = set()
                for entry, entry_value in value.items():
                    if entry in existing:
                        first = merged.keys[(key, entry)]
                        message = f"defined twice: also at {first.file}:{first.line}:{first.column}"
                        problems.add(doc.keys[(key, entry)], (key, entry), message)
                    else:
                        existing[entry] = entry_value
                        moved[key].add(entry)
            elif isinstance(existing, list) and isinstance(value, list):
                moved[key] = len(existing)
                existing.extend(value)
            elif existing != value or isinstance(value, dict | list):
                first = merged.keys[(key,)]
                message = f"differs from its value at {first.file}:{first.line}:{first.column}"
                problems.add(doc.keys[(key,)], (key,), message)
        for source, target in ((doc.values, merged.values), (doc.keys, merged.keys)):
            for path, loc in source.items():
                new = _moved_path(path, moved)
                if new is not None:
                    target.setdefault(new, loc)
    return merged


def _moved_path(path: Path, moved: Mapping[str, Any]) -> Path | None:
    """Where a location recorded in one file lands in the merged policy (None: dropped)."""
    if len(path) <= 1:
        return path
    how = moved.get(str(path[0]))
    if how is None:
        return None
    if how is True:
        return path
    if isinstance(how, set):
        return path if path[1] in how else None
    index = path[1]
    return (path[0], index + how, *path[2:]) if isinstance(index, int) else None
