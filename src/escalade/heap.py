"""The heap a process holds once started, kept out of the garbage collector's way.

CPython's full collection walks every object it tracks. An Escalade process
holds some 140,000 once started (FastAPI, SQLAlchemy, pydantic's schemas, the
policy), nearly all of them for its whole life, and a full collection of them
took about 100 ms on the project's machine kind: under a stream of batched
signals the API process ran one or two a second, each a 100 ms stall for every
request in flight and every page due (`docs/benchmarks.md`). `settle()` moves
what exists at the end of start-up into the permanent generation that
collections skip; what is made afterwards is collected as before.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect start-up's garbage, then exempt what is left from future collections."""
    gc.collect()
    gc.freeze()
