"""The one place that reads the time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """Time that moves only when told to: drills and tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware start time")
        self.at = start

    def now(self) -> datetime:
        return self.at

    def move_to(self, at: datetime) -> None:
        if at < self.at:
            raise ValueError("simulated time never goes backwards")
        self.at = at
