"""The console's pages: log in and out, what needs me now, runbooks and on call.

Incident pages live in `web/incidents.py`, the live streams in `web/live.py`, reports in
`web/reports.py` and the public status page in `web/status.py`; this module assembles them into one
router. Each route opens one transaction, like the API's, and renders a template.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from missionctl.catalog import models as catalog_models
from missionctl.catalog import service as catalog
from missionctl.deps import Ctx
from missionctl.oncall.resolve import next_handoffs, on_call_at
from missionctl.web import actions, analyzer, incidents, live, queries, releases, render, reports, status, svg
from missionctl.web import service as accounts
from missionctl.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    MaybeUser,
    PageRoute,
    Poster,
    User,
    policy,
    safe_next,
    set_cookie,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False, default_response_class=HTMLResponse)
router.include_router(incidents.router)
router.include_router(actions.router)
router.include_router(releases.router)
router.include_router(analyzer.router)
router.include_router(live.router)
router.include_router(reports.router)
router.include_router(status.router)

LOGIN_FAILED = "Wrong username or password. After {n} failed attempts in a row an account is locked for {m} minutes."
HANDOFFS_SHOWN = 3


def static_files() -> StaticFiles:
    """The console's hand-written CSS and JavaScript, to mount at /static."""
    return StaticFiles(directory=render.STATIC)


@router.get("/login")
def login_form(request: Request, ctx: Ctx, user: MaybeUser, next: str = "/") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, ctx, next=safe_next(next))


def _login_page(request: Request, ctx: Ctx, *, next: str, error: str = "", username: str = "") -> Response:
    # Login CSRF: a double-submit token, since there is no session yet to hold a synchroniser token.
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render.page(
        request,
        "auth/login.html",
        now=ctx.clock.now(),
        status_code=401 if error else 200,
        login_csrf=token,
        next=next,
        error=error,
        username=username,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/login")
def log_in(
    request: Request,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password; on success start a session (a fresh id, so no fixation) and go where asked."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
        return _login_page(request, ctx, next=safe_next(next), error="The form expired; please log in again.")
    rules = policy(ctx)
    with ctx.write() as session:
        now = ctx.clock.now()
        issued = accounts.log_in(session, username=username.strip(), password=password, now=now, policy=rules)
    if issued is None:
        message = LOGIN_FAILED.format(n=rules.max_failures, m=int(rules.lockout.total_seconds() // 60))
        return _login_page(request, ctx, next=safe_next(next), error=message, username=username)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, issued.session_id, max_age=int(rules.lifetime.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def log_out(request: Request, ctx: Ctx, _: Poster) -> Response:
    with ctx.write() as session:
        accounts.log_out(session, session_id=request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request, ctx: Ctx, user: User) -> Response:
    """What needs me now: incidents I'm on, nobody has acknowledged, or whose stakeholders wait for news."""
    now = ctx.clock.now()
    with ctx.read() as session:
        view = queries.needs_me(session, username=user.username, now=now)
        services = queries.service_names(session)
        version = queries.list_version(session)
    return render.page(
        request,
        "home/index.html",
        now=now,
        user=user,
        view=view,
        live_version=version,
        declare=incidents.declare_options(ctx, services),
    )


@router.get("/runbooks")
def runbook_list(request: Request, ctx: Ctx, user: User) -> Response:
    return render.page(request, "runbooks/list.html", now=ctx.clock.now(), user=user, runbooks=ctx.runbooks.all())


@router.get("/runbooks/{runbook_id}")
def runbook_page(runbook_id: str, request: Request, ctx: Ctx, user: User) -> Response:
    loaded = ctx.runbooks.get(runbook_id)
    drawing = Markup(svg.runbook_path(loaded.runbook))  # noqa: S704 - every runbook string in it is escaped
    return render.page(request, "runbooks/detail.html", now=ctx.clock.now(), user=user, loaded=loaded, drawing=drawing)


@router.get("/oncall")
def oncall(request: Request, ctx: Ctx, user: User) -> Response:
    """Who is on call now in each schedule, the next hand-offs, and overrides still to come."""
    now = ctx.clock.now()
    with ctx.read() as session:
        names = {p.id: p.name for p in catalog.list_all(session, model=catalog_models.Person)}
        teams = catalog.list_all(session, model=catalog_models.Team)
        specs = [catalog.schedule_spec(row) for row in catalog.list_all(session, model=catalog_models.Schedule)]
    schedules = [
        {
            "spec": spec,
            "teams": [t.name for t in teams if t.schedule_id == spec.id],
            "now": on_call_at(spec, now),
            "handoffs": next_handoffs(spec, now, HANDOFFS_SHOWN),
            "overrides": [o for o in spec.overrides if o.end > now],
        }
        for spec in specs
    ]
    return render.page(request, "oncall/index.html", now=now, user=user, schedules=schedules, names=names)
