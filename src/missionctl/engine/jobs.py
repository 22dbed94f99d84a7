"""Enqueue jobs inside the caller's transaction, and wake engines when that transaction commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, text
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


def enqueue(
    session: Session,
    *,
    kind: str,
    run_at: datetime,
    payload: dict[str, Any],
    dedup_key: str | None = None,
    now: datetime,
) -> None:
    """Add a job to run at `run_at` when the caller's transaction commits; a known `dedup_key` is a no-op."""
    pending: dict[str | int, dict[str, Any]] = session.info.setdefault(PENDING_KEY, {})
    key: str | int = dedup_key if dedup_key is not None else len(pending)
    pending.setdefault(
        key,
        {"kind": kind, "run_at": run_at, "payload": payload, "dedup_key": dedup_key, "attempts": 0, "created_at": now},
    )
    note_due(session, run_at)


def note_due(session: Session, run_at: datetime) -> None:
    """Wake this process's engine when the transaction commits, if `run_at` is sooner than it would look."""
    earliest = session.info.get(EARLIEST_KEY)
    if earliest is None or run_at < earliest:
        session.info[EARLIEST_KEY] = run_at


def write_pending(session: Session) -> None:
    """Write every job enqueued in this transaction in one statement (called just before commit).

    A declaration queues half a dozen timers; one multi-row insert instead of one round trip each is
    most of the difference on PostgreSQL.
    """
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # The table, not the mapped class: the ORM's bulk-insert bookkeeping cost more than the insert (these rows
    # are never loaded as objects in this transaction).
    statement = insert(_JOBS).on_conflict_do_nothing(index_elements=["dedup_key"])
    session.execute(statement, list(pending.values()))
    if dialect == "postgresql":
        # Delivered to listening engines only if and when this transaction commits.
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": WAKE_CHANNEL})
