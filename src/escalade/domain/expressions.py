"""CEL expressions in policies (``if:``, ``facts:``), compiled once when the policy loads.

This wraps the ``cel`` package (common-expression-language) so that the rest of the
code sees one exception type, :class:`ExpressionError`, with a message a policy
author can act on, whatever went wrong inside the evaluator.

CEL does not convert between int and double in arithmetic (``1 + 2.5`` is an
error). Callers therefore pass every signal ``value`` as a float, so that
``signal.value > 0.1`` and ``signal.value * 2.0`` behave the same for 1 and 1.0.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

import cel
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

__all__ = [
    "REQUEST_VARIABLES",
    "SIGNAL_VARIABLES",
    "Expression",
    "ExpressionError",
    "RequestExpressionField",
    "SignalExpressionField",
    "compile_expression",
]

SIGNAL_VARIABLES = frozenset({"signal"})
"""What rules, silences and facts may read."""
REQUEST_VARIABLES = frozenset({"request"})
"""What review policies may read."""

# The evaluator's own exception types, all turned into ExpressionError. Listed so a
# bug in our code (say an AttributeError) still surfaces as itself.
_EVALUATION_ERRORS = (LookupError, TypeError, ValueError, ArithmeticError, RuntimeError)
_CEL_POSITION = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_INNER_MESSAGE = re.compile(r'msg: "([^"]*)"')
_EXPECTING = re.compile(r" expecting \{([^}]*)\}")
# Macros bind a loop variable (`list.exists(x, x > 1)`), which Program.variables()
# reports as if it were free. Names found in this position are allowed.
_MACRO_BINDING = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


class ExpressionError(ValueError):
    """An expression that does not compile, or that failed on the given input."""


def _describe_syntax_error(source: str, raw: str) -> str:
    found = _CEL_POSITION.search(raw)
    if not found:
        return f"invalid expression {source!r}: {raw}"
    inner = _INNER_MESSAGE.search(found.group(3))  # some errors arrive as a Rust debug dump
    if inner:
        return f"invalid expression: {inner.group(1)}"
    line, column, detail = int(found.group(1)), int(found.group(2)), found.group(3)
    detail = detail.removeprefix("Syntax error: ")
    expecting = _EXPECTING.search(detail)
    if expecting:
        options = [option.strip() for option in expecting.group(1).split(",")]
        shown = ", ".join(options[:6]) + (", ..." if len(options) > 6 else "")
        detail = detail[: expecting.start()] + f" (expected one of {shown})"
    detail = detail.replace("mismatched input '<EOF>'", "the expression ends too early")
    where = f"column {column}" if "\n" not in source else f"line {line}, column {column}"
    return f"invalid expression at {where}: {detail}"


def _compile(source: str) -> Any:
    if not isinstance(source, str):
        raise ExpressionError(f"expected an expression as text, found {source!r}")
    try:
        return cel.compile(source)
    except ValueError as exc:
        raise ExpressionError(_describe_syntax_error(source, str(exc))) from None


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression. Equal, hashable and printable by its source."""

    source: str
    _program: Any = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # The compiled program is a cache of `source`; frozen, so set it once here.
        object.__setattr__(self, "_program", _compile(self.source))

    def __str__(self) -> str:
        return self.source

    def __reduce__(self) -> tuple[type[Expression], tuple[str]]:
        return (Expression, (self.source,))

    def __deepcopy__(self, memo: dict[int, object]) -> Expression:
        return self  # immutable, so copies can share it

    @property
    def variables(self) -> frozenset[str]:
        """Free variables the expression reads (macro loop variables excluded)."""
        bound = set(_MACRO_BINDING.findall(self.source))
        return frozenset(name for name in self._program.variables() if name not in bound)

    def evaluate(self, variables: Mapping[str, object]) -> object:
        """Run the expression; any failure is an :class:`ExpressionError`."""
        try:
            return self._program.execute(dict(variables))
        except KeyError as exc:
            raise ExpressionError(
                f"expression {self.source!r} reads a field that is not there: {exc}"
            ) from None
        except _EVALUATION_ERRORS as exc:
            raise ExpressionError(f"expression {self.source!r} failed: {exc}") from None

    def evaluate_bool(self, variables: Mapping[str, object]) -> bool:
        """Run a condition; a result other than true or false is an error."""
        result = self.evaluate(variables)
        if not isinstance(result, bool):
            raise ExpressionError(
                f"expression {self.source!r} must give true or false, gave {result!r}"
            )
        return result


def compile_expression(source: str, allowed_variables: frozenset[str]) -> Expression:
    """Compile `source`, refusing variables outside `allowed_variables`.

    Loop variables of the macros ``all``, ``exists``, ``exists_one``, ``map`` and
    ``filter`` are recognised by their position and allowed. ``cel.bind`` is not
    supported by the evaluator, so its names are not special-cased.
    """
    expression = Expression(source)
    unknown = sorted(expression.variables - allowed_variables)
    if unknown:
        name = unknown[0]
        allowed = ", ".join(sorted(allowed_variables)) or "none"
        close = difflib.get_close_matches(name, sorted(allowed_variables), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ExpressionError(
            f"unknown variable '{name}' in expression {source!r}{hint} (available here: {allowed})"
        )
    return expression


def _to_expression(value: object, allowed: frozenset[str]) -> Expression:
    if isinstance(value, Expression):
        value = value.source  # re-check: it may have been built for other variables
    if not isinstance(value, str):
        raise ExpressionError("expected a CEL expression as text")
    return compile_expression(value, allowed)


_SERIALIZER = PlainSerializer(str, return_type=str, when_used="json")
_SCHEMA = WithJsonSchema({"type": "string", "description": "a CEL expression"})

SignalExpressionField = Annotated[
    Expression,
    PlainValidator(partial(_to_expression, allowed=SIGNAL_VARIABLES)),
    _SERIALIZER,
    _SCHEMA,
]
"""A policy field holding a condition over ``signal`` (rules, silences, facts)."""
RequestExpressionField = Annotated[
    Expression,
    PlainValidator(partial(_to_expression, allowed=REQUEST_VARIABLES)),
    _SERIALIZER,
    _SCHEMA,
]
"""A policy field holding a condition over ``request`` (review policies)."""
