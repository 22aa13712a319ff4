"""Error bodies that say what is wrong and where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException

from escalade.api.responses import JSONResponse


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def item_errors(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    """Errors of a list validated whole, where each location starts with the item's
    index: `prefix[i].field`, or just `field` when `prefix` is empty (one item)."""
    return [
        {
            "field": field_path(e["loc"][1:], f"{prefix}[{e['loc'][0]}]" if prefix else ""),
            "message": _message(e),
        }
        for e in exc.errors()
    ]


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    return str(error["msg"])


def problem(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


def refusal(exc: HTTPException) -> JSONResponse:
    """The problem body, with its headers, for an HTTPException (401, 403, 413, ...)."""
    name = {401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "too_large"}
    response = problem(exc.status_code, name.get(exc.status_code, "error"), str(exc.detail))
    response.headers.update(exc.headers or {})
    return response
