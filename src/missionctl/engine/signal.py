"""In-process wake-ups: a committed transaction that enqueued jobs tells the local engine at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from missionctl.engine import jobs
from missionctl.engine.jobs import EARLIEST_KEY


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
