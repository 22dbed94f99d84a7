"""The engine: takes due job rows, runs them, and delivers the outbox.

Internal jobs (escalation steps, clocks, reminders) are taken with `DELETE … RETURNING` and run in
the same transaction: their effects and their removal commit together, and a crash or an error rolls
both back, so the rows reappear (on PostgreSQL, `FOR UPDATE SKIP LOCKED` keeps other engines off them
meanwhile). A batch that fails is retried one job per transaction, so one bad job cannot block the
rest; a job that fails alone is put back with a backoff. Deliveries talk to the outside world, so
they are claimed under a lease, sent outside any transaction, and recorded after.
A crash between send and record re-sends with the same idempotency key after the lease expires: the
receiver can drop the duplicate; a page is never lost.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.orm import Session

from missionctl.context import AppContext
from missionctl.engine import delivery
from missionctl.engine.jobs import Claimed, LostLease, note_due
from missionctl.engine.models import Job
from missionctl.engine.signal import JobSignal
from missionctl.escalation.service import HANDLERS
from missionctl.notifications.backoff import next_delay
from missionctl.notifications.channels import Sender
from missionctl.notifications.service import DELIVER

log = logging.getLogger(__name__)

Handler = Callable[..., None]
MIN_BATCH = 25
BATCH_FAST = 0.1  # seconds: a batch this quick may double
BATCH_SLOW = 0.4  # seconds: a batch this slow halves
DELIVERY_CHECK_EVERY = 4


@dataclass(frozen=True)
class EngineConfig:
    batch_size: int = 5000  # the largest batch; batches adapt between MIN_BATCH and this
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    delivery_workers: int = 8
    max_attempts: int = 8


class Engine:
    """One engine process's worker. Several may run against one PostgreSQL database."""

    def __init__(
        self,
        ctx: AppContext,
        sender: Sender,
        *,
        config: EngineConfig | None = None,
        worker_id: str | None = None,
        handlers: dict[str, Handler] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.ctx, self.sender, self.config = ctx, sender, config or EngineConfig()
        self.me = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.handlers: dict[str, Handler] = dict(HANDLERS if handlers is None else handlers)
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self.signal: JobSignal = ctx.job_signal
        self._pool = ThreadPoolExecutor(self.config.delivery_workers, thread_name_prefix="missionctl-deliver")
        self._inflight: set[Future[None]] = set()
        self._capacity_bound = False  # the last pass claimed as many deliveries as it had room for
        self._internal_full = False  # the last pass took a full batch of internal jobs
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.deliveries = delivery.Deliveries(ctx, sender, self)
        self._batch = min(MIN_BATCH * 4, self.config.batch_size)
        self._passes = 0
        self._last_internal = 0

    # -- one pass -------------------------------------------------------------------------------

    def run_due(self) -> int:
        """Run the internal jobs due now and start due deliveries (not awaited). Returns jobs taken."""
        now = self.ctx.clock.now()
        # Pages first: a delivery that waits behind a transaction of timers is time-to-engage lost. While a
        # backlog of timers drains in full batches, look for deliveries every few passes only: each look is
        # a write transaction, and pages still leave within a few batches.
        self._passes += 1
        busy = self._last_internal >= self._batch and self._passes % DELIVERY_CHECK_EVERY
        capacity = self.config.delivery_workers * 2 - len(self._inflight)
        outgoing = self._claim(now, deliveries=True, limit=capacity) if capacity > 0 and not busy else []
        self._capacity_bound = capacity <= 0 or len(outgoing) >= capacity
        for job in outgoing:
            self._submit(job)
        internal = self._last_internal = self._run_internal(now)
        return internal + len(outgoing)

    def run_until_idle(self, max_passes: int = 1000) -> int:
        """Run passes, waiting for deliveries, until nothing is due (tests drive the clock this way)."""
        total = 0
        for _ in range(max_passes):
            claimed = self.run_due()
            self.drain()
            total += claimed
            if claimed == 0:
                return total
        raise RuntimeError(f"engine still busy after {max_passes} passes")

    def drain(self, timeout: float = 60.0) -> None:
        """Wait for every delivery in flight to be sent and recorded."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._inflight)
            if not pending:
                return
            for future in pending:
                future.result(timeout=max(0.0, deadline - time.monotonic()))

    # -- claiming -------------------------------------------------------------------------------

    def _due(self, session: Session, now: datetime, *, deliveries: bool, limit: int) -> Any:
        kind_filter = Job.kind == DELIVER if deliveries else Job.kind != DELIVER
        due = (
            select(Job.id)
            .where(Job.run_at <= now, or_(Job.locked_until.is_(None), Job.locked_until <= now), kind_filter)
            .order_by(Job.run_at, Job.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        return due.scalar_subquery()

    def _claim(self, now: datetime, *, deliveries: bool, limit: int) -> list[Claimed]:
        until = now + timedelta(seconds=self.config.lease_seconds)
        with self.ctx.write() as session:
            due = self._due(session, now, deliveries=deliveries, limit=limit)
            rows = session.execute(
                update(Job)
                .where(Job.id.in_(due))
                .values(locked_until=until, locked_by=self.me, attempts=Job.attempts + 1)
                .returning(Job.id, Job.kind, Job.payload, Job.attempts)
            ).all()
        return [Claimed(r.id, r.kind, r.payload, r.attempts, until) for r in rows]

    def finish(self, session: Session, jobs: list[Claimed]) -> None:
        """Delete done jobs, but only those we still hold (the lease is the fence)."""
        if not jobs:
            return
        deleted = session.execute(
            delete(Job).where(
                Job.id.in_([j.id for j in jobs]),
                Job.locked_by == self.me,
                Job.locked_until == jobs[0].lease_until,
            )
        ).rowcount  # type: ignore[attr-defined]
        if deleted != len(jobs):
            raise LostLease(f"{len(jobs) - deleted} of {len(jobs)} jobs were taken over by another engine")

    def retry_later(
        self, session: Session, job: Claimed, *, run_at: datetime, error: str | None, refund: bool = False
    ) -> None:
        """Release a job we hold, to run again at `run_at`."""
        values: dict[str, Any] = {
            "run_at": run_at,
            "locked_until": None,
            "locked_by": None,
            "last_error": error,
        }
        if refund:
            values["attempts"] = Job.attempts - 1
        session.execute(
            update(Job)
            .where(Job.id == job.id, Job.locked_by == self.me, Job.locked_until == job.lease_until)
            .values(**values)
        )
        note_due(session, run_at)  # the loop may be asleep until later than this

    def backoff(self, attempts: int, retry_after: float | None = None, *, pressure: bool = False) -> float:
        return next_delay(attempts, retry_after=retry_after, rng=self.rng, pressure=pressure)

    # -- internal jobs ----------------------------------------------------------------------------

    def _run_internal(self, now: datetime) -> int:
        """Take up to a batch of due internal jobs and run them, all in one transaction."""
        taken: list[Claimed] = []
        started = time.perf_counter()
        try:
            with self.ctx.write() as session:
                due = self._due(session, now, deliveries=False, limit=self._batch)
                taken = self._take(session, Job.id.in_(due), now)
                for job in taken:
                    self._handle(session, job, now)
        except Exception as exc:
            if not taken:
                raise
            log.info("batch of %d jobs failed (%s); running them one by one", len(taken), exc)
            for job in taken:
                self._run_alone(job, now)
        self._internal_full = len(taken) >= self._batch
        self._adapt(len(taken), time.perf_counter() - started)
        return len(taken)

    def _adapt(self, taken: int, seconds: float) -> None:
        """Grow batches while they are quick, shrink them when slow: cheap timers drain in big batches,
        heavy handlers never hold the (SQLite) write lock for long."""
        if taken == self._batch and seconds < BATCH_FAST:
            self._batch = min(self._batch * 2, self.config.batch_size)
        elif seconds > BATCH_SLOW:
            self._batch = max(self._batch // 2, MIN_BATCH)

    def _take(self, session: Session, condition: Any, now: datetime) -> list[Claimed]:
        # Core, not ORM, DELETE: no identity-map bookkeeping for rows that never become objects.
        jobs = cast(Table, Job.__table__)
        rows = (
            session.connection()
            .execute(
                delete(jobs)
                .where(condition)
                .returning(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.dedup_key)
            )
            .all()
        )
        return [Claimed(r.id, r.kind, r.payload, r.attempts + 1, now, r.dedup_key) for r in rows]

    def _run_alone(self, job: Claimed, now: datetime) -> None:
        try:
            with self.ctx.write() as session:
                for again in self._take(session, Job.id == job.id, now):  # gone if another engine ran it
                    self._handle(session, again, now)
        except Exception as exc:
            self._put_back(job, exc, now)

    def _handle(self, session: Session, job: Claimed, now: datetime) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        handler(session, payload=job.payload, now=now)

    def _put_back(self, job: Claimed, exc: Exception, now: datetime) -> None:
        """The job failed on its own (its transaction rolled back, so the row is there again): record the
        error and let it run again after a backoff."""
        log.warning("job %s (%s) failed on attempt %d: %s", job.id, job.kind, job.attempts, exc)
        delay = self.backoff(min(job.attempts - 1, self.config.max_attempts))
        with self.ctx.write() as session:
            session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(
                    attempts=job.attempts,
                    run_at=now + timedelta(seconds=delay),
                    last_error=f"{type(exc).__name__}: {exc}",
                )
            )

    # -- deliveries -----------------------------------------------------------------------------

    def _submit(self, job: Claimed) -> None:
        future = self._pool.submit(self.deliveries.deliver, job)
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._inflight.discard(future)
        if (exc := future.exception()) is not None:
            log.error("delivery crashed: %s", exc)
        if self._capacity_bound:
            self.signal.ring()  # capacity freed: the loop left due deliveries unclaimed
        # Otherwise no pass is needed: a pass that finds nothing still takes the write lock twice, and on an idle
        # server that is what the next alert's declaration waited behind. Retries wake the loop themselves.

    # -- the loop ---------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Run until `stop()`: work while there is work, then sleep until the next due job or a wake-up."""
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:
                log.exception("engine pass failed; retrying shortly")
                self._stop.wait(self.config.poll_seconds)
                continue
            if self._capacity_bound or self._internal_full:
                continue  # a limit was hit: more may be due now
            # Otherwise this pass took everything due. Work it queued rings the signal on commit, so waiting is
            # safe; another pass at once would only compete with the deliveries just started.
            self._sleep()

    def _sleep(self) -> None:
        """Wait until the next due job, or a ring that needs a pass sooner.

        A committing declaration rings with its earliest new job: timers minutes away (its page was handed
        over). A pass at once would find nothing due, yet take the write lock twice and hold the interpreter
        while that page is being sent, so such a ring only brings the next pass forward.
        """
        deadline = time.monotonic() + self._seconds_until_next_due()
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            ring = self.signal.wait(remaining)
            if ring is None or ring.due is None:
                return  # the wait is over, or someone asked for a look now
            due_in = (ring.due - self.ctx.clock.now()).total_seconds()
            if due_in <= 0:
                return
            deadline = min(deadline, time.monotonic() + due_in)

    def _seconds_until_next_due(self) -> float:
        with self.ctx.read() as session:
            next_at = session.scalar(select(Job.run_at).where(Job.locked_until.is_(None)).order_by(Job.run_at).limit(1))
        if next_at is None:
            return self.config.poll_seconds
        wait = (next_at - self.ctx.clock.now()).total_seconds()
        return min(max(wait, 0.0), self.config.poll_seconds)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.serve_forever, name=f"missionctl-engine-{self.me}", daemon=True)
        self._thread.start()
        self.signal.handoff = self  # pages this process queues come straight to the delivery pool
        return self._thread

    # -- the handoff (jobs.Handoff): due pages from this process's transactions, already leased to us

    kinds = frozenset({DELIVER})

    @property
    def lease_seconds(self) -> float:
        return self.config.lease_seconds

    def take(self, leased: list[Claimed]) -> None:
        for job in leased:
            try:
                self._submit(job)
            except RuntimeError:  # stopping: the pool takes no more; the lease runs out and an engine claims it
                log.info("engine stopping: job %s waits for its lease to run out", job.id)

    def stop(self, timeout: float = 10.0) -> None:
        if self.signal.handoff is self:
            self.signal.handoff = None
        self._stop.set()
        self.signal.ring()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=False)
