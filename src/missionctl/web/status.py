"""The public status page (no login): what is affected, what we told stakeholders, history, subscriptions.

Subscribing is a public form, so it carries a double-submit CSRF token (like the login form) and is
rate-limited per client IP. Confirm and unsubscribe links need no CSRF token: the unguessable token in
the URL is the proof, and a webhook receiver (or a one-click unsubscribe) must be able to POST to it.
A GET on either link only shows a button, so link previewers and mail scanners change nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from missionctl.deps import Ctx
from missionctl.notifications.throttle import TokenBucket
from missionctl.statuspage import service as subscriptions
from missionctl.statuspage.models import SubscriptionKind
from missionctl.web import queries, render
from missionctl.web.deps import MaybeUser, PageRoute, error_page, set_cookie

router = APIRouter(route_class=PageRoute, include_in_schema=False, default_response_class=HTMLResponse)

STATUS_CSRF_COOKIE = "mc_status_csrf"
SUBSCRIBE_BURST = 5  # subscriptions one client IP may ask for at once…
SUBSCRIBE_PER_HOUR = 20  # …and how fast that allowance refills
MAX_CLIENTS = 10_000


class ClientLimiter:
    """A token bucket per client IP (LRU-bounded, per process): enough to stop a script, not a person."""

    def __init__(self, burst: int, per_hour: float, *, max_clients: int = MAX_CLIENTS) -> None:
        self.burst, self.rate, self.max_clients = burst, per_hour / 3600, max_clients
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str, now: float) -> float:
        """0.0 if `client` may go ahead (a token is taken), else the seconds until it may."""
        with self._lock:
            bucket = self._buckets.pop(client, None) or TokenBucket(self.rate, self.burst)
            self._buckets[client] = bucket
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return bucket.take(now)


def _limiter(request: Request) -> ClientLimiter:
    state = request.app.state
    limiter: ClientLimiter | None = getattr(state, "status_subscribe_limiter", None)
    if limiter is None:
        limiter = state.status_subscribe_limiter = ClientLimiter(SUBSCRIBE_BURST, SUBSCRIBE_PER_HOUR)
    return limiter


@router.get("/status")
def status_page(request: Request, ctx: Ctx, user: MaybeUser, subscribed: str = "") -> Response:
    """Affected services and what we told stakeholders; 90 days of history; a form to subscribe."""
    now = ctx.clock.now()
    with ctx.read() as session:
        current, history = queries.public_incidents(session, now=now)
        services = queries.service_names(session)
    token = request.cookies.get(STATUS_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render.page(
        request,
        "status/index.html",
        now=now,
        user=user,
        current=current,
        history=history,
        affected=sorted({i.service for i in current}),
        service_names=services,
        history_days=queries.STATUS_HISTORY_DAYS,
        status_csrf=token,
        subscribed=subscribed if subscribed in set(SubscriptionKind) else "",
    )
    set_cookie(request, response, STATUS_CSRF_COOKIE, token, max_age=24 * 3600)
    return response


@router.post("/status/subscriptions")
def subscribe(
    request: Request,
    ctx: Ctx,
    kind: Annotated[SubscriptionKind, Form()],
    address: Annotated[str, Form(min_length=3, max_length=subscriptions.MAX_ADDRESS)],
    service: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Ask for updates by email or webhook; the confirmation message says how to start them."""
    cookie = request.cookies.get(STATUS_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
        message = "this form has expired or did not come from this status page; reload the page and try again"
        return error_page(request, 403, message, "csrf_failed")
    wait = _limiter(request).take(request.client.host if request.client else "unknown", time.monotonic())
    if wait > 0:
        minutes = max(1, round(wait / 60))
        response = error_page(
            request, 429, f"too many subscriptions from here; try again in {minutes} min", "rate_limited"
        )
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    now = ctx.clock.now()
    with ctx.write() as session:
        subscriptions.subscribe(session, kind=kind, address=address.strip(), service=service.strip() or None, now=now)
    return RedirectResponse(f"/status?subscribed={kind}#subscribe", status_code=303)


def _link_page(request: Request, ctx: Ctx, *, action: str, done: bool, scope: str, kind: str) -> Response:
    return render.page(
        request,
        "status/link.html",
        now=ctx.clock.now(),
        action=action,
        done=done,
        scope=scope,
        kind=kind,
        form_action=request.url.path,
    )


@router.get("/status/confirm/{token}")
def confirm_form(token: str, request: Request, ctx: Ctx) -> Response:
    now = ctx.clock.now()
    with ctx.read() as session:
        row = subscriptions.pending(session, token=token, now=now)
        scope, kind, done = row.service or "", row.kind, row.confirmed_at is not None
    return _link_page(request, ctx, action="confirm", done=done, scope=scope, kind=kind)


@router.post("/status/confirm/{token}")
def confirm(token: str, request: Request, ctx: Ctx) -> Response:
    with ctx.write() as session:
        row = subscriptions.confirm(session, token=token, now=ctx.clock.now())
        scope, kind = row.service or "", row.kind
    return _link_page(request, ctx, action="confirm", done=True, scope=scope, kind=kind)


@router.get("/status/unsubscribe/{token}")
def unsubscribe_form(token: str, request: Request, ctx: Ctx) -> Response:
    # A write transaction only because the link secret is created on first use.
    with ctx.write() as session:
        row = subscriptions.by_unsubscribe_token(session, token=token, now=ctx.clock.now())
        scope, kind, done = row.service or "", row.kind, row.unsubscribed_at is not None
    return _link_page(request, ctx, action="unsubscribe", done=done, scope=scope, kind=kind)


@router.post("/status/unsubscribe/{token}")
def unsubscribe(token: str, request: Request, ctx: Ctx) -> Response:
    with ctx.write() as session:
        row = subscriptions.unsubscribe(session, token=token, now=ctx.clock.now())
        scope, kind = row.service or "", row.kind
    return _link_page(request, ctx, action="unsubscribe", done=True, scope=scope, kind=kind)
