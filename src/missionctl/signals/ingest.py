"""Inbound alerts from request to row: key check, rate limit, parse, route, then one commit for many requests.

The request path stays lean (a cached key lookup, a token bucket, the parser, the pure router) and hands
its routed events to the `GroupCommitter`: one thread that writes every submission waiting for it in
one transaction, then answers them all. Under load, hundreds of requests share a commit; idle, a lone
request waits only for its own. A request is answered only after its events (or its dead letter) are
committed, so an accepted alert is never lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.catalog import models as catalog_models
from missionctl.context import AppContext
from missionctl.errors import InvalidInput, MissionControlError
from missionctl.notifications.throttle import TokenBucket
from missionctl.observability import Metrics
from missionctl.runbooks.schemas import Runbook
from missionctl.signals import alertmanager, grafana, pagerduty, requestids
from missionctl.signals.events import SignalAction, SignalEvent
from missionctl.signals.integrations import IntegrationKind
from missionctl.signals.models import DeadLetter, Integration
from missionctl.signals.pipeline import Applied, RoutedEvent, apply, malformed_events
from missionctl.signals.routing import Decision, Route, RoutesFile, route

log = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 5.0  # a revoked key stops working within this, on every process
KEY_CACHE_SIZE = 10_000
MAX_TRACE_LINES = 20


# ---------------------------------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    integration_id: int
    kind: IntegrationKind
    service_id: str
    name: str
    service_exists: bool

    @property
    def origin(self) -> str:
        return f"integration:{self.integration_id}"

    @property
    def actor(self) -> str:
        return f"{self.kind} integration {self.name!r}"


class KeyCache:
    """Integration keys by SHA-256, cached for a few seconds (misses too, so a bad key cannot flood the DB).

    A running server also keeps every live key warm (`start_warming`): a key that is not cached costs a
    thread handoff and a read transaction before the alert can even queue for its write, measured at 3 to
    8 ms of an alert's way to its page on an idle server.
    """

    def __init__(self, ctx: AppContext, *, ttl: float = KEY_CACHE_SECONDS, size: int = KEY_CACHE_SIZE) -> None:
        self._ctx = ctx
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[str, tuple[float, KeyInfo | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._warmer: threading.Thread | None = None

    def cached(self, key: str) -> tuple[str, KeyInfo | None, bool]:
        """(digest, info, hit); on a miss call `load(digest)` off the event loop."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            entry = self._entries.get(digest)
        if entry is not None and entry[0] > time.monotonic():
            return digest, entry[1], True
        return digest, None, False

    def load(self, digest: str) -> KeyInfo | None:
        with self._ctx.read() as session:
            info = _key_info(session, digest)
        with self._lock:
            self._entries[digest] = (time.monotonic() + self._ttl, info)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return info

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def start_warming(self) -> None:
        """Reload every live key every `ttl / 2` seconds until `stop_warming` (revoked keys still stop within `ttl`)."""
        if self._warmer is None:
            self._stop.clear()
            self._warmer = threading.Thread(target=self._warm, name="ingest-keys", daemon=True)
            self._warmer.start()

    def stop_warming(self) -> None:
        self._stop.set()
        if self._warmer is not None:
            self._warmer.join(timeout=5)
            self._warmer = None

    def _warm(self) -> None:
        while True:
            try:
                self.load_all()
            except Exception:
                log.warning("could not refresh the integration keys; lookups go to the database", exc_info=True)
            if self._stop.wait(self._ttl / 2):
                return

    def load_all(self) -> int:
        """Cache every live integration key (the newest, up to the cache's size); returns how many."""
        service = catalog_models.Service
        with self._ctx.read() as session:
            records = session.scalars(
                select(Integration)
                .where(Integration.revoked_at.is_(None))
                .order_by(Integration.id.desc())
                .limit(self._size)
            ).all()
            wanted = {record.service_id for record in records}
            known = set(session.scalars(select(service.id).where(service.id.in_(wanted))))
        expires = time.monotonic() + self._ttl
        with self._lock:
            for record in records:
                kind = IntegrationKind(record.kind)
                info = KeyInfo(record.id, kind, record.service_id, record.name, record.service_id in known)
                self._entries[record.key_hash] = (expires, info)
                self._entries.move_to_end(record.key_hash)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return len(records)


def _key_info(session: Session, digest: str) -> KeyInfo | None:
    record = session.scalars(select(Integration).where(Integration.key_hash == digest)).one_or_none()
    return _live(session, record)


def key_info_by_id(session: Session, integration_id: int) -> KeyInfo | None:
    """The live integration with this id (replays check the key that brought the event is still valid)."""
    return _live(session, session.get(Integration, integration_id))


def _live(session: Session, record: Integration | None) -> KeyInfo | None:
    if record is None or record.revoked_at is not None:
        return None
    exists = session.get(catalog_models.Service, record.service_id) is not None
    return KeyInfo(record.id, IntegrationKind(record.kind), record.service_id, record.name, exists)


class KeyRateLimit:
    """A token bucket per integration key; `rate` 0 turns limiting off."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[int, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, integration_id: int) -> float:
        if self.rate <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(integration_id)
            if bucket is None:
                bucket = self._buckets[integration_id] = TokenBucket(self.rate, self.burst)
            return bucket.take(time.monotonic())


# ---------------------------------------------------------------------------------------------------------------------
# Parse and route
# ---------------------------------------------------------------------------------------------------------------------


class Unroutable(InvalidInput):
    """An alert that no route and no runbook default places; the trace says what was tried."""

    code = "unroutable"


class UnknownService(InvalidInput):
    code = "unknown_service"


PARSERS: dict[IntegrationKind, Callable[[bytes], list[SignalEvent]]] = {
    IntegrationKind.ALERTMANAGER: alertmanager.parse,
    IntegrationKind.GRAFANA: grafana.parse,
    IntegrationKind.PAGERDUTY: lambda body: [pagerduty.parse(body)[1]],
}


def routing_labels(event: SignalEvent, service_id: str) -> dict[str, str]:
    """The labels an event is routed by: the key decides the service, and an event without an `alertname`
    (PagerDuty's) routes by its summary."""
    return {"alertname": event.summary, **event.labels, "service": service_id}


class Router:
    """Routes events with one set of rules and runbooks, remembering decisions by the labels that decide.

    Only the labels some rule or runbook match names (plus `service` and the severity) can change a
    decision, so alerts of one group — which differ in `instance` or `pod` — share one routing.
    """

    CACHE_SIZE = 4096

    def __init__(self, rules: Sequence[Route], runbooks: dict[str, Runbook]) -> None:
        self.rules = list(rules)
        self.runbooks = runbooks
        self._ordered = list(runbooks.values())
        names = {"service", "alertname"} | {r.service_label for r in self.rules}
        names |= {label for r in self.rules for label in r.match}
        names |= {label for rb in self._ordered for label in rb.trigger.match}
        self._names = tuple(sorted(names))
        self._cache: dict[tuple[str | None, ...], tuple[Decision | None, str | None]] = {}

    def decide(self, labels: dict[str, str], severity: str | None) -> tuple[Decision | None, str | None]:
        """(decision, None) or (None or a decision that cannot be used, the problem)."""
        key = (*(labels.get(name) for name in self._names), severity)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            found = self._cache[key] = self._decide(labels, severity)
        return found

    def trace(self, labels: dict[str, str], severity: str | None) -> list[str]:
        return route(labels, rules=self.rules, runbooks=self._ordered, source_severity=severity).trace

    def _decide(self, labels: dict[str, str], severity: str | None) -> tuple[Decision | None, str | None]:
        decision = route(labels, rules=self.rules, runbooks=self._ordered, source_severity=severity).decision
        if decision is None:
            return None, "no route or runbook default matches"
        if not self.runbooks[decision.runbook_id].applies_to(decision.service):
            return decision, f"runbook {decision.runbook_id} does not cover service {decision.service!r}"
        return decision, None


def route_events(events: Sequence[SignalEvent], key: KeyInfo, *, router: Router) -> list[RoutedEvent]:
    """Route every event of one payload, or raise for the first that cannot be placed (nothing is taken)."""
    if not key.service_exists:
        raise UnknownService(
            f"integration {key.name!r} is bound to service {key.service_id!r}, which is not in the catalog",
            details={"service": key.service_id},
        )
    routed = []
    for index, event in enumerate(events):
        labels = routing_labels(event, key.service_id)
        decision, problem = router.decide(labels, event.severity)
        if problem is not None and event.action is not SignalAction.TRIGGER:
            decision = None  # acknowledging or resolving acts on the alert as it was routed when it fired
        elif problem is not None:
            where = f"alerts[{index}]" if len(events) > 1 else "alert"
            trace = router.trace(labels, event.severity)
            raise Unroutable(
                f"{where} ({event.summary!r}) cannot be routed: {problem}",
                details={"alert": index, "labels": event.labels, "trace": trace[:MAX_TRACE_LINES]},
            )
        routed.append(RoutedEvent(key.origin, event, decision, actor=key.actor))
    return routed


# ---------------------------------------------------------------------------------------------------------------------
# Group commit
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class Submission:
    """What one request hands in: routed events to apply, or a dead letter to keep (then refuse)."""

    routed: list[RoutedEvent] = field(default_factory=list)
    dead_letter: dict[str, Any] | None = None
    malformed_for: str | None = None  # the dead letter is a malformed event from an integration of this service
    request: requestids.RequestKey | None = None  # (integration, webhook-id) when the sender gave one
    # Filled by the committer:
    incidents: list[int | None] = field(default_factory=list)  # per routed event
    dead_letter_id: int | None = None
    error: BaseException | None = None
    duplicate: bool = False  # its webhook-id was seen before: answered, not applied again


def dead_letter_row(
    *, source: str, key: KeyInfo | None, error: MissionControlError, body: bytes, now: datetime
) -> dict[str, Any]:
    details = error.details if isinstance(error.details, dict) else {"details": error.details}
    return {
        "received_at": now,
        "source": source,
        "integration_id": key.integration_id if key else None,
        "reason": error.code,
        "error": error.message,
        "details": json.loads(json.dumps(details, default=str)),
        "body": body.decode("utf-8", errors="replace"),
        "body_truncated": False,
        "status": "pending",
    }


class GroupCommitter:
    """Batches submissions on the event loop and writes each batch in one transaction on one writer thread.

    Requests that arrive while a batch is being written wait together and become the next batch, so
    under load one commit serves hundreds of requests, and the loop hands work to the writer thread once
    per batch rather than once per request (a handoff per request costs more than the alert itself).
    """

    def __init__(self, ctx: AppContext, *, max_events: int) -> None:
        self._ctx = ctx
        self._max_events = max_events
        self._pending: deque[tuple[Submission, asyncio.Future[None]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._draining = False
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="missionctl-ingest")
        self._closed = False
        self.batches = 0
        self.events = 0
        self._prune_slot: datetime | None = None

    async def submit(self, submission: Submission) -> Submission:
        """Queue `submission` and return it once its batch is committed (or has failed: see `.error`)."""
        if self._closed:
            raise RuntimeError("ingest is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((submission, future))
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())
        await future
        return submission

    def submit_sync(self, submission: Submission) -> Submission:
        """Write one submission from a worker thread (replays, tests), in its own transaction."""
        self._commit([submission])
        return submission

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(0)  # let the loop read every request that has already arrived
            while self._pending:
                batch: list[tuple[Submission, asyncio.Future[None]]] = []
                count = 0
                while self._pending and (not batch or count + len(self._pending[0][0].routed) <= self._max_events):
                    item = self._pending.popleft()
                    batch.append(item)
                    count += len(item[0].routed) + 1
                await loop.run_in_executor(self._writer, self._commit, [sub for sub, _ in batch])
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._draining = False

    def close(self) -> None:
        self._closed = True
        self._writer.shutdown(wait=True)

    def _commit(self, batch: list[Submission]) -> None:
        try:
            self._write(batch)
        except Exception:
            if len(batch) == 1:
                log.exception("ingest write failed")
                batch[0].error = RuntimeError("the alert could not be stored; retry")
                return
            # One bad submission must not fail the others: write each on its own.
            log.warning("ingest batch of %d failed; writing each submission alone", len(batch))
            for item in batch:
                self._commit([item])

    def _write(self, batch: list[Submission]) -> None:
        now = self._ctx.clock.now()
        with self._ctx.write() as session:
            slot = self._skip_repeats(session, batch, now)
            routed = [event for item in batch if not item.duplicate for event in item.routed]
            applied = apply(session, routed, runbooks=self._ctx.runbooks, now=now) if routed else Applied()
            kept = [(item, DeadLetter(**item.dead_letter)) for item in batch if item.dead_letter is not None]
            if kept:
                session.add_all([letter for _, letter in kept])
                session.flush()
                malformed: dict[str, list[int]] = {}
                for item, letter in kept:
                    if item.malformed_for is not None:
                        malformed.setdefault(item.malformed_for, []).append(letter.id)
                malformed_events(session, malformed, now=now)
        for item, letter in kept:
            item.dead_letter_id = letter.id
        for item in batch:
            item.incidents = [applied.incidents.get((r.origin, r.event.dedup_key)) for r in item.routed]
        self._prune_slot = slot or self._prune_slot
        self.batches += 1
        self.events += len(routed)

    def _skip_repeats(self, session: Session, batch: list[Submission], now: datetime) -> datetime | None:
        """Mark submissions whose webhook-id was seen before (or earlier in this batch) as duplicates."""
        keyed = [(item, item.request) for item in batch if item.request is not None and item.dead_letter is None]
        if not keyed:
            return None
        fresh = requestids.remember(session, [key for _, key in keyed], now=now)
        for item, key in keyed:
            item.duplicate = key not in fresh
            fresh.discard(key)  # a second one with this id in the same batch is a repeat too
        if self._prune_slot == requestids.next_prune(now):
            return None
        return requestids.schedule_prune(session, now=now)  # once an hour per process: the job forgets old ids


# ---------------------------------------------------------------------------------------------------------------------
# What the endpoints share
# ---------------------------------------------------------------------------------------------------------------------


def load_routes(path: Path | None) -> list[Route]:
    """The rules in a routes file (none if no file is configured); a bad file names itself and the problem."""
    if path is None:
        return []
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: {exc}", code="routes_invalid") from exc
    try:
        return RoutesFile.model_validate(data).routes
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise InvalidInput(f"{path}: {'; '.join(problems)}", code="routes_invalid", details=problems) from exc


@dataclass
class Ingest:
    """Everything the ingest endpoints need, built once per app."""

    ctx: AppContext
    metrics: Metrics
    keys: KeyCache
    limit: KeyRateLimit
    committer: GroupCommitter
    runbooks: dict[str, Runbook]
    _router: Router
    _routes_mtime: float | None = None
    _routes_checked: float = 0.0

    @classmethod
    def build(cls, ctx: AppContext, metrics: Metrics) -> Ingest:
        s = ctx.settings
        ingest = cls(
            ctx=ctx,
            metrics=metrics,
            keys=KeyCache(ctx),
            limit=KeyRateLimit(s.ingest_rate_per_key, s.ingest_burst_per_key),
            committer=GroupCommitter(ctx, max_events=s.ingest_max_batch_events),
            runbooks={r.runbook.id: r.runbook for r in sorted(ctx.runbooks.all(), key=lambda r: r.runbook.id)},
            _router=Router([], {}),
        )
        ingest._router = Router(load_routes(s.routes_file), ingest.runbooks)  # a bad routes file stops the start
        ingest._routes_mtime = _mtime(s.routes_file)
        ingest._routes_checked = time.monotonic()
        return ingest

    @property
    def router(self) -> Router:
        """Routing by the routes file, re-read within a second of the file changing (fix routing without a restart).

        A file that became invalid is logged and the rules in force are kept.
        """
        path = self.ctx.settings.routes_file
        now = time.monotonic()
        if path is None or now - self._routes_checked < ROUTES_CHECK_SECONDS:
            return self._router
        self._routes_checked = now
        mtime = _mtime(path)
        if mtime != self._routes_mtime:
            self._routes_mtime = mtime
            try:
                self._router = Router(load_routes(path), self.runbooks)
                log.info("routes reloaded from %s: %d rules", path, len(self._router.rules))
            except InvalidInput as exc:
                log.error("routes file changed but is invalid, keeping the previous rules: %s", exc.message)
        return self._router

    def close(self) -> None:
        self.keys.stop_warming()
        self.committer.close()


ROUTES_CHECK_SECONDS = 1.0


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None
