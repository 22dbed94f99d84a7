"""Outbound dead letters: notifications that failed for good, listed and replayed as new outbox rows.

A replay never changes the dead row (it stays the record of what failed); it queues a copy with the same
subject, body and payload, linked to the original through the payload's `_replay` entry, which delivery
strips before sending:

- to the **original destination** the copy goes out with the original's `webhook-id` (or Message-ID), so a
  receiver that already processed it drops the duplicate;
- to a **target override** (a staging URL) it is a webhook with a new `webhook-id`, and its payload says
  `"replay": {"of": <id>, "original_webhook_id": ..., "replayed_at": ...}` so nobody mistakes it for news.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note
from missionctl.notifications import service as outbox
from missionctl.notifications.channels import ChannelKind, Destination
from missionctl.notifications.models import Notification, NotificationStatus, Purpose
from missionctl.webhooks.sampling import sample as draw

REPLAY_KEY = "_replay"  # payload entry delivery strips: {"of", "webhook_id" (kept id, or None), "mark" (or None)}
MAX_CANDIDATES = 10_000


def sent_id(row: Notification) -> str:
    """The `webhook-id` / Message-ID this row goes out with (a replay to the original keeps the original's)."""
    replay = row.payload.get(REPLAY_KEY) if isinstance(row.payload, dict) else None
    kept = replay.get("webhook_id") if isinstance(replay, dict) else None
    return kept if isinstance(kept, str) else row.idempotency_key


def shown(channel: str, address: str) -> str:
    try:
        return Destination(ChannelKind(channel), address).shown
    except ValueError:
        return "<unknown channel>"


def listing(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    incident_id: int | None = None,
    ids: list[int] | None = None,
    limit: int = 100,
) -> list[Notification]:
    """Dead notifications (status `failed_perm`) created in [since, until), newest first."""
    query = (
        select(Notification)
        .where(Notification.status == NotificationStatus.FAILED_PERM)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Notification.created_at >= since)
    if until is not None:
        query = query.where(Notification.created_at < until)
    if channel is not None:
        query = query.where(Notification.channel == channel)
    if incident_id is not None:
        query = query.where(Notification.incident_id == incident_id)
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    return list(session.scalars(query))


@dataclass(frozen=True)
class Replay:
    """One copy queued (or, in a dry run, that would be): where it goes and with which `webhook-id`."""

    original_id: int
    incident_id: int | None
    channel: str
    destination: str  # masked for people
    webhook_id: str
    target_override: bool
    notification_id: int | None  # the new outbox row; None in a dry run


def replay(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    ids: list[int] | None = None,
    channel: str | None = None,
    incident_id: int | None = None,
    sample: int | None = None,
    seed: int | None = None,
    target: str | None = None,
    dry_run: bool = False,
    actor: str,
    now: datetime,
) -> tuple[int, list[Replay]]:
    """Queue copies of the matching dead notifications (a seeded random `sample` of them); (matched, replays)."""
    rows = listing(
        session, since=since, until=until, ids=ids, channel=channel, incident_id=incident_id, limit=MAX_CANDIDATES
    )
    rows.sort(key=lambda r: r.id)
    chosen = draw(rows, sample, seed=seed)
    replays = [_copy(session, row, target=target, dry_run=dry_run, actor=actor, now=now) for row in chosen]
    if not dry_run:
        _tell_incidents(session, replays, target=target, actor=actor, now=now)
    return len(rows), replays


def _tell_incidents(session: Session, replays: list[Replay], *, target: str | None, actor: str, now: datetime) -> None:
    by_incident: dict[int, list[int]] = {}
    for r in replays:
        if r.incident_id is not None:
            by_incident.setdefault(r.incident_id, []).append(r.original_id)
    where = "to their original destinations" if target is None else f"to {shown(ChannelKind.WEBHOOK, target)}"
    for incident_id, originals in sorted(by_incident.items()):
        incident = session.get(Incident, incident_id)
        if incident is not None:
            summary = f"{actor} replayed {len(originals)} dead notification(s) {where}"
            note(session, incident, now, "notifications_replayed", summary, actor=actor, originals=originals)


def _copy(
    session: Session, row: Notification, *, target: str | None, dry_run: bool, actor: str, now: datetime
) -> Replay:
    original = sent_id(row)
    key = f"replay-{row.id}-{secrets.token_hex(8)}"
    if target is None:
        channel, address, webhook_id = row.channel, row.address, original
        meta: dict[str, Any] = {"of": row.id, "webhook_id": original, "mark": None, "by": actor}
    else:
        channel, address, webhook_id = ChannelKind.WEBHOOK.value, target, key
        mark = {"of": row.id, "original_webhook_id": original, "replayed_at": now.isoformat()}
        meta = {"of": row.id, "webhook_id": None, "mark": mark, "by": actor}
    new_id = None
    if not dry_run:
        payload = {k: v for k, v in row.payload.items() if k != REPLAY_KEY} | {REPLAY_KEY: meta}
        queued = outbox.queue(
            session,
            outgoing=outbox.Outgoing(
                purpose=Purpose(row.purpose),
                channel=channel,
                address=address,
                subject=row.subject,
                body=row.body,
                idempotency_key=key,
                incident_id=row.incident_id,
                person_id=row.person_id if target is None else None,
                contact_label=f"replay of #{row.id}" + ("" if target is None else f" to {shown(channel, address)}"),
                payload=payload,
                escalation_level=row.escalation_level,
            ),
            due_at=now,
            now=now,
        )
        new_id = queued.id if queued is not None else None
    return Replay(row.id, row.incident_id, channel, shown(channel, address), webhook_id, target is not None, new_id)


def strip_replay(payload: dict[str, Any], idempotency_key: str) -> tuple[dict[str, Any], str]:
    """What delivery sends for a row: the payload without `_replay` (plus the replay mark) and the id to use."""
    meta = payload.pop(REPLAY_KEY, None)
    if not isinstance(meta, dict):
        return payload, idempotency_key
    if isinstance(meta.get("mark"), dict):
        payload["replay"] = meta["mark"]
    kept = meta.get("webhook_id")
    return payload, kept if isinstance(kept, str) else idempotency_key
