"""The release worker: runs requested RB-001 built-ins (rollback, synthetic checks) outside any transaction.

A run is a `release_runs` row written in the transaction that decided it (a detector firing, a declaration, a
person's request). Workers claim queued rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL), run the built-in in a
thread with no transaction open, and record the outcome on the incident's timeline. A commit that queued a run
wakes the workers of its process at once; others find it within `poll_seconds`.

Runs are at most once: a process that dies mid-run leaves its row `running` (a rollback is not retried blindly).
Interim until the action framework runs built-ins; then requests go through it and this module goes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from missionctl.actions.builtin import REGISTRY, ActionCall, ActionOutcome, Result
from missionctl.context import AppContext
from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note
from missionctl.releases import actions as _builtins  # noqa: F401 (registers the built-ins)
from missionctl.releases.models import ReleaseRun
from missionctl.releases.service import WAKE_KEY, RunStatus

log = logging.getLogger(__name__)

_WORKERS: weakref.WeakSet[ReleaseWorker] = weakref.WeakSet()
_RESULT_STATUS = {
    Result.SUCCEEDED: RunStatus.SUCCEEDED,
    Result.FAILED: RunStatus.FAILED,
    Result.DRY_RUN: RunStatus.DRY_RUN,
    Result.SKIPPED: RunStatus.SKIPPED,
}


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(WAKE_KEY, False):
        for worker in list(_WORKERS):
            worker.wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(WAKE_KEY, None)


@dataclass(frozen=True)
class Claimed:
    id: int
    action: str
    service_id: str
    incident_id: int | None
    params: dict[str, Any]
    dry_run: bool
    triggered_by: str


class ReleaseWorker:
    """Claims and runs release runs; `run_pending()` is one synchronous pass (tests call it)."""

    def __init__(self, ctx: AppContext, *, poll_seconds: float = 1.0, threads: int = 4) -> None:
        self.ctx = ctx
        self.poll_seconds = poll_seconds
        self.me = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="release-run")
        self._threads = threads
        self._busy = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="release-worker", daemon=True)

    def start(self) -> None:
        _WORKERS.add(self)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        _WORKERS.discard(self)
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    def run_pending(self) -> int:
        """Claim every queued run and run them one after another in this thread."""
        claimed = self._claim(limit=100)
        for run in claimed:
            self.execute(run)
        return len(claimed)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._submit_claimed()
            except Exception:  # keep going; the next pass retries
                log.exception("release worker pass failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _submit_claimed(self) -> None:
        with self._lock:
            free = self._threads - self._busy
        if free <= 0:
            return
        for run in self._claim(limit=free):
            with self._lock:
                self._busy += 1
            self._pool.submit(self._run_and_release, run)

    def _run_and_release(self, run: Claimed) -> None:
        try:
            self.execute(run)
        finally:
            with self._lock:
                self._busy -= 1
            self._wake.set()

    def _claim(self, *, limit: int) -> list[Claimed]:
        now = self.ctx.clock.now()
        with self.ctx.write() as session:
            query = (
                select(ReleaseRun.id).where(ReleaseRun.status == RunStatus.QUEUED).order_by(ReleaseRun.id).limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if not ids:
                return []
            session.execute(
                update(ReleaseRun)
                .where(ReleaseRun.id.in_(ids))
                .values(status=RunStatus.RUNNING, started_at=now, claimed_by=self.me)
            )
            rows = list(session.scalars(select(ReleaseRun).where(ReleaseRun.id.in_(ids)).order_by(ReleaseRun.id)))
            for row in rows:
                _note(
                    session,
                    row,
                    "release_run_started",
                    f"Running {row.action}{' (dry run)' if row.dry_run else ''}, triggered by {row.triggered_by}",
                    now,
                )
            return [
                Claimed(r.id, r.action, r.service_id, r.incident_id, dict(r.params), r.dry_run, r.triggered_by)
                for r in rows
            ]

    def execute(self, run: Claimed) -> ActionOutcome:
        """Run one claimed run's built-in (no transaction open) and record its outcome."""
        outcome = self._outcome(run)
        now = self.ctx.clock.now()
        with self.ctx.write() as session:
            row = session.get_one(ReleaseRun, run.id)
            row.status, row.summary, row.output, row.finished_at = (
                _RESULT_STATUS[outcome.result],
                outcome.summary,
                dict(outcome.output),
                now,
            )
            _note(
                session,
                row,
                f"action_{outcome.result}",
                outcome.summary,
                now,
                action=run.action,
                run_id=run.id,
                output=dict(outcome.output),
            )
        return outcome

    def _outcome(self, run: Claimed) -> ActionOutcome:
        action = REGISTRY.get(run.action)
        if action is None:
            return ActionOutcome(Result.FAILED, f"No built-in action {run.action!r}")
        try:
            call = ActionCall(
                ctx=self.ctx,
                params=action.params.model_validate(run.params),
                service=run.service_id,
                incident_id=run.incident_id,
                dry_run=run.dry_run,
                triggered_by=run.triggered_by,
                now=self.ctx.clock.now(),
            )
            return action.run(call)
        except Exception as exc:  # a bug or a bad parameter: the run fails, the worker goes on
            log.exception("release run %s (%s) crashed", run.id, run.action)
            return ActionOutcome(Result.FAILED, f"{run.action} failed: {type(exc).__name__}: {exc}"[:1000])


def _note(session: Session, row: ReleaseRun, kind: str, summary: str, now: Any, **data: Any) -> None:
    if row.incident_id is None:
        return
    incident = session.get(Incident, row.incident_id)
    if incident is not None:
        note(session, incident, now, kind, summary, **data)
