"""Run executions: claim in one short transaction, do the work with none open, record in another.

`execute(ctx, id)` runs one execution synchronously (the API does so for dry runs; tests call it);
`ActionWorkers` is the small thread pool started next to the engine, which polls for queued and approved
executions and is woken at once by requests made in this process: when a transaction that queued one
commits (a detector's store transaction requesting a rollback, say), not a poll interval later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from missionctl.actions import service
from missionctl.actions.builtin import ActionCall, Result
from missionctl.actions.catalog import ActionCatalog, catalog_for
from missionctl.actions.masking import mask, truncate, truncate_all
from missionctl.actions.rules import Kind, Status
from missionctl.actions.runner import Done, Plan, Refused, perform, plan_command, plan_http
from missionctl.context import AppContext

log = logging.getLogger(__name__)

_RESULTS = {
    Result.SUCCEEDED: Status.SUCCEEDED,
    Result.FAILED: Status.FAILED,
    Result.DRY_RUN: Status.DRY_RUN,
    Result.SKIPPED: Status.SKIPPED,
}


@dataclass(frozen=True)
class Executed:
    execution_id: int
    status: Status


def execute(
    ctx: AppContext,
    execution_id: int,
    *,
    actions: ActionCatalog | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Executed | None:
    """Run one execution if it is runnable (None otherwise); its result is on the row and the timeline."""
    catalog = actions if actions is not None else catalog_for(ctx.settings)
    with ctx.write() as session:
        claim = service.claim(session, execution_id=execution_id, actions=catalog, now=ctx.clock.now())
    if claim is None:
        return None
    started = time.monotonic()
    secrets = _all_secrets(catalog)
    try:
        done, inputs = _run(ctx, claim, catalog, transport)
    except Exception as exc:  # a crashing built-in is a failed execution, not a dead worker
        log.warning("action %s (execution %s) raised %s", claim.spec.name, execution_id, type(exc).__name__)
        done = Done(Status.FAILED, f"raised {type(exc).__name__}", {}, truncate(mask(str(exc), secrets)))
        inputs = {"params": claim.params.model_dump(mode="json")}
    duration_ms = int((time.monotonic() - started) * 1000)
    with ctx.write() as session:
        service.finish(
            session,
            execution_id=execution_id,
            status=done.status,
            summary=mask(done.summary, secrets),
            inputs=mask(inputs, secrets),
            output=truncate_all(mask(done.output, secrets)),
            error=mask(done.error, secrets) if done.error else None,
            duration_ms=duration_ms,
            actions=catalog,
            now=ctx.clock.now(),
        )
    log.info("action %s (execution %s): %s in %d ms", claim.spec.name, execution_id, done.status, duration_ms)
    return Executed(execution_id, done.status)


def _all_secrets(catalog: ActionCatalog) -> set[str]:
    """Every configured secret's value that can be read now: whatever an action prints, these never get stored."""
    values: set[str] = set()
    for name in catalog.file.secrets:
        try:
            values.add(catalog.secret(name))
        except KeyError:
            continue
    return values


def _run(
    ctx: AppContext, claim: service.Claim, catalog: ActionCatalog, transport: httpx.BaseTransport | None
) -> tuple[Done, dict[str, Any]]:
    params = claim.params.model_dump(mode="json")
    if claim.spec.kind is Kind.BUILTIN:
        return _run_builtin(ctx, claim, catalog), {"params": params}
    try:
        plan = _plan(claim, catalog)
    except Refused as exc:
        return Done(Status.FAILED, f"refused: {exc}", {"reason": exc.code}, str(exc)), {"params": params}
    inputs = {"params": params, claim.spec.kind.value: plan.preview}
    if claim.dry_run:
        return Done(Status.DRY_RUN, _describe(plan), {"would": plan.preview}), inputs
    return perform(plan, transport=transport), inputs


def _plan(claim: service.Claim, catalog: ActionCatalog) -> Plan:
    spec = claim.spec
    if spec.http is not None:
        return plan_http(spec.http, claim.variables, catalog.secret)
    assert spec.command is not None
    return plan_command(spec.command, claim.variables, catalog.secret, allowed=catalog.allowed, environ=catalog.environ)


def _describe(plan: Plan) -> str:
    if plan.kind is Kind.HTTP:
        return f"would send {plan.preview['method']} {plan.preview['url']}"
    return "would run " + " ".join(plan.preview["argv"])


def _run_builtin(ctx: AppContext, claim: service.Claim, catalog: ActionCatalog) -> Done:
    assert claim.spec.builtin is not None
    call = ActionCall(
        ctx=ctx,
        params=claim.params,
        service=claim.service,
        incident_id=claim.incident_id,
        dry_run=claim.dry_run,
        triggered_by=claim.triggered_by,
        now=ctx.clock.now(),
        actions=catalog,
    )
    outcome = claim.spec.builtin.run(call)
    status = _RESULTS[outcome.result]
    if claim.dry_run and status is not Status.DRY_RUN:
        status = Status.DRY_RUN  # a dry run is recorded as one whatever the built-in answered
    error = outcome.summary if status is Status.FAILED else None
    return Done(status, outcome.summary, dict(outcome.output), error)


def run_pending(ctx: AppContext, *, actions: ActionCatalog | None = None, limit: int = 100) -> list[Executed]:
    """Run every queued or approved execution now, one after another (tests and `missionctl actions run`)."""
    with ctx.read() as session:
        ids = service.runnable_ids(session, limit=limit)
    return [done for execution_id in ids if (done := execute(ctx, execution_id, actions=actions)) is not None]


_running: dict[int, ActionWorkers] = {}
_forwards: list[Callable[[], None]] = []  # `serve --workers`: the action workers run in another process


def forward_wakes(ring: Callable[[], None]) -> None:
    """Also call `ring` whenever this process queues an execution (a worker without action workers)."""
    _forwards.append(ring)


def wake(ctx: AppContext) -> None:
    """Tell this process's workers (if any run) that an execution is waiting."""
    workers = _running.get(id(ctx))
    if workers is not None:
        workers.wake()


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(service.WAKE_KEY, False):
        for workers in list(_running.values()):
            workers.wake()
        for ring in _forwards:
            ring()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(service.WAKE_KEY, None)


class ActionWorkers:
    """A poller thread that hands runnable executions to a small pool of worker threads."""

    def __init__(self, ctx: AppContext, *, workers: int | None = None, poll_seconds: float | None = None) -> None:
        self.ctx = ctx
        self.poll_seconds = poll_seconds if poll_seconds is not None else ctx.settings.engine_poll_seconds
        size = workers or ctx.settings.actions_workers
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="action")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="action-poller", daemon=True)
        catalog_for(ctx.settings)  # an invalid actions file stops the start, with its problems

    def start(self) -> ActionWorkers:
        _running[id(self.ctx)] = self
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        _running.pop(id(self.ctx), None)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._dispatch()
            except Exception:
                log.exception("action poller pass failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _dispatch(self) -> None:
        with self.ctx.read() as session:
            ids = service.runnable_ids(session)
        for execution_id in ids:
            with self._lock:
                if execution_id in self._busy:
                    continue
                self._busy.add(execution_id)
            self._pool.submit(self._execute, execution_id)

    def _execute(self, execution_id: int) -> None:
        try:
            execute(self.ctx, execution_id)
        except Exception:
            log.exception("action execution %s failed to run", execution_id)
        finally:
            with self._lock:
                self._busy.discard(execution_id)
