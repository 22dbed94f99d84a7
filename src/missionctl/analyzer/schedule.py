"""The scheduled plan check (RB-002 `pg.plan_diff`): an engine job every N minutes that hands off to a worker.

Engine handlers run inside the engine's write transaction, and an analysis waits on another server for
seconds, so the job handler only schedules the next check and, once its transaction has committed, hands
this one to a single background worker that runs `service.run` with no Mission Control transaction open.
Checks sit on a grid (every `interval` minutes since the epoch) and each slot's job carries the slot in
its dedup key, so several engines, restarts and re-enqueues never double a check. A check still running
when the next one is due makes the next one a no-op: the worker runs one at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from missionctl.analyzer import service
from missionctl.analyzer.config import AnalyzerConfig, NotConfigured
from missionctl.context import AppContext
from missionctl.engine import jobs

log = logging.getLogger(__name__)

CHECK = "analyzer.check"
TRIGGER = "schedule"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def next_slot(now: datetime, interval_minutes: int) -> datetime:
    """The first grid point strictly after `now`."""
    step = timedelta(minutes=interval_minutes)
    return _EPOCH + ((now - _EPOCH) // step + 1) * step


def schedule_next(session: Session, *, interval_minutes: int, now: datetime) -> datetime:
    """Enqueue the check of the next slot (a no-op if it is already queued)."""
    run_at = next_slot(now, interval_minutes)
    jobs.enqueue(session, kind=CHECK, run_at=run_at, payload={}, dedup_key=f"{CHECK}:{run_at.isoformat()}", now=now)
    return run_at


class AnalyzerSchedule:
    """The worker that runs scheduled checks, and the engine handler that feeds it."""

    def __init__(self, ctx: AppContext, config: AnalyzerConfig) -> None:
        self.ctx, self.config = ctx, config
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="missionctl-analyzer")
        self._busy = threading.Lock()
        self._last: Future[None] | None = None

    @classmethod
    def start(cls, ctx: AppContext) -> AnalyzerSchedule | None:
        """Queue the next check and return the schedule; None when no analyzer or no interval is configured."""
        try:
            config = AnalyzerConfig.from_settings(ctx.settings)
        except NotConfigured:
            return None
        if config.interval_minutes <= 0:
            return None
        with ctx.write() as session:
            schedule_next(session, interval_minutes=config.interval_minutes, now=ctx.clock.now())
        return cls(ctx, config)

    @property
    def handlers(self) -> dict[str, Callable[..., None]]:
        return {CHECK: self.handle}

    def handle(self, session: Session, *, payload: dict[str, Any], now: datetime) -> None:
        """Job: queue the next check; after this transaction commits, run this one in the worker."""
        schedule_next(session, interval_minutes=self.config.interval_minutes, now=now)
        event.listen(session, "after_commit", lambda _session: self.submit(), once=True)

    def submit(self) -> bool:
        """Start a check in the worker unless one is running; True if started."""
        if not self._busy.acquire(blocking=False):
            log.info("analyzer check skipped: the previous one is still running")
            return False
        self._last = self._pool.submit(self._check)
        return True

    def _check(self) -> None:
        try:
            found = service.run(self.ctx, now=self.ctx.clock.now(), trigger=TRIGGER, raise_incident=True)
            log.info("analyzer check: %s", found.summary)
        except Exception:  # the next slot tries again
            log.exception("analyzer check of %s failed", self.config.target)
        finally:
            self._busy.release()

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the check in flight, if any (tests)."""
        if self._last is not None:
            self._last.result(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
