"""Pydantic's validation errors about a policy, reworded for the person who wrote the YAML.

Each error becomes one problem that says what was expected, what was found, and
the closest valid name, placed at the key or value it is about.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag

from escalade.domain.policy import Path, Policy, Reviews
from escalade.domain.yaml_source import Document, Loc, Problems

_MISSING_HINTS = {
    "version": "add 'version: 1' at the top of the policy",
    "tiers": "add a 'tiers' section with at least one severity tier, most severe first",
    "ladders": "add a 'ladders' section with at least one escalation ladder",
    "default": "add 'default: {tier: <tier id>}', the tier for signals that match no rule",
}


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


def _follow(loc: tuple[str | int, ...], root: Any = Policy) -> tuple[Path, Any, Any]:
    """Turn a pydantic `loc` into the YAML path, the model holding its last key, and its type.

    Pydantic adds union tags to `loc` and the model has a field (`Reviews.policies`)
    that the YAML does not spell out; both are dropped from the path.
    """
    current: Any = root
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


def report_validation_error(
    error: Mapping[str, Any],
    doc: Document,
    fallback: Loc,
    problems: Problems,
    root: type[BaseModel] = Policy,
) -> None:
    """Add one pydantic error, reworded: what was expected, what was found, where."""
    raw = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    enough = isinstance(raw, list | dict) and len(raw) >= ctx.get("min_length", 1)
    if error["type"] == "too_short" and enough:
        return  # pydantic counts only valid items; the invalid ones are reported already
    path, owner, kind = _follow(tuple(error["loc"]), root)
    found = _found(raw)
    where = doc.locate(path, fallback)
    message: str
    match error["type"]:
        case "missing":
            name = str(path[-1]) if path else ""
            path, where = path[:-1], doc.locate(path[:-1], fallback, key=True)
            hint = _MISSING_HINTS.get(name, "") if not path else ""
            message = f"missing required key '{name}'" + (f"; {hint}" if hint else "")
        case "extra_forbidden":
            names = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
            message = f"unknown key{_suggest(path[-1], names)}"
            if not message.endswith("?") and names:
                message += f" (expected one of: {', '.join(names)})"
            where = doc.locate(path, fallback, key=True)
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
