"""Who is looking: sessions, sign-in and sign-out, CSRF checks, page rendering.

A session names a token by id; every request looks the token up again, so a
revoked token signs its sessions out at once. Every POST must carry the
session's CSRF token (sign-in carries a pre-session one from its own cookie).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from escalade.engine.service import Escalade, Principal
from escalade.web.sessions import COOKIE, LIFETIME, Session, seal, unseal

PREFIX = "/ui"
_SIGNIN_COOKIE = "escalade_signin"
_MAX_FORM = 200_000  # bytes

# Pages load only their own scripts and styles, so a strict policy holds.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(prefix=PREFIX, include_in_schema=False)


class SignInNeeded(Exception):
    """No live session: the page answers with a redirect to the sign-in form."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


@dataclass(frozen=True, slots=True)
class User:
    session: Session
    principal: Principal
    person: str  # whom actions are taken as

    @property
    def can_act(self) -> bool:
        return self.principal.may("responder")


def service(request: Request) -> Escalade:
    escalade: Escalade = request.app.state.escalade
    return escalade


def _key(request: Request) -> bytes:
    key: bytes = request.app.state.session_key
    return key


async def user(request: Request) -> User:
    """The signed-in user, or SignInNeeded."""
    escalade = service(request)
    session = unseal(request.cookies.get(COOKIE), _key(request), escalade.clock.now())
    principal = (
        await anyio.to_thread.run_sync(escalade.principal, session.token_id) if session else None
    )
    if session is None or principal is None or not principal.may("viewer"):
        # After signing in, come back to the page (a form's target is no page).
        raise SignInNeeded(request.url.path if request.method == "GET" else "")
    return User(session, principal, session.acting_as)


async def form(request: Request) -> dict[str, str]:
    """A urlencoded form body, one value per field (the last wins)."""
    body = await request.body()
    if len(body) > _MAX_FORM:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in fields.items()}


async def acting_user(request: Request) -> tuple[User, dict[str, str]] | Response:
    """For a POST: the user and the form, or the page that refuses it (CSRF, role)."""
    who = await user(request)
    fields = await form(request)
    if not who.session.csrf_ok(fields.get("csrf")):
        return page(request, "error.html", who, status=403, message=_CSRF_REFUSED)
    if not who.can_act:
        message = f"your token's scope ({who.principal.scope}) may look but not act"
        return page(request, "error.html", who, status=403, message=message)
    return who, fields


_CSRF_REFUSED = "the form's security token is missing or stale: reload the page and try again"


def page(
    request: Request, name: str, who: User | None, *, status: int = 200, **context: Any
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {"user": who, "csrf": who.session.csrf if who else "", "prefix": PREFIX, **context},
        status_code=status,
    )
    response.headers["Content-Security-Policy"] = CSP
    return response


def back(path: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}{path}", status_code=303)


@router.get("/signin")
async def signin_form(request: Request, next: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = page(request, "signin.html", None, signin_csrf=token, next=_safe(next))
    _cookie(response, _SIGNIN_COOKIE, token, max_age=3600)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    fields = await form(request)
    expected = request.cookies.get(_SIGNIN_COOKIE, "")
    given = fields.get("csrf", "")
    retry = {"next": _safe(fields.get("next", "")), "signin_csrf": expected}
    if not expected or not secrets.compare_digest(expected, given):
        return page(request, "signin.html", None, status=403, error=_CSRF_REFUSED, **retry)
    escalade = service(request)
    token = fields.get("token", "").strip()
    principal = await anyio.to_thread.run_sync(escalade.authenticate, token) if token else None
    if principal is None:
        error = "token: unknown or revoked token"
        return page(request, "signin.html", None, status=401, error=error, **retry)
    if not principal.may("viewer"):
        error = f"token: a token of scope '{principal.scope}' cannot open the dashboard"
        return page(request, "signin.html", None, status=403, error=error, **retry)
    try:
        person = escalade.acting_as(principal, fields.get("person", "").strip() or None)
    except PermissionError as exc:
        return page(request, "signin.html", None, status=403, error=f"person: {exc}", **retry)
    session = Session.start(principal.token_id, person, escalade.clock.now())
    response = RedirectResponse(retry["next"] or f"{PREFIX}/incidents", status_code=303)
    _cookie(response, COOKIE, seal(session, _key(request)), max_age=int(LIFETIME.total_seconds()))
    response.delete_cookie(_SIGNIN_COOKIE, path=PREFIX)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    who = await user(request)
    fields = await form(request)
    if not who.session.csrf_ok(fields.get("csrf")):
        return page(request, "error.html", who, status=403, message=_CSRF_REFUSED)
    response = back("/signin")
    response.delete_cookie(COOKIE, path=PREFIX, secure=True, httponly=True, samesite="lax")
    return response


def _cookie(response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=PREFIX, secure=True, httponly=True, samesite="lax"
    )


def _safe(target: str) -> str:
    """Only our own pages are places to go back to after signing in."""
    return target if target.startswith(f"{PREFIX}/") and "//" not in target else ""


def signin_redirect(request: Request, exc: Exception) -> Response:
    back_to = exc.back_to if isinstance(exc, SignInNeeded) else ""
    if request.headers.get("HX-Request"):
        # A poll from a page whose session ended: send the whole page to sign in,
        # not the sign-in form into the polled fragment.
        page_path = urlsplit(request.headers.get("HX-Current-URL", "")).path
        target = f"{PREFIX}/signin?next={quote(_safe(page_path))}"
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(f"{PREFIX}/signin?next={quote(back_to)}", status_code=303)
