"""Enqueue jobs inside the caller's transaction, and wake engines when that transaction commits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Insert, Table, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from missionctl.engine.models import Job

WAKE_CHANNEL = "missionctl_jobs"
_JOBS = cast(Table, Job.__table__)


class LostLease(Exception):
    """Another engine took the job over (our lease expired); our work on it must not commit."""


# session.info keys: the earliest run_at enqueued in the current transaction (see engine/signal.py),
# and the jobs waiting to be written when it commits.
EARLIEST_KEY = "missionctl.earliest_job"
PENDING_KEY = "missionctl.pending_jobs"
LEASED_KEY = "missionctl.leased_jobs"  # written already leased to this process's engine: handed over on commit
_CARRIED = "carried"  # a pending row's in-memory passenger (see `enqueue`); never a column


@dataclass(frozen=True)
class Claimed:
    """A job an engine holds: taken by a pass, or written already leased to it (see `write_pending`)."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime
    dedup_key: str | None = None
    # Handed over from the committing transaction: what the enqueuer knew of the job's subject as it committed
    # (the outbox passes the notification it wrote), so the handler need not read back what it just committed.
    carried: Any = None


class Handoff(Protocol):
    """An engine that takes due jobs of `kinds` straight from the committing transaction, written already
    leased to it (`me`), instead of finding them on its next pass (a page leaves without waiting for a claim):
    the engine running in this process, or (`signal.Relay`) the one in another worker of this server."""

    me: str
    kinds: frozenset[str]

    @property
    def lease_seconds(self) -> float: ...

    def take(self, leased: list[Claimed]) -> None: ...


def enqueue(
    session: Session,
    *,
    kind: str,
    run_at: datetime,
    payload: dict[str, Any],
    dedup_key: str | None = None,
    now: datetime,
    carry: Callable[[], Any] | None = None,
) -> None:
    """Add a job to run at `run_at` when the caller's transaction commits; a known `dedup_key` is a no-op.

    `carry` is never stored: if the job is handed over on commit it is called just before the commit (after
    the transaction's last change) and its result reaches the handler as `Claimed.carried`.
    """
    pending: dict[str | int, dict[str, Any]] = session.info.setdefault(PENDING_KEY, {})
    key: str | int = dedup_key if dedup_key is not None else len(pending)
    row = {"kind": kind, "run_at": run_at, "payload": payload, "dedup_key": dedup_key, "attempts": 0, "created_at": now}
    if carry is not None:
        row[_CARRIED] = carry
    pending.setdefault(key, row)


def note_due(session: Session, run_at: datetime) -> None:
    """Wake this process's engine when the transaction commits, if `run_at` is sooner than it would look."""
    earliest = session.info.get(EARLIEST_KEY)
    if earliest is None or run_at < earliest:
        session.info[EARLIEST_KEY] = run_at


def write_pending(session: Session, *, handoff: Handoff | None = None) -> None:
    """Write every job enqueued in this transaction in one statement (called just before commit).

    A declaration queues half a dozen timers; one multi-row insert instead of one round trip each is
    most of the difference on PostgreSQL. With a `handoff`, jobs of its kinds that are due at once (a
    page) are written already leased to it and handed over after the commit (see `engine/signal.py`);
    if this process dies first, the lease runs out and any engine takes them as usual.
    """
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    rows: list[dict[str, Any]] = []
    direct: list[dict[str, Any]] = []
    for row in pending.values():
        handed = handoff is not None and row["kind"] in handoff.kinds and row["run_at"] <= row["created_at"]
        if not handed:
            row.pop(_CARRIED, None)
        (direct if handed else rows).append(row)
    dialect = session.get_bind().dialect.name
    due: datetime | None = None
    if rows:
        # The table, not the mapped class: the ORM's bulk-insert bookkeeping cost more than the insert (these
        # rows are never loaded as objects in this transaction).
        session.execute(_inserts(dialect)[0], rows)
        due = min(row["run_at"] for row in rows)
        note_due(session, due)
    if handoff is not None and direct:
        session.info[LEASED_KEY] = _write_leased(session, _inserts(dialect)[1], direct, handoff)
    if due is not None and dialect == "postgresql":
        # Delivered to listening engines only if and when this transaction commits, with the earliest due time:
        # an engine wakes for a pass only if that is sooner than it would look anyway.
        session.execute(text("SELECT pg_notify(:channel, :due)"), {"channel": WAKE_CHANNEL, "due": due.isoformat()})


@functools.cache
def _inserts(dialect: str) -> tuple[Insert, Insert]:
    """The two job inserts (plain; leased, returning the id), built once per dialect: a statement built anew
    for every transaction costs SQLAlchemy a fresh cache key each time."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    plain = insert(_JOBS).on_conflict_do_nothing(index_elements=["dedup_key"])
    return plain, insert(_JOBS).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(_JOBS.c.id)


def _write_leased(session: Session, insert: Insert, rows: list[dict[str, Any]], handoff: Handoff) -> list[Claimed]:
    leased = []
    for row in rows:
        carry = row.pop(_CARRIED, None)
        until = row["created_at"] + timedelta(seconds=handoff.lease_seconds)
        values = {**row, "locked_by": handoff.me, "locked_until": until, "attempts": 1}
        job_id = session.execute(insert, values).scalar()
        if job_id is not None:  # None: a job with its dedup key exists already (it runs as that one)
            carried = carry() if carry is not None else None
            leased.append(Claimed(job_id, row["kind"], row["payload"], 1, until, row["dedup_key"], carried))
    return leased


def release(session: Session, handed: list[Claimed], *, holder: str) -> None:
    """Undo the lease of jobs written leased to `holder` that never reached it: any pass may take them now."""
    session.execute(
        update(_JOBS)
        .where(_JOBS.c.id.in_([job.id for job in handed]), _JOBS.c.locked_by == holder)
        .values(locked_by=None, locked_until=None, attempts=_JOBS.c.attempts - 1)
    )
