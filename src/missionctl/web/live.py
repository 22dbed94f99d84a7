"""Live updates: server-sent event streams that say "changed", for an incident room and for the lists.

A stream polls a cheap version (`queries.live_version` for one incident, `queries.list_version` for
the lists on `/` and `/incidents`) every `console_live_poll_seconds` in a worker thread, so it works
the same on SQLite and on PostgreSQL with several processes; the page then fetches its fragment
(`/incidents/{id}/live`, or the list page itself) and swaps the changed sections in.
A stream ends after `console_live_stream_seconds`; the browser's EventSource reconnects by itself and
sends the last version it saw, so a change made in between is never missed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from missionctl.context import AppContext
from missionctl.deps import Ctx
from missionctl.errors import NotFound
from missionctl.incidents.models import Incident
from missionctl.web import queries
from missionctl.web.deps import PageRoute, User

router = APIRouter(route_class=PageRoute, include_in_schema=False)

RETRY_MS = 1000
HEARTBEAT_SECONDS = 15.0
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _incident_version(ctx: AppContext, incident_id: int) -> Callable[[], str]:
    def version() -> str:
        with ctx.read() as session:
            return queries.live_version(session, incident_id=incident_id)

    return version


def _list_version(ctx: AppContext) -> Callable[[], str]:
    def version() -> str:
        with ctx.read() as session:
            return queries.list_version(session)

    return version


def event(name: str, version: str) -> str:
    """One server-sent event; the version is the id the browser sends back on reconnect."""
    return f"event: {name}\nid: {version}\ndata: {version}\n\n"


async def stream(ctx: AppContext, read: Callable[[], str], last_seen: str | None) -> AsyncIterator[str]:
    """`hello` with the current version, then `change` whenever it moves, until the stream's time is up."""
    settings = ctx.settings
    version = await run_in_threadpool(read)
    yield f"retry: {RETRY_MS}\n" + event("hello", version)
    if last_seen is not None and last_seen != version:
        yield event("change", version)
    ends = time.monotonic() + settings.console_live_stream_seconds
    beat = time.monotonic() + HEARTBEAT_SECONDS
    while time.monotonic() < ends:
        await asyncio.sleep(settings.console_live_poll_seconds)
        current = await run_in_threadpool(read)
        if current != version:
            version = current
            yield event("change", version)
        elif time.monotonic() >= beat:
            yield ": still here\n\n"  # keeps proxies from closing an idle connection
            beat = time.monotonic() + HEARTBEAT_SECONDS


@router.get("/incidents/{incident_id}/events")
def events(incident_id: int, request: Request, ctx: Ctx, _: User) -> StreamingResponse:
    """Server-sent events for one incident room (log in required, like the room itself)."""
    with ctx.read() as session:
        if session.get(Incident, incident_id) is None:  # a 404 page now, rather than a stream that never changes
            raise NotFound(f"no incident with id {incident_id}", code="incident_not_found")
    last_seen = request.headers.get("last-event-id")
    body = stream(ctx, _incident_version(ctx, incident_id), last_seen)
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)


@router.get("/events")
def list_events(request: Request, ctx: Ctx, _: User) -> StreamingResponse:
    """Server-sent events for the incident lists (`/` and `/incidents`): any incident changed or opened."""
    body = stream(ctx, _list_version(ctx), request.headers.get("last-event-id"))
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)
