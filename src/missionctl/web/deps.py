"""Console request plumbing: the session cookie, the logged-in user, CSRF checks, and HTML error pages."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError

from missionctl.auth.roles import Role, allows
from missionctl.deps import Ctx
from missionctl.errors import MissionControlError, PermissionDenied
from missionctl.web import render
from missionctl.web import service as accounts
from missionctl.web.service import CurrentUser, SessionPolicy

log = logging.getLogger(__name__)

SESSION_COOKIE = "mc_session"
LOGIN_CSRF_COOKIE = "mc_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """An anonymous visitor asked for a page that needs a login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def policy(ctx: Ctx) -> SessionPolicy:
    return SessionPolicy.from_settings(ctx.settings)


def secure_cookies(request: Request) -> bool:
    """Secure cookies when configured so, else when the console is reached (or published) over https."""
    settings = request.app.state.context.settings
    if settings.console_cookie_secure is not None:
        return bool(settings.console_cookie_secure)
    return request.url.scheme == "https" or settings.base_url.startswith("https://")


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure_cookies(request), path="/"
    )


def optional_user(request: Request, ctx: Ctx) -> CurrentUser | None:
    """The logged-in user behind the session cookie, or None; refreshes the idle timer once a minute."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    now = ctx.clock.now()
    with ctx.read() as session:
        user = accounts.authenticate(session, session_id=session_id, now=now, policy=policy(ctx))
    if user is not None and accounts.needs_touch(user, now):
        with ctx.write() as session:
            accounts.touch(session, session_row_id=user.session_row_id, now=now)
    request.state.console_user = user
    return user


MaybeUser = Annotated[CurrentUser | None, Depends(optional_user)]


def current_user(request: Request, user: MaybeUser) -> CurrentUser:
    """The logged-in user; an anonymous visitor is sent to the login page (and back afterwards)."""
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return user


User = Annotated[CurrentUser, Depends(current_user)]


async def checked_csrf(request: Request, user: User) -> CurrentUser:
    """The user, once the request carries their session's CSRF token (form field or header)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise PermissionDenied(
            "this form has expired or did not come from this console; reload the page and try again",
            code="csrf_failed",
        )
    return user


def require_role(role: Role) -> Callable[[CurrentUser], CurrentUser]:
    def check(user: Annotated[CurrentUser, Depends(checked_csrf)]) -> CurrentUser:
        if not allows(user.role, role):
            raise PermissionDenied(
                f"this needs the {role} role; you ({user.username}) are a {user.role}",
                details={"needed": role, "held": user.role},
            )
        return user

    return check


Poster = Annotated[CurrentUser, Depends(checked_csrf)]  # any logged-in user (log out)
Responder = Annotated[CurrentUser, Depends(require_role(Role.RESPONDER))]
Admin = Annotated[CurrentUser, Depends(require_role(Role.ADMIN))]


def safe_next(target: str | None) -> str:
    """Only a path on this server (never `//host` or a scheme) may be a post-login destination."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class PageRoute(APIRoute):
    """A route whose failures are pages: a login redirect, or a readable error with a way back."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)
            except MissionControlError as exc:
                return error_page(request, exc.http_status, exc.message, exc.code)
            except (RequestValidationError, ValidationError) as exc:
                return error_page(request, 422, _validation_message(exc), "invalid_input")

        return run


def _validation_message(exc: RequestValidationError | ValidationError) -> str:
    problems = []
    for err in exc.errors():
        field = str(err["loc"][-1]) if err.get("loc") else "input"
        problems.append(f"{field.replace('_', ' ')}: {err['msg']}")
    return "; ".join(problems) or "the form was not filled in correctly"


def error_page(request: Request, status: int, message: str, code: str) -> Response:
    user = getattr(request.state, "console_user", None)
    context = request.app.state.context
    back = request.headers.get("referer", "")
    base = str(request.base_url)
    back = back if back.startswith(base) else "/"
    return render.page(
        request,
        "errors/error.html",
        now=context.clock.now(),
        user=user,
        status_code=status,
        message=message,
        code=code,
        error_status=status,
        back=back,
    )
