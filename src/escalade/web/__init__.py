"""The web dashboard: server-rendered pages over the engine, under /ui."""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from escalade.web import actions, pages  # noqa: F401  (they register their routes)
from escalade.web.auth import PREFIX, SignInNeeded, router, signin_redirect

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, secret_key: str | None) -> None:
    """Add the dashboard to `app`; sessions are signed with `secret_key` (random if None)."""
    key = secret_key or secrets.token_urlsafe(32)
    app.state.session_key = key.encode()
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInNeeded, signin_redirect)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(f"{PREFIX}/incidents", status_code=303)
