"""In-process wake-ups: a committed transaction that enqueued jobs tells the local engine at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from missionctl.engine import jobs
from missionctl.engine.jobs import EARLIEST_KEY

if TYPE_CHECKING:
    from missionctl.context import AppContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ring:
    """What woke a waiting engine: `due` is the earliest due time the rings noted, None for "look now"."""

    due: datetime | None


def parse_due(text: str) -> datetime | None:
    """The due time a ring carries across processes; anything unreadable is a plain ring (look now)."""
    try:
        due = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return due if due is not None and due.tzinfo is not None else None


class JobSignal:
    """A doorbell with a note of the earliest new due time; engines wait on it instead of sleeping blind.

    A ring that carries a due time says "work is queued for then"; a ring without one says "look now"
    (capacity freed, another process's NOTIFY, stopping).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._earliest: datetime | None = None
        self._rung = False
        self._now = False
        self.forward: Callable[[datetime | None], None] | None = None  # the engine runs in another worker
        self.handoff: jobs.Handoff | None = None  # the engine runs in this process and takes due pages directly

    def ring(self, earliest: datetime | None = None) -> None:
        if self.forward is not None:
            self.forward(earliest)
        with self._condition:
            self._rung = True
            if earliest is None:
                self._now = True
            elif self._earliest is None or earliest < self._earliest:
                self._earliest = earliest
            self._condition.notify_all()

    def wait(self, timeout: float) -> Ring | None:
        """Block until rung or `timeout` seconds pass; None if nobody rang, else what the rings said (cleared)."""
        with self._condition:
            if not self._rung:
                self._condition.wait(timeout)
            if not self._rung:
                return None
            ring = Ring(None if self._now else self._earliest)
            self._earliest, self._rung, self._now = None, False, False
            return ring


class Relay:
    """The handoff in a worker without the engine: due pages written here, leased to the engine in worker 0
    (`me`), travel to it with what they carry (`send`), so they leave without a pass, a claim or a read back.

    A page that cannot travel (the doorbell's buffer full, a page too large) has its lease undone on a thread of
    its own, once this transaction's write lock is free, and rings: the engine's next pass finds it. If worker 0
    dies holding relayed pages, their leases run out and a pass takes them, as for its own.
    """

    def __init__(
        self,
        ctx: AppContext,
        *,
        me: str,
        kinds: frozenset[str],
        lease_seconds: float,
        send: Callable[[jobs.Claimed], bool],
    ) -> None:
        self.me, self.kinds, self.lease_seconds = me, kinds, lease_seconds
        self._ctx = ctx
        self._send = send
        self._releasing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="missionctl-relay")

    def take(self, leased: list[jobs.Claimed]) -> None:
        stuck = [job for job in leased if not self._sent(job)]
        if stuck:
            self._releasing.submit(self._release, stuck)

    def _sent(self, job: jobs.Claimed) -> bool:
        try:
            return self._send(job)
        except Exception:  # runs after the commit: the request that queued the page has succeeded
            log.exception("could not relay job %s to the engine's worker", job.id)
            return False

    def _release(self, stuck: list[jobs.Claimed]) -> None:
        try:
            with self._ctx.write() as session:
                jobs.release(session, stuck, holder=self.me)
        except Exception:  # the leases run out instead: the pages go late, never lost
            log.exception("could not undo the lease of %d page(s) the doorbell refused", len(stuck))
        self._ctx.job_signal.ring()


def install(factory: sessionmaker[Session], signal: JobSignal) -> None:
    """Write a transaction's enqueued jobs just before it commits, and ring `signal` once it has (handing
    jobs written already leased to this process's engine straight to it)."""

    @event.listens_for(factory, "before_commit")
    def _before_commit(session: Session) -> None:
        jobs.write_pending(session, handoff=signal.handoff)

    @event.listens_for(factory, "after_commit")
    def _after_commit(session: Session) -> None:
        leased = session.info.pop(jobs.LEASED_KEY, None)
        handoff = signal.handoff
        if leased and handoff is not None:
            handoff.take(leased)
        earliest = session.info.pop(EARLIEST_KEY, None)
        if earliest is not None:
            signal.ring(earliest)

    @event.listens_for(factory, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(EARLIEST_KEY, None)
        session.info.pop(jobs.PENDING_KEY, None)
        session.info.pop(jobs.LEASED_KEY, None)
