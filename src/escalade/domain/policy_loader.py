"""YAML text to a :class:`~escalade.domain.policy.Policy`, with errors that point at the text.

The loader never reads files or the environment: callers pass ``(filename, text)``
pairs and a mapping of environment variables. It composes the YAML into nodes
(which carry line and column), builds plain data while recording where every key
and value came from, substitutes ``${NAME}`` placeholders, merges several files
into one policy, validates, and reports *every* problem it found at once as a
:class:`PolicyError`. Nothing partial is returned.

Scalars follow YAML 1.2 where YAML 1.1 surprises people: only ``true``/``false``
are booleans (``holidays: NO`` is Norway, not false), ``9:30`` is text rather than
a base-60 number, and unquoted dates stay text for the model to parse.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag, ValidationError

from escalade.domain.policy import DEFER_REFERENCES, Path, Policy, Reviews, format_path

__all__ = ["PolicyError", "PolicyIssue", "parse_policy"]

_MAX_DEPTH = 64
_MAX_NODES = 200_000
_CORE = "tag:yaml.org,2002:"
_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MISSING_HINTS = {
    "version": "add 'version: 1' at the top of the policy",
    "tiers": "add a 'tiers' section with at least one severity tier, most severe first",
    "ladders": "add a 'ladders' section with at least one escalation ladder",
    "default": "add 'default: {tier: <tier id>}', the tier for signals that match no rule",
}


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


@dataclass(frozen=True, slots=True)
class _Loc:
    file: str
    line: int
    column: int


@dataclass
class _Document:
    """Plain data from one or more files, with where each key and value was written."""

    data: dict[str, Any] = field(default_factory=dict)
    values: dict[Path, _Loc] = field(default_factory=dict)
    keys: dict[Path, _Loc] = field(default_factory=dict)
    broken: bool = False  # the YAML could not be read at all


class _Problems:
    def __init__(self) -> None:
        self.found: list[tuple[_Loc, str, str]] = []

    def add(self, loc: _Loc, path: Path, message: str) -> None:
        self.found.append((loc, format_path(path), message))


def parse_policy(sources: Sequence[tuple[str, str]], env: Mapping[str, str]) -> Policy:
    """Load a policy from ``(filename, yaml_text)`` pairs; several files are merged.

    Top-level sections that are mappings merge key by key (a key defined in two
    files is an error), lists (``rules``, ``silences``) are concatenated in file
    order, and plain values (``version``, ``timezone``...) must agree.
    """
    problems = _Problems()
    if not sources:
        raise PolicyError([PolicyIssue("<policy>", 1, 1, "", "no policy files were given")])
    documents = [_compose(name, text, env, problems) for name, text in sources]
    merged = _merge(documents, problems)
    first_file = _Loc(sources[0][0], 1, 1)
    policy: Policy | None = None
    if any(doc.broken for doc in documents):
        # Validating what was read before a syntax error would only add noise.
        raise PolicyError(_sorted_issues(problems, [name for name, _ in sources]))
    try:
        policy = Policy.model_validate(merged.data, context={DEFER_REFERENCES: True})
    except ValidationError as exc:
        for error in exc.errors():
            _report(error, merged, first_file, problems)
    if policy is not None:
        for problem in policy.reference_problems():
            # A problem with a whole entry (not one of its values) points at its key.
            at_key = isinstance(_value_at(merged.data, problem.path), dict)
            loc = _locate(merged, problem.path, first_file, key=at_key)
            problems.add(loc, problem.path, problem.message)
    if problems.found or policy is None:
        raise PolicyError(_sorted_issues(problems, [name for name, _ in sources]))
    return policy


def _sorted_issues(problems: _Problems, files: list[str]) -> list[PolicyIssue]:
    issues = {
        PolicyIssue(loc.file, loc.line, loc.column, path, msg) for loc, path, msg in problems.found
    }
    order = {name: index for index, name in enumerate(files)}
    return sorted(
        issues, key=lambda i: (order.get(i.file, len(order)), i.line, i.column, i.path, i.message)
    )


# --- YAML to plain data, remembering locations -------------------------------------------


def _compose(name: str, text: str, env: Mapping[str, str], problems: _Problems) -> _Document:
    document = _Document(broken=True)
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


def _syntax_issue(name: str, text: str, exc: BaseException) -> tuple[_Loc, str]:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        loc = _Loc(name, mark.line + 1, mark.column + 1) if mark else _Loc(name, 1, 1)
        return loc, _yaml_message(exc)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return _Loc(name, line, column), f"character #x{exc.character:04x} is not allowed"
    if isinstance(exc, RecursionError):
        return _Loc(name, 1, 1), "the document is nested too deeply"
    return _Loc(name, 1, 1), str(exc)


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
        self, name: str, env: Mapping[str, str], problems: _Problems, into: _Document
    ) -> None:
        self.name, self.env, self.problems, self.doc = name, env, problems, into
        self.active: set[int] = set()  # nodes being walked, to stop recursive aliases
        self.count = 0
        self.gave_up = False
        self.constructor = yaml.constructor.SafeConstructor()

    def loc(self, node: yaml.Node) -> _Loc:
        return _Loc(self.name, node.start_mark.line + 1, node.start_mark.column + 1)

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


def _merge(documents: list[_Document], problems: _Problems) -> _Document:
    if len(documents) == 1:
        return documents[0]
    merged = _Document()
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


# --- Validation errors in plain words --------------------------------------------------------


def _locate(doc: _Document, path: Path, fallback: _Loc, *, key: bool = False) -> _Loc:
    """The recorded place of `path`, or of its nearest recorded ancestor."""
    for end in range(len(path), 0, -1):
        prefix = path[:end]
        if key and prefix in doc.keys:
            return doc.keys[prefix]
        if prefix in doc.values:
            return doc.values[prefix]
    return doc.values.get((), fallback)


def _value_at(data: Any, path: Path) -> Any:
    for part in path:
        in_dict = isinstance(data, dict) and part in data
        if not in_dict and not (
            isinstance(data, list) and isinstance(part, int) and part < len(data)
        ):
            return None
        data = data[part]
    return data


def _strip(annotation: Any) -> Any:
    """Drop Annotated and None from a type, leaving what the data must be."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _member_tag(member: Any) -> object:
    if get_origin(member) is Annotated:
        return next((m.tag for m in get_args(member)[1:] if isinstance(m, Tag)), None)
    if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
        return get_args(member.model_fields["type"].annotation)[0]
    return None


def _follow(loc: tuple[str | int, ...]) -> tuple[Path, Any, Any]:
    """Turn a pydantic `loc` into the YAML path, the model holding its last key, and its type.

    Pydantic adds union tags to `loc` and the model has a field (`Reviews.policies`)
    that the YAML does not spell out; both are dropped from the path.
    """
    current: Any = Policy
    owner: Any = None
    path: list[str | int] = []
    for part in loc:
        current = _strip(current)
        if get_origin(current) in (Union, types.UnionType):
            members = {_member_tag(m): m for m in get_args(current)}
            if part in members:
                current = members[part]
                continue
            current = None
        if isinstance(current, type) and issubclass(current, BaseModel):
            owner = current
            if current is Reviews and part == Reviews.FLATTENED:
                current = current.model_fields[part].annotation
                continue
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            found = fields.get(str(part)) or current.model_fields.get(str(part))
            current = found.annotation if found else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is tuple:
            current = get_args(current)[0]
        else:
            current = None
        path.append(part)
    return tuple(path), owner, _strip(current)


def _found(value: object) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"'{value[:60]}...'" if len(value) > 60 else f"'{value}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


_EXPECTED = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "datetime_type": "expected a local date and time like '2026-01-05T09:00'",
    "datetime_parsing": "expected a local date and time like '2026-01-05T09:00'",
    "datetime_from_date_parsing": "expected a local date and time like '2026-01-05T09:00'",
    "time_type": "expected a time of day like '09:00'",
    "time_parsing": "expected a time of day like '09:00'",
}


def _options(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _suggest(word: object, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), list(candidates), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _report(error: Mapping[str, Any], doc: _Document, fallback: _Loc, problems: _Problems) -> None:
    """Add one pydantic error, reworded: what was expected, what was found, where."""
    raw = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    enough = isinstance(raw, list | dict) and len(raw) >= ctx.get("min_length", 1)
    if error["type"] == "too_short" and enough:
        return  # pydantic counts only valid items; the invalid ones are reported already
    path, owner, kind = _follow(tuple(error["loc"]))
    found = _found(raw)
    where = _locate(doc, path, fallback)
    message: str
    match error["type"]:
        case "missing":
            name = str(path[-1]) if path else ""
            path, where = path[:-1], _locate(doc, path[:-1], fallback, key=True)
            hint = _MISSING_HINTS.get(name, "") if not path else ""
            message = f"missing required key '{name}'" + (f"; {hint}" if hint else "")
        case "extra_forbidden":
            names = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
            message = f"unknown key{_suggest(path[-1], names)}"
            if not message.endswith("?") and names:
                message += f" (expected one of: {', '.join(names)})"
            where = _locate(doc, path, fallback, key=True)
        case "literal_error":
            options = _options(str(ctx.get("expected", "")))
            message = f"expected one of {', '.join(options)}, found {found}"
            message += _suggest(raw, options)
        case "union_tag_invalid" | "union_tag_not_found":
            options = [str(_member_tag(m)) for m in get_args(kind)] or _options(
                str(ctx.get("expected_tags"))
            )
            tag = ctx.get("tag")
            message = f"unknown type '{tag}'" if tag is not None else "missing key 'type'"
            message += (
                f"; expected one of {', '.join(options)}{_suggest(tag, options) if tag else ''}"
            )
        case "too_short":
            minimum, actual = ctx.get("min_length", 1), ctx.get("actual_length", 0)
            message = (
                f"expected at least {minimum} item{'s' if minimum != 1 else ''}, found {actual}"
            )
        case "greater_than_equal" | "greater_than" | "less_than_equal" | "less_than":
            bound = next(iter(ctx.values()), "")
            words = {"greater_than_equal": "of at least", "greater_than": "above"}
            words |= {"less_than_equal": "of at most", "less_than": "below"}
            message = f"expected a number {words[error['type']]} {bound}, found {found}"
        case "value_error" | "assertion_error":
            message = str(ctx.get("error") or error["msg"])
        case kind_of_error if kind_of_error in _EXPECTED:
            message = f"{_EXPECTED[kind_of_error]}, found {found}"
            if kind_of_error == "string_type" and isinstance(raw, int | float):
                message += "; put it in quotes to use it as text"
        case _:
            message = f"{error['msg']}, found {found}"
    if path == ("version",) and error["type"] == "literal_error":
        message = f"expected 1 (this release reads policy version 1), found {found}"
    problems.add(where, path, message)
