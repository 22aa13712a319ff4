"""Bearer-token authentication and scope checks."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request

from escalade.engine.service import Escalade, Principal


def service(request: Request) -> Escalade:
    escalade: Escalade = request.app.state.escalade
    return escalade


def requires(*scopes: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency that admits a token whose scope grants any of `scopes`."""

    async def check(request: Request) -> Principal:
        return authorize(service(request), request.headers.get("authorization", ""), scopes)

    return check


def authorize(escalade: Escalade, header: str, scopes: tuple[str, ...]) -> Principal:
    """The principal of an `Authorization` header if it grants any of `scopes`;
    otherwise the 401 or 403 to answer, raised."""
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token:
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = escalade.authenticate(token.strip())
    if principal is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    if not any(principal.may(s) for s in scopes):
        wanted = " or ".join(scopes)
        raise HTTPException(403, f"token scope '{principal.scope}' may not do this ({wanted})")
    return principal
