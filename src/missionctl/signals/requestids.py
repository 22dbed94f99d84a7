"""Inbound idempotency by `webhook-id`: a request id an integration already sent is answered, not applied again.

Alertmanager and Grafana send no such header, but Standard Webhooks senders do (and retry with the same id).
The ids are written by the ingest group commit in the batch's own transaction, with one
`INSERT … ON CONFLICT DO NOTHING RETURNING` per batch: the ids it returns are new, the others were seen
(on PostgreSQL a concurrent insert of the same id waits for the other transaction and then returns
nothing, so two processes never both apply one delivery). An hourly engine job deletes ids older than
`KEEP`, so an id is remembered for at least 24 hours and at most 25.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from missionctl.engine import jobs
from missionctl.signals.models import InboundRequestId

KEEP = timedelta(hours=24)
PRUNE = "signals.prune_request_ids"
PRUNE_EVERY = timedelta(hours=1)
MAX_ID_LENGTH = 255
_CHUNK = 500  # rows per INSERT (3 parameters each, well under every driver's limit)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

RequestKey = tuple[int, str]  # (integration id, webhook-id)


def valid(request_id: str | None) -> str | None:
    """The header's value if it is a usable id (1 to 255 visible ASCII characters), else None (no dedup)."""
    if request_id is None:
        return None
    value = request_id.strip()
    if not 0 < len(value) <= MAX_ID_LENGTH or not all(33 <= ord(c) <= 126 for c in value):
        return None
    return value


def remember(session: Session, keys: Iterable[RequestKey], *, now: datetime) -> set[RequestKey]:
    """Record `keys` as seen at `now`; return those that were new (the rest were seen before)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return set()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    new: set[RequestKey] = set()
    for start in range(0, len(unique), _CHUNK):
        rows = [{"integration_id": i, "request_id": r, "seen_at": now} for i, r in unique[start : start + _CHUNK]]
        statement = (
            insert(InboundRequestId)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(InboundRequestId.integration_id, InboundRequestId.request_id)
        )
        new |= {(row[0], row[1]) for row in session.execute(statement)}
    return new


def next_prune(now: datetime) -> datetime:
    """The first hourly grid point after `now` (every process enqueues the same slot: one job)."""
    return _EPOCH + ((now - _EPOCH) // PRUNE_EVERY + 1) * PRUNE_EVERY


def schedule_prune(session: Session, *, now: datetime) -> datetime:
    run_at = next_prune(now)
    jobs.enqueue(session, kind=PRUNE, run_at=run_at, payload={}, dedup_key=f"{PRUNE}:{run_at.isoformat()}", now=now)
    return run_at


def prune(session: Session, *, payload: dict[str, Any], now: datetime) -> None:
    """Job: forget ids older than `KEEP`; come back in an hour while any are left."""
    session.execute(delete(InboundRequestId).where(InboundRequestId.seen_at < now - KEEP))
    if session.scalar(select(exists().where(InboundRequestId.seen_at.is_not(None)))):
        schedule_prune(session, now=now)
