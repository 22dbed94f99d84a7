"""Outbox use cases: queue a message with its delivery job, record what delivery did, server secrets."""

from __future__ import annotations

import base64
import functools
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Executable, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from missionctl.db import transaction_set
from missionctl.engine import jobs
from missionctl.notifications.models import Notification, NotificationStatus, Purpose, ServerSecret

DELIVER = "notification.deliver"
_SECRETS = "missionctl.server_secrets"  # Connection.info key: secrets read (committed) from this database
_CREATED_SECRETS = "missionctl.created_server_secrets"  # Session.info key: secrets this transaction made


@dataclass(frozen=True)
class Snapshot:
    """What delivery needs from a notification row, read in a short transaction before sending."""

    id: int
    status: str
    channel: str
    address: str
    idempotency_key: str
    subject: str
    body: str
    payload: dict[str, Any]
    created_at: datetime
    cancelled_by_ack: bool
    incident_id: int | None = None

    @classmethod
    def of(cls, row: Notification, *, acknowledged: bool) -> Snapshot:
        return cls(
            row.id,
            row.status,
            row.channel,
            row.address,
            row.idempotency_key,
            row.subject,
            row.body,
            dict(row.payload),
            row.created_at,
            acknowledged,
            row.incident_id,
        )


@dataclass(frozen=True)
class Outgoing:
    """What to send, to whom, and why."""

    purpose: Purpose
    channel: str
    address: str
    subject: str
    body: str
    idempotency_key: str
    incident_id: int | None = None
    person_id: str | None = None
    contact_label: str | None = None
    payload: dict[str, Any] | None = None
    escalation_level: int | None = None
    unless_acknowledged: bool = False


def queue(session: Session, *, outgoing: Outgoing, due_at: datetime, now: datetime) -> Notification | None:
    """Write the notification and its delivery job in the caller's transaction; a known key is a no-op.

    One statement for both (INSERT ... ON CONFLICT DO NOTHING RETURNING: the row comes back loaded, or nothing
    does when the key is known), not a lookup and then an insert through the unit of work.
    """
    values = {
        "incident_id": outgoing.incident_id,
        "purpose": outgoing.purpose,
        "person_id": outgoing.person_id,
        "channel": outgoing.channel,
        "address": outgoing.address,
        "contact_label": outgoing.contact_label,
        "subject": outgoing.subject,
        "body": outgoing.body,
        "payload": outgoing.payload or {},
        "idempotency_key": outgoing.idempotency_key,
        "escalation_level": outgoing.escalation_level,
        "unless_acknowledged": outgoing.unless_acknowledged,
        "status": NotificationStatus.PENDING,
        "attempts": 0,
        "created_at": now,
        "due_at": due_at,
    }
    row: Notification | None = session.scalars(_queueing(session.get_bind().dialect.name), [values]).first()
    if row is None:
        return None
    jobs.enqueue(
        session,
        kind=DELIVER,
        run_at=due_at,
        payload={"notification_id": row.id},
        dedup_key=f"deliver:{row.id}",
        now=now,
        # Handed to this process's engine on commit, the row as committed spares delivery reading it back; a
        # page that only goes out while unacknowledged is read back (as a claimed job is) to see the ack.
        carry=None if row.unless_acknowledged else lambda: Snapshot.of(row, acknowledged=False),
    )
    return row


@functools.cache
def _queueing(dialect: str) -> Executable:
    """`queue`'s insert, built once per dialect (built anew it costs SQLAlchemy a new cache key every time), and
    loaded as a `Notification` like `db.inserting` does."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, Notification.__table__)
    statement = insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(*table.columns)
    return select(Notification).from_statement(statement)


def for_incident(session: Session, *, incident_id: int, purpose: Purpose | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.incident_id == incident_id).order_by(Notification.id)
    if purpose is not None:
        query = query.where(Notification.purpose == purpose)
    return list(session.scalars(query))


def listing(
    session: Session, *, status: str | None, incident_id: int | None, person: str | None = None, limit: int
) -> list[Notification]:
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if person is not None:
        query = query.where(Notification.person_id == person)
    if status is not None:
        query = query.where(Notification.status == status)
    if incident_id is not None:
        query = query.where(Notification.incident_id == incident_id)
    return list(session.scalars(query))


def paged_since(session: Session, *, incident_id: int, since: datetime) -> frozenset[str]:
    """People with a page for this incident created at or after `since` (and not cancelled)."""
    rows = session.scalars(
        select(Notification.person_id).where(
            Notification.incident_id == incident_id,
            Notification.purpose == Purpose.PAGE,
            Notification.created_at >= since,
            Notification.status != NotificationStatus.CANCELLED,
        )
    )
    return frozenset(p for p in rows if p is not None)


def on_acknowledged(session: Session, *, incident_id: int, now: datetime) -> int:
    """Cancel delayed rules that only apply while unacknowledged; stamp the pages already out."""
    session.execute(
        update(Notification)
        .where(
            Notification.incident_id == incident_id,
            Notification.purpose == Purpose.PAGE,
            Notification.acknowledged_at.is_(None),
            Notification.status == NotificationStatus.SENT,
        )
        .values(acknowledged_at=now)
    )
    return cancel_pending_pages(session, incident_id=incident_id, only_unless_acknowledged=True)


def cancel_pending_pages(session: Session, *, incident_id: int, only_unless_acknowledged: bool) -> int:
    """Cancel pages not yet sent (their delivery jobs find them cancelled and stop)."""
    query = update(Notification).where(
        Notification.incident_id == incident_id,
        Notification.purpose == Purpose.PAGE,
        Notification.status.in_([NotificationStatus.PENDING, NotificationStatus.FAILED_TEMP]),
    )
    if only_unless_acknowledged:
        query = query.where(Notification.unless_acknowledged.is_(True))
    return session.execute(query.values(status=NotificationStatus.CANCELLED)).rowcount or 0  # type: ignore[attr-defined]


def server_secret(session: Session, *, name: str, now: datetime, prefix: str = "") -> str:
    """A secret this installation generated for itself once; every process reads the same one.

    Never changed once committed, so each database connection keeps the ones it has read (every page signs an
    acknowledgement link with one).
    """
    known: dict[str, str] = session.connection().info.setdefault(_SECRETS, {})
    if name in known:
        return known[name]
    row = session.get(ServerSecret, name)
    created = transaction_set(session, _CREATED_SECRETS)
    if row is None:
        value = prefix + base64.b64encode(secrets.token_bytes(32)).decode()
        row = ServerSecret(name=name, value=value, created_at=now)
        session.add(row)
        session.flush()
        created.add(name)
    if name not in created:  # one this transaction made is kept only once a later one reads it back committed
        known[name] = row.value
    return row.value
