"""Where a page of incidents ended: the (opened_at, id) of its last incident.

Incidents opened by one batch of signals share `opened_at`, so the time alone
cannot say where a page ended: the id breaks the tie, in the same order the
listing sorts by (newest first, then the greater id first).

The cursor travels as text, `<opened_at>~<id>` with the time in UTC (`Z`, so
nothing in it needs escaping but the colons). A bare `<opened_at>` is a cursor
too: every incident opened strictly before that time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_SEP = "~"


@dataclass(frozen=True, slots=True)
class Cursor:
    opened_at: datetime
    id: str = ""  # "" sorts before every id: a bare time pages strictly before it

    @property
    def text(self) -> str:
        at = self.opened_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return f"{at}{_SEP}{self.id}" if self.id else at

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor `text` names; ValueError saying what was expected."""
        at_text, _, incident_id = text.partition(_SEP)
        try:
            at: datetime | None = datetime.fromisoformat(at_text)
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise ValueError(
                "expected a previous page's next_before (<opened_at>~<incident id>) "
                f"or an ISO 8601 time with a zone, got {text!r}"
            )
        return cls(at, incident_id)


def next_cursor(page: Sequence[Mapping[str, Any]], limit: int) -> str | None:
    """The cursor of the page after `page` (incident records), None when it was the last."""
    if not page or len(page) < limit:
        return None
    last = page[-1]
    return Cursor(datetime.fromisoformat(last["opened_at"]), last["id"]).text
