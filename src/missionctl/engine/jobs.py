"""Enqueue jobs inside the caller's transaction, and wake engines when that transaction commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from missionctl.engine.models import Job

WAKE_CHANNEL = "missionctl_jobs"


class LostLease(Exception):
    """Another engine took the job over (our lease expired); our work on it must not commit."""


# session.info key: the earliest run_at enqueued in the current transaction (see engine/signal.py).
EARLIEST_KEY = "missionctl.earliest_job"


def enqueue(
    session: Session,
    *,
    kind: str,
    run_at: datetime,
    payload: dict[str, Any],
    dedup_key: str | None = None,
    now: datetime,
) -> None:
    """Add a job to run at `run_at`; with a `dedup_key` already queued, nothing happens."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {
        "kind": kind,
        "run_at": run_at,
        "payload": payload,
        "dedup_key": dedup_key,
        "attempts": 0,
        "created_at": now,
    }
    statement = insert(Job).values(**values)
    if dedup_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["dedup_key"])
    session.execute(statement)
    _note_wake(session, run_at, dialect)


def _note_wake(session: Session, run_at: datetime, dialect: str) -> None:
    earliest = session.info.get(EARLIEST_KEY)
    if earliest is None or run_at < earliest:
        session.info[EARLIEST_KEY] = run_at
        if dialect == "postgresql" and earliest is None:
            # Delivered to listening engines only if and when this transaction commits.
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": WAKE_CHANNEL})
