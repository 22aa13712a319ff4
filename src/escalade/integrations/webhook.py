"""Generic webhook: any JSON body to a signal, through a per-integration mapping.

A mapping names, for each signal field, an expression over the body, in
JMESPath (the body is the document) or CEL (the body is the variable `body`):

    language: jmespath
    signal:
      kind: "'model_drift'"
      summary: alert.title
      value: metrics.psi
      subject: "{model: model.name}"
      dedup_key: alert.id
    resolve: "alert.state == 'ok'"

`resolve`, when given and true for a body, resolves the open incident of the
mapped `dedup_key` instead of ingesting a signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jmespath
import jmespath.exceptions
from pydantic import BaseModel, ConfigDict, Field

from escalade.domain.expressions import ExpressionError, compile_expression
from escalade.integrations.events import Action, Resolve, Trigger, build_signal, fail

SIGNAL_FIELDS = (
    "id",
    "kind",
    "source",
    "subject",
    "summary",
    "value",
    "labels",
    "occurred_at",
    "dedup_key",
    "details",
    "links",
)
_BODY = frozenset({"body"})


class MappingSpec(BaseModel):
    """A mapping as written by an operator (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: Literal["jmespath", "cel"] = "jmespath"
    signal: dict[str, str] = Field(min_length=1)
    resolve: str | None = None


@dataclass(frozen=True)
class BodyMapping:
    """A compiled mapping: every expression checked once, when the integration is made."""

    spec: MappingSpec
    fields: dict[str, Any]
    resolve: Any

    def evaluate(self, compiled: Any, body: object, field: str) -> object:
        if self.spec.language == "cel":
            try:
                return _plain(compiled.evaluate({"body": body}))
            except ExpressionError as exc:
                raise fail(field, str(exc)) from None
        try:
            return compiled.search(body)
        except jmespath.exceptions.JMESPathError as exc:
            raise fail(field, f"mapping failed: {exc}") from None


def compile_mapping(raw: object) -> BodyMapping:
    """Check and compile a mapping; ValueError (with the key path) when it is wrong."""
    spec = MappingSpec.model_validate(raw)
    unknown = sorted(set(spec.signal) - set(SIGNAL_FIELDS))
    if unknown:
        raise ValueError(
            f"signal.{unknown[0]}: not a signal field (expected one of {', '.join(SIGNAL_FIELDS)})"
        )
    if "kind" not in spec.signal:
        raise ValueError("signal.kind: required (a literal such as \"'drift'\" is fine)")
    if spec.resolve is not None and "dedup_key" not in spec.signal:
        raise ValueError("resolve: needs signal.dedup_key to know what to resolve")
    fields = {
        name: _compile(spec.language, src, f"signal.{name}") for name, src in spec.signal.items()
    }
    resolve = _compile(spec.language, spec.resolve, "resolve") if spec.resolve else None
    return BodyMapping(spec, fields, resolve)


def _compile(language: str, source: str, where: str) -> Any:
    try:
        if language == "cel":
            return compile_expression(source, _BODY)
        return jmespath.compile(source)
    except (ExpressionError, jmespath.exceptions.JMESPathError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def translate(data: object, mapping: BodyMapping) -> list[Action]:
    """The action for one body under `mapping`."""
    if not isinstance(data, Mapping | list):
        raise fail("(body)", "expected a JSON object or list")
    fields: dict[str, Any] = {}
    for name, compiled in mapping.fields.items():
        value = mapping.evaluate(compiled, data, f"signal.{name}")
        if value is not None:
            fields[name] = _coerce(name, value)
    if mapping.resolve is not None and mapping.evaluate(mapping.resolve, data, "resolve") is True:
        key = fields.get("dedup_key")
        if not isinstance(key, str) or not key:
            raise fail("signal.dedup_key", "the mapping found no dedup_key to resolve")
        return [Resolve(key)]
    return [Trigger(build_signal(fields, "signal."))]


def _coerce(name: str, value: object) -> object:
    """Labels and subject hold text; a number mapped to `summary` is shown as text."""
    if name in ("subject", "labels") and isinstance(value, Mapping):
        return {
            str(k): v if isinstance(v, str) else str(v) for k, v in value.items() if v is not None
        }
    if name in ("summary", "kind", "source", "dedup_key", "id") and isinstance(value, int | float):
        return str(value)
    return value


def _plain(value: object) -> object:
    """CEL results as plain Python (its maps and lists convert like dicts and lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


__all__ = ["BodyMapping", "MappingSpec", "compile_mapping", "translate"]
