"""Rendering: the Jinja2 environment (autoescaped, with the presentation filters) and page responses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from missionctl import __version__
from missionctl.auth.roles import Role, allows
from missionctl.web import views
from missionctl.web.service import CurrentUser

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Everything the console loads comes from this server; no inline script or style is ever needed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

templates = Jinja2Templates(directory=TEMPLATES)
_env = templates.env
_env.trim_blocks = True
_env.lstrip_blocks = True
_env.filters.update(
    duration=views.duration,
    utc=views.utc,
    hhmm=views.hhmm,
    iso=views.iso,
    words=views.words,
    public_impact=views.public_impact,
    public_status=views.public_status,
    percent=views.percent,
    plain_duration=views.plain_duration,
    short_digest=views.short_digest,
)
_env.globals.update(
    since=views.since, clock_text=views.clock_text, clock_tone=views.clock_tone, app_version=__version__
)


def page(
    request: Request,
    template: str,
    *,
    now: datetime,
    user: CurrentUser | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render `template` with what every page needs (user, CSRF token, server time) and the security headers."""
    settings = request.app.state.context.settings
    base = {
        "user": user,
        "csrf_token": user.csrf_token if user else "",
        "can_write": user is not None and allows(user.role, Role.RESPONDER),
        "now": now,
        "clock_speed": settings.clock_speed,
        "path": request.url.path,
    }
    response = templates.TemplateResponse(request, template, base | context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response
