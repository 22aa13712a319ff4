"""The catalogue of regulatory regimes: what each clock counts from, how long, for whom.

The catalogue is data (``regimes.yaml``, shipped next to this module); this module
only reads its text into frozen models and checks it. A regime has ordered stages;
each stage starts at an incident fact (``from``, ``aware_at`` by default) or at the
submission of an earlier stage (``after``), and has limbs: alternative time limits,
each applying when one of its ``when_any`` facts holds. The shortest applicable limb
wins, which is how AI Act Art. 73(2)/(3)/(4) reads.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from escalade.domain.durations import DurationField
from escalade.domain.policy_base import Path
from escalade.domain.yaml_source import Loc, Problems, compose

__all__ = ["Limb", "LongStop", "Regime", "Stage", "parse_catalogue"]

DEFAULT_START = "aware_at"
"""The fact a stage counts from unless it names another: when the incident opened."""


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)


class Limb(_Entry):
    """One time limit of a stage: calendar time, business days, or calendar months."""

    within: DurationField | None = None
    months: int | None = Field(default=None, ge=1, le=120)
    when_any: tuple[str, ...] = ()  # applies when one of these facts holds; () always
    label: str = Field(min_length=1)  # for people: "death of a person: 10 days (Art. 73(4))"

    @model_validator(mode="after")
    def _one_span(self) -> Self:
        if (self.within is None) == (self.months is None):
            raise ValueError("give exactly one of 'within' (e.g. '72h', '4bd') or 'months'")
        return self

    def applies(self, holds: Callable[[str], bool]) -> bool:
        """True when unconditional or when one of its facts holds."""
        return not self.when_any or any(holds(name) for name in self.when_any)


class LongStop(_Entry):
    """A later fact-independent cap: the stage is due no later than `within` after
    `from`, unless that moment had already passed when the stage started."""

    within: DurationField
    from_: str = Field(alias="from")
    label: str = Field(min_length=1)


class Stage(_Entry):
    id: str = Field(min_length=1)
    from_: str | None = Field(default=None, alias="from")
    after: str | None = None  # a chained stage starts when this earlier stage is submitted
    limbs: tuple[Limb, ...] = Field(min_length=1)
    long_stop: LongStop | None = None
    tolled_by: str | None = None  # a fact with `at` and `until` that pauses the clock
    indicative: bool = False  # no statutory limit; the window is a recommendation
    citation: str | None = None  # when more precise than the regime's
    recipient: str | None = None
    verify: str | None = None  # what to check against the primary text

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.from_ is not None and self.after is not None:
            raise ValueError(
                "a stage starts at a fact ('from') or after a stage ('after'), not both"
            )
        defaults = [limb for limb in self.limbs if not limb.when_any]
        if len(defaults) != 1:
            raise ValueError(
                f"a stage needs exactly one limb without 'when_any' (found {len(defaults)})"
            )
        return self

    @property
    def start_fact(self) -> str | None:
        """The fact this stage counts from; None for a stage chained with `after`."""
        return None if self.after is not None else (self.from_ or DEFAULT_START)


class Regime(_Entry):
    title: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    recipient: str = Field(min_length=1)
    holidays: str | None = None  # the regime's own business-day calendar (country code)
    timezone: str | None = None  # where its business days are counted
    stages: tuple[Stage, ...] = Field(min_length=1)
    verify: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @model_validator(mode="after")
    def _chain(self) -> Self:
        seen: list[str] = []
        for stage in self.stages:
            if stage.id in seen:
                raise ValueError(f"stage '{stage.id}' appears twice")
            if stage.after is not None and stage.after not in seen:
                raise ValueError(
                    f"stage '{stage.id}' comes after '{stage.after}', which is not an earlier "
                    f"stage (earlier: {', '.join(seen) or 'none'})"
                )
            seen.append(stage.id)
        return self

    @property
    def tz(self) -> zoneinfo.ZoneInfo | None:
        return zoneinfo.ZoneInfo(self.timezone) if self.timezone else None


class _Catalogue(_Entry):
    version: int = Field(ge=1, le=1)
    regimes: dict[str, Regime] = Field(min_length=1)


def parse_catalogue(text: str, name: str = "regimes.yaml") -> dict[str, Regime]:
    """Read the catalogue's YAML text; ValueError lists every problem with its place."""
    problems = Problems()
    document = compose(name, text, {}, problems)
    if not problems.found:
        try:
            return dict(_Catalogue.model_validate(document.data).regimes)
        except ValidationError as exc:
            fallback = Loc(name, 1, 1)
            for error in exc.errors():
                path: Path = tuple(part for part in error["loc"] if isinstance(part, str | int))
                loc = document.locate(path, fallback, key=error["type"] == "extra_forbidden")
                problems.add(loc, path, _message(error))
    lines = [
        f"{loc.file}:{loc.line}:{loc.column}: {path or '(top level)'}: {message}"
        for loc, path, message in problems.found
    ]
    raise ValueError("the regime catalogue is malformed:\n  " + "\n  ".join(lines))


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")
