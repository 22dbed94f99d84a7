"""Where alerts arrive: Alertmanager and Grafana webhooks, and a PagerDuty Events API v2 compatible `/v2/enqueue`.

Each answer comes after the events are committed. Refusals, in the order they are checked:
401 wrong or missing key (nothing stored), 429 over the key's rate with `Retry-After` (nothing stored, the
sender retries), 413 too large, then 422 (400 on `/v2/enqueue`, as PagerDuty answers) for a payload that
does not parse or cannot be routed — those are kept as dead letters and can be replayed after a fix.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from missionctl.errors import MissionControlError
from missionctl.signals import pagerduty
from missionctl.signals.events import PayloadError, SignalEvent
from missionctl.signals.ingest import (
    PARSERS,
    Ingest,
    KeyInfo,
    Submission,
    UnknownService,
    Unroutable,
    dead_letter_row,
    route_events,
)
from missionctl.signals.integrations import IntegrationKind

router = APIRouter(tags=["alert ingestion"])

_REFUSED = (PayloadError, Unroutable, UnknownService)
_KEY_HELP = "send the integration key as `Authorization: Bearer <key>` (from `missionctl integration create`)"


class _Refusal(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body).encode(), status_code=status, media_type="application/json", headers=headers)


def _error(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return _json(status, {"error": {"code": code, "message": message, "details": details}}, headers)


def _state(request: Request) -> Ingest:
    ingest: Ingest = request.app.state.ingest
    return ingest


async def _key(ingest: Ingest, key: str | None, kind: IntegrationKind, *, pd: bool = False) -> KeyInfo:
    info = None
    if key:
        digest, info, hit = ingest.keys.cached(key)
        if not hit:
            info = await run_in_threadpool(ingest.keys.load, digest)
    if info is None or info.kind != kind:
        message = f"not a valid {kind} integration key; {_KEY_HELP}" if not pd else "invalid routing_key"
        if pd:
            raise _Refusal(_json(401, {"status": "unauthorized", "message": message, "errors": [message]}))
        raise _Refusal(_error(401, "invalid_integration_key", message))
    wait = ingest.limit.wait_seconds(info.integration_id)
    if wait > 0:
        retry = str(max(1, math.ceil(wait)))
        message = f"integration {info.name!r} is sending faster than {ingest.limit.rate:g} requests per second"
        if pd:
            body = {"status": "throttle event", "message": message, "errors": [message]}
            raise _Refusal(_json(429, body, {"Retry-After": retry}))
        raise _Refusal(_error(429, "rate_limited", message, {"retry_after_seconds": wait}, {"Retry-After": retry}))
    return info


async def _body(request: Request, ingest: Ingest) -> bytes:
    limit = ingest.ctx.settings.ingest_max_body_bytes
    declared = request.headers.get("content-length")
    too_large = _error(413, "payload_too_large", f"payloads are limited to {limit} bytes")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refusal(too_large)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refusal(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


async def _keep(ingest: Ingest, key: KeyInfo, source: str, error: MissionControlError, body: bytes) -> int | None:
    row = dead_letter_row(source=source, key=key, error=error, body=body, now=ingest.ctx.clock.now())
    done = await ingest.committer.submit(Submission(dead_letter=row))
    return done.dead_letter_id


async def _accept(ingest: Ingest, key: KeyInfo, events: list[SignalEvent]) -> Submission:
    routed = route_events(events, key, rules=ingest.rules, runbooks=ingest.runbooks)
    done = await ingest.committer.submit(Submission(routed=routed))
    if done.error is not None:
        raise _Refusal(_error(503, "unavailable", str(done.error), headers={"Retry-After": "1"}))
    return done


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


async def _webhook(request: Request, kind: IntegrationKind) -> Response:
    ingest = _state(request)
    try:
        key = await _key(ingest, _bearer(request), kind)
        body = await _body(request, ingest)
        try:
            done = await _accept(ingest, key, PARSERS[kind](body))
        except _REFUSED as exc:
            letter = await _keep(ingest, key, kind, exc, body)
            details = exc.details if isinstance(exc.details, dict) else {"details": exc.details}
            return _error(exc.http_status, exc.code, exc.message, {**details, "dead_letter": letter})
    except _Refusal as refusal:
        return refusal.response
    incidents = sorted({i for i in done.incidents if i is not None})
    return _json(202, {"status": "accepted", "alerts": len(done.routed), "incidents": incidents})


@router.post("/api/v1/integrations/alertmanager", status_code=202, responses={401: {}, 413: {}, 422: {}, 429: {}})
async def alertmanager_webhook(request: Request) -> Response:
    """Prometheus Alertmanager webhook (payload version 4). Point a `webhook_configs` receiver here with
    `http_config.authorization.credentials` set to the integration key."""
    return await _webhook(request, IntegrationKind.ALERTMANAGER)


@router.post("/api/v1/integrations/grafana", status_code=202, responses={401: {}, 413: {}, 422: {}, 429: {}})
async def grafana_webhook(request: Request) -> Response:
    """Grafana alerting webhook contact point, with the integration key as the Bearer authorization."""
    return await _webhook(request, IntegrationKind.GRAFANA)


def _routing_key(body: bytes) -> tuple[Any, str | None]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    key = data.get("routing_key") if isinstance(data, dict) else None
    return data, key if isinstance(key, str) else None


@router.post("/v2/enqueue", status_code=202, responses={400: {}, 401: {}, 413: {}, 429: {}})
async def pagerduty_enqueue(request: Request) -> Response:
    """PagerDuty Events API v2: `routing_key` is the integration key; answers as PagerDuty does."""
    ingest = _state(request)
    try:
        body = await _body(request, ingest)
        data, routing_key = _routing_key(body)
        if routing_key is None:
            problem = "'routing_key' is missing or blank" if isinstance(data, dict) else "Event object is not JSON"
            return _json(400, {"status": "invalid event", "message": pagerduty.INVALID, "errors": [problem]})
        key = await _key(ingest, routing_key, IntegrationKind.PAGERDUTY, pd=True)
        try:
            _, event = pagerduty.parse(data)
            await _accept(ingest, key, [event])
        except PayloadError as exc:
            await _keep(ingest, key, "pagerduty", exc, body)
            return _json(400, pagerduty.error_body(exc))
        except (Unroutable, UnknownService) as exc:
            await _keep(ingest, key, "pagerduty", exc, body)
            return _json(400, {"status": "invalid event", "message": exc.message, "errors": [exc.message]})
    except _Refusal as refusal:
        return refusal.response
    return _json(202, pagerduty.success_body(event.dedup_key))
