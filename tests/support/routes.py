"""The app's route table, flattened (FastAPI includes routers lazily)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, HEAD and OPTIONS left out."""
    found = []
    for route in iter_route_contexts(app.routes):
        path = getattr(route, "path", "")
        for method in sorted((getattr(route, "methods", None) or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found
