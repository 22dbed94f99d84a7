"""`/api/v1/notifications/dead`: outbound dead letters, listed and replayed (to their destination or to staging)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from missionctl.deps import Ctx, Responder, Viewer
from missionctl.notifications import deadletters
from missionctl.notifications.models import Notification
from missionctl.notifications.schemas import DeadNotificationRead, ReplayItem, ReplayRead, ReplayRequest

router = APIRouter(prefix="/notifications/dead", tags=["paging"])


def read_model(row: Notification) -> DeadNotificationRead:
    return DeadNotificationRead(
        id=row.id,
        incident_id=row.incident_id,
        purpose=row.purpose,
        person_id=row.person_id,
        channel=row.channel,
        destination=deadletters.shown(row.channel, row.address),
        contact_label=row.contact_label,
        attempts=row.attempts,
        created_at=row.created_at,
        last_error=row.last_error,
        webhook_id=deadletters.sent_id(row),
        subject=row.subject,
    )


@router.get("")
def list_dead_notifications(
    ctx: Ctx,
    _: Viewer,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: Annotated[str | None, Query(pattern="^(email|webhook|apprise|inbox)$")] = None,
    incident_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadNotificationRead]:
    """Notifications that failed for good (created in [since, until)), newest first."""
    with ctx.read() as session:
        rows = deadletters.listing(
            session, since=since, until=until, channel=channel, incident_id=incident_id, limit=limit
        )
        return [read_model(r) for r in rows]


@router.post("/replay")
def replay_dead_notifications(body: ReplayRequest, ctx: Ctx, who: Responder) -> ReplayRead:
    """Queue copies of matching dead notifications (a seeded sample of N); `target` sends them to staging."""
    with ctx.write() as session:
        matched, replays = deadletters.replay(
            session,
            since=body.since,
            until=body.until,
            ids=body.ids,
            channel=body.channel,
            incident_id=body.incident_id,
            sample=body.sample,
            seed=body.seed,
            target=body.target,
            dry_run=body.dry_run,
            actor=who.name,
            now=ctx.clock.now(),
        )
    queued = [ReplayItem(**dataclasses.asdict(r)) for r in replays]
    return ReplayRead(dry_run=body.dry_run, matched=matched, queued=queued)
