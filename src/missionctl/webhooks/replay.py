"""Replay a sample of dead-lettered events to a staging URL: read the events, send them, summarise the answers.

Sources:

- `missionctl-outbound`: Mission Control's own notifications that failed for good (the webhook payload
  they carried, signed afresh as Standard Webhooks with a new `webhook-id`, marked `"replay"`);
- `missionctl-inbound`: refused inbound alerts (`signal_dead_letters`), each body exactly as it arrived;
- an `http(s)` URL that answers `GET` with JSON: a list of events, or `{"events": [...]}`, each
  `{"id": "evt_1", "body": <JSON value or string>, "headers": {"name": "value"}, "received_at": "<ISO 8601>"}`
  (`headers` and `received_at` optional; `since`/`until` filter on `received_at` when it is there).

Reading the events uses a short read transaction; sending happens with no transaction open.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from missionctl.context import AppContext
from missionctl.notifications import deadletters as outbound
from missionctl.notifications.channels import mask_webhook_url
from missionctl.notifications.webhook import encode_payload, make_client, signed_headers
from missionctl.signals import deadletters as inbound
from missionctl.webhooks.sampling import sample as draw

OUTBOUND = "missionctl-outbound"
INBOUND = "missionctl-inbound"
MAX_EVENTS = 10_000
MAX_LISTING_BYTES = 16 * 1024 * 1024


class SourceError(Exception):
    """The events could not be read (the listing URL failed or answered something else than events)."""


@dataclass(frozen=True)
class Event:
    """One event to replay: its id at the source, the exact body, and headers to send with it."""

    id: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    event_id: str
    status: int | None  # None: no answer (error)
    seconds: float
    error: str | None = None


def read_events(
    ctx: AppContext,
    source: str,
    *,
    since: datetime | None,
    until: datetime | None,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> list[Event]:
    """Every event of `source` in [since, until), oldest first."""
    if source == OUTBOUND:
        return _outbound(ctx, since, until)
    if source == INBOUND:
        return _inbound(ctx, since, until)
    return _listing(source, since, until, timeout, transport)


def _outbound(ctx: AppContext, since: datetime | None, until: datetime | None) -> list[Event]:
    from missionctl.engine.runtime import webhook_secret  # the engine's signing secret, generated once

    secret = webhook_secret(ctx)
    now = ctx.clock.now()
    events = []
    with ctx.read() as session:
        rows = outbound.listing(session, since=since, until=until, limit=MAX_EVENTS)
        for row in sorted(rows, key=lambda r: r.id):
            payload, original = outbound.strip_replay(dict(row.payload), row.idempotency_key)
            msg_id = f"replay-{row.id}-{original}"[:255]
            payload["replay"] = {"of": row.id, "original_webhook_id": original, "replayed_at": now.isoformat()}
            body = encode_payload(payload)
            events.append(Event(f"notification:{row.id}", body, signed_headers(secret, msg_id, body, now=now)))
    return events


def _inbound(ctx: AppContext, since: datetime | None, until: datetime | None) -> list[Event]:
    with ctx.read() as session:
        rows = inbound.listing(session, since=since, until=until, limit=MAX_EVENTS)
        return [
            Event(f"dead-letter:{r.id}", r.body.encode(), {"content-type": "application/json"})
            for r in sorted(rows, key=lambda r: r.id)
        ]


def _listing(
    url: str, since: datetime | None, until: datetime | None, timeout: float, transport: httpx.BaseTransport | None
) -> list[Event]:
    shown = mask_webhook_url(url)
    try:
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
            response = client.get(url, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise SourceError(f"could not read events from {shown}: {type(exc).__name__}") from None
    if response.status_code != 200 or len(response.content) > MAX_LISTING_BYTES:
        raise SourceError(f"{shown} answered HTTP {response.status_code} to the event listing")
    try:
        data: Any = response.json()
    except ValueError:
        raise SourceError(f"{shown} did not answer JSON") from None
    items = data.get("events") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise SourceError(f"{shown} answered neither a list of events nor {{'events': [...]}}")
    return [e for i, item in enumerate(items[:MAX_EVENTS]) if (e := _event(item, i, shown, since, until))]


def _event(item: Any, index: int, shown: str, since: datetime | None, until: datetime | None) -> Event | None:
    if not isinstance(item, dict) or "body" not in item:
        raise SourceError(f"event [{index}] from {shown} has no 'body'")
    received = item.get("received_at")
    if isinstance(received, str) and (since or until):
        try:
            at = datetime.fromisoformat(received.replace("Z", "+00:00"))
        except ValueError:
            at = None
        if at is not None and at.tzinfo is not None and ((since and at < since) or (until and at >= until)):
            return None
    body = item["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
    given = item.get("headers")
    headers = {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
    headers.setdefault("content-type", "application/json")
    return Event(str(item.get("id", index)), raw, headers)


def choose(events: Sequence[Event], n: int, seed: int | None) -> list[Event]:
    return draw(events, n, seed=seed)


def send_all(
    events: Sequence[Event],
    target: str,
    *,
    timeout: float,
    source: str,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Sent]:
    """POST each event to `target` once, in order; never raises for a delivery problem."""
    results = []
    client = make_client(timeout) if transport is None else httpx.Client(timeout=timeout, transport=transport)
    with client:
        for event in events:
            headers = {
                **event.headers,
                "x-missionctl-replay": f"{source if '://' not in source else 'http'}/{event.id}",
            }
            started = clock()
            try:
                response = client.post(target, content=event.body, headers=headers)
                results.append(Sent(event.id, response.status_code, clock() - started))
            except httpx.HTTPError as exc:
                results.append(Sent(event.id, None, clock() - started, type(exc).__name__))
    return results


def summarise(results: Sequence[Sent]) -> dict[str, Any]:
    """Counts by status class, errors, and latency (milliseconds) of the answers."""
    classes: Counter[str] = Counter()
    for r in results:
        classes["error" if r.status is None else f"{r.status // 100}xx"] += 1
    latencies = sorted(r.seconds * 1000 for r in results if r.status is not None)
    return {
        "sent": len(results),
        "2xx": classes["2xx"],
        "3xx": classes["3xx"],
        "4xx": classes["4xx"],
        "5xx": classes["5xx"],
        "errors": classes["error"],
        "latency_ms": _latency(latencies),
        "results": [
            {"id": r.event_id, "status": r.status, "ms": round(r.seconds * 1000, 1), "error": r.error} for r in results
        ],
    }


def _latency(ms: Sequence[float]) -> Mapping[str, float] | None:
    if not ms:
        return None
    return {"p50": round(ms[len(ms) // 2], 1), "max": round(ms[-1], 1), "mean": round(sum(ms) / len(ms), 1)}
