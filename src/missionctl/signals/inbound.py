"""Where alerts arrive: Alertmanager and Grafana webhooks, and a PagerDuty Events API v2 compatible `/v2/enqueue`.

Each answer comes after the events are committed. Refusals, in the order they are checked:
401 wrong or missing key (nothing stored), 429 over the key's rate with `Retry-After` (nothing stored, the
sender retries), 413 too large, then 422 (400 on `/v2/enqueue`, as PagerDuty answers) for a payload that
does not parse or cannot be routed — those are kept as dead letters and can be replayed after a fix.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from missionctl.errors import MissionControlError
from missionctl.observability import Metrics
from missionctl.signals import pagerduty, requestids
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

log = logging.getLogger(__name__)
router = APIRouter(tags=["alert ingestion"])

_REFUSED = (PayloadError, Unroutable, UnknownService)
_KEY_HELP = "send the integration key as `Authorization: Bearer <key>` (from `missionctl integration create`)"


class _Refusal(Exception):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, media_type=JSON, headers=self.headers)


@dataclass(frozen=True)
class Inbound:
    """One request as the core sees it, whichever way it arrived."""

    authorization: str | None
    content_length: str | None
    chunks: Callable[[], AsyncIterator[bytes]]
    webhook_id: str | None = None  # Standard Webhooks senders' delivery id: a repeat is answered, not applied


JSON = "application/json"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(body).encode(), headers or {})


def _error(status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> Answer:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return _json(status, {"error": {"code": code, "message": message, "details": details}}, headers)


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


async def _body(request: Inbound, ingest: Ingest) -> bytes:
    limit = ingest.ctx.settings.ingest_max_body_bytes
    declared = request.content_length
    too_large = _error(413, "payload_too_large", f"payloads are limited to {limit} bytes")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refusal(too_large)
    chunks, size = [], 0
    async for chunk in request.chunks():
        size += len(chunk)
        if size > limit:
            raise _Refusal(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


async def _keep(ingest: Ingest, key: KeyInfo, source: str, error: MissionControlError, body: bytes) -> int | None:
    row = dead_letter_row(source=source, key=key, error=error, body=body, now=ingest.ctx.clock.now())
    malformed_for = key.service_id if isinstance(error, PayloadError) else None  # not a routing gap: a bad event
    done = await ingest.committer.submit(Submission(dead_letter=row, malformed_for=malformed_for))
    if done.error is not None:  # a refusal we could not keep must be retried, or the event would be lost
        raise _Refusal(_error(503, "unavailable", str(done.error), headers={"Retry-After": "1"}))
    return done.dead_letter_id


async def _accept(ingest: Ingest, key: KeyInfo, events: list[SignalEvent], webhook_id: str | None) -> Submission:
    routed = route_events(events, key, router=ingest.router)
    request_id = requestids.valid(webhook_id)
    request = (key.integration_id, request_id) if request_id is not None else None
    done = await ingest.committer.submit(Submission(routed=routed, request=request))
    if done.error is not None:
        raise _Refusal(_error(503, "unavailable", str(done.error), headers={"Retry-After": "1"}))
    return done


def _bearer(header: str | None) -> str | None:
    scheme, _, credentials = (header or "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _count(ingest: Ingest, source: str, answer: Answer, outcome: str | None = None, events: int = 1) -> Answer:
    if outcome is None:
        outcome = _OUTCOMES.get(answer.status, "rejected")
    ingest.metrics.inbound_events.labels(source, outcome).inc(events)
    return answer


_OUTCOMES = {401: "invalid_key", 429: "rate_limited", 413: "too_large", 503: "unavailable", 400: "invalid_payload"}


async def webhook(ingest: Ingest, request: Inbound, kind: IntegrationKind) -> Answer:
    """An Alertmanager or Grafana webhook delivery, start to answer."""
    try:
        key = await _key(ingest, _bearer(request.authorization), kind)
        body = await _body(request, ingest)
        try:
            done = await _accept(ingest, key, PARSERS[kind](body), request.webhook_id)
        except _REFUSED as exc:
            letter = await _keep(ingest, key, kind, exc, body)
            details = exc.details if isinstance(exc.details, dict) else {"details": exc.details}
            answer = _error(exc.http_status, exc.code, exc.message, {**details, "dead_letter": letter})
            return _count(ingest, kind, answer, exc.code)
    except _Refusal as refusal:
        return _count(ingest, kind, refusal.answer)
    if done.duplicate:
        answer = _json(202, {"status": "duplicate", "alerts": 0, "incidents": []})
        return _count(ingest, kind, answer, "duplicate")
    incidents = sorted({i for i in done.incidents if i is not None})
    answer = _json(202, {"status": "accepted", "alerts": len(done.routed), "incidents": incidents})
    return _count(ingest, kind, answer, "accepted", len(done.routed))


def _routing_key(body: bytes) -> tuple[Any, str | None]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    key = data.get("routing_key") if isinstance(data, dict) else None
    return data, key if isinstance(key, str) else None


async def enqueue(ingest: Ingest, request: Inbound) -> Answer:
    """A PagerDuty Events API v2 event, start to answer."""
    try:
        body = await _body(request, ingest)
        data, routing_key = _routing_key(body)
        if routing_key is None:
            problem = "'routing_key' is missing or blank" if isinstance(data, dict) else "Event object is not JSON"
            answer = _json(400, {"status": "invalid event", "message": pagerduty.INVALID, "errors": [problem]})
            return _count(ingest, "pagerduty", answer)
        key = await _key(ingest, routing_key, IntegrationKind.PAGERDUTY, pd=True)
        try:
            _, event = pagerduty.parse(data)
            done = await _accept(ingest, key, [event], request.webhook_id)
        except PayloadError as exc:
            await _keep(ingest, key, "pagerduty", exc, body)
            return _count(ingest, "pagerduty", _json(400, pagerduty.error_body(exc)), exc.code)
        except (Unroutable, UnknownService) as exc:
            await _keep(ingest, key, "pagerduty", exc, body)
            answer = _json(400, {"status": "invalid event", "message": exc.message, "errors": [exc.message]})
            return _count(ingest, "pagerduty", answer, exc.code)
    except _Refusal as refusal:
        return _count(ingest, "pagerduty", refusal.answer)
    outcome = "duplicate" if done.duplicate else "accepted"
    return _count(ingest, "pagerduty", _json(202, pagerduty.success_body(event.dedup_key)), outcome)


# ---------------------------------------------------------------------------------------------------------------------
# The FastAPI routes (documented in OpenAPI; what in-process clients and tests call)
# ---------------------------------------------------------------------------------------------------------------------

ALERTMANAGER_PATH = "/api/v1/integrations/alertmanager"
GRAFANA_PATH = "/api/v1/integrations/grafana"
ENQUEUE_PATH = "/v2/enqueue"


def _from_request(request: Request) -> Inbound:
    headers = request.headers
    return Inbound(
        headers.get("authorization"), headers.get("content-length"), request.stream, headers.get("webhook-id")
    )


def _state(request: Request) -> Ingest:
    ingest: Ingest = request.app.state.ingest
    return ingest


@router.post(ALERTMANAGER_PATH, status_code=202, responses={401: {}, 413: {}, 422: {}, 429: {}})
async def alertmanager_webhook(request: Request) -> Response:
    """Prometheus Alertmanager webhook (payload version 4). Point a `webhook_configs` receiver here with
    `http_config.authorization.credentials` set to the integration key."""
    answer = await webhook(_state(request), _from_request(request), IntegrationKind.ALERTMANAGER)
    return answer.response()


@router.post(GRAFANA_PATH, status_code=202, responses={401: {}, 413: {}, 422: {}, 429: {}})
async def grafana_webhook(request: Request) -> Response:
    """Grafana alerting webhook contact point, with the integration key as the Bearer authorization."""
    answer = await webhook(_state(request), _from_request(request), IntegrationKind.GRAFANA)
    return answer.response()


@router.post(ENQUEUE_PATH, status_code=202, responses={400: {}, 401: {}, 413: {}, 429: {}})
async def pagerduty_enqueue(request: Request) -> Response:
    """PagerDuty Events API v2: `routing_key` is the integration key; answers as PagerDuty does."""
    answer = await enqueue(_state(request), _from_request(request))
    return answer.response()


# ---------------------------------------------------------------------------------------------------------------------
# The front door: the same endpoints served ahead of FastAPI's middleware stack
# ---------------------------------------------------------------------------------------------------------------------


class FrontDoor:
    """An ASGI wrapper that answers the three ingest POSTs itself and hands everything else to the app.

    FastAPI's per-request machinery (middleware, telemetry checks, dependency solving) costs several times
    what parsing and routing an alert does; during an alert storm that is the difference. Same core, same
    answers; request counts still reach `/metrics`.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.ingest: Ingest = app.state.ingest
        self.metrics: Metrics = app.state.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope["type"] == "http" and scope.get("method") == "POST" else None
        if path not in _FRONT_DOOR:
            await self.app(scope, receive, send)
            return
        name = _FRONT_DOOR[path]
        started = time.perf_counter()
        authorization, content_length, webhook_id = _headers(scope)
        request = Inbound(authorization, content_length, lambda: _chunks(receive), webhook_id)
        try:
            if path == ENQUEUE_PATH:
                answer = await enqueue(self.ingest, request)
            else:
                kind = IntegrationKind.ALERTMANAGER if path == ALERTMANAGER_PATH else IntegrationKind.GRAFANA
                answer = await webhook(self.ingest, request, kind)
        except Exception:
            log.exception("unhandled error on POST %s", path)
            answer = _error(500, "internal", "internal error; the server log has the details")
        headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(answer.body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        self.metrics.http_requests.labels("POST", name, str(answer.status)).inc()
        self.metrics.http_latency.labels("POST", name).observe(time.perf_counter() - started)


_FRONT_DOOR = {
    ALERTMANAGER_PATH: "alertmanager_webhook",
    GRAFANA_PATH: "grafana_webhook",
    ENQUEUE_PATH: "pagerduty_enqueue",
}


def _headers(scope: Scope) -> tuple[str | None, str | None, str | None]:
    authorization = content_length = webhook_id = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-length":
            content_length = value.decode("latin-1")
        elif name == b"webhook-id":
            webhook_id = value.decode("latin-1")
    return authorization, content_length, webhook_id


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refusal(_error(400, "bad_request", "the client went away before sending the whole body"))
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
