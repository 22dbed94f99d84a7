"""Delivering one outbox row: re-check it, respect throttles, send it once, record exactly what happened."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from missionctl.context import AppContext
from missionctl.engine.breakers import DeliveryBreakers
from missionctl.engine.jobs import LostLease
from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note
from missionctl.notifications.backoff import should_give_up
from missionctl.notifications.channels import (
    ChannelKind,
    DeliveryResult,
    Destination,
    Message,
    Outcome,
    Sender,
)
from missionctl.notifications.deadletters import strip_replay
from missionctl.notifications.models import Notification, NotificationStatus, Purpose
from missionctl.notifications.service import Snapshot
from missionctl.notifications.throttle import DestinationThrottle

if TYPE_CHECKING:
    from missionctl.engine.jobs import Claimed
    from missionctl.engine.runner import Engine

FINAL = {NotificationStatus.SENT, NotificationStatus.FAILED_PERM, NotificationStatus.CANCELLED}
GIVE_UP_AFTER = timedelta(hours=6)


class Deliveries:
    def __init__(self, ctx: AppContext, sender: Sender, engine: Engine) -> None:
        self.ctx, self.sender, self.engine = ctx, sender, engine
        self.throttle = DestinationThrottle(
            rate_per_second=ctx.settings.delivery_rate_per_destination,
            burst=ctx.settings.delivery_burst_per_destination,
        )
        self.breakers = DeliveryBreakers(ctx.settings, engine.rng)

    def deliver(self, job: Claimed) -> None:
        now = self.ctx.clock.now()
        snap = job.carried if isinstance(job.carried, Snapshot) else self._read(int(job.payload["notification_id"]))
        if snap is None or snap.status in FINAL or snap.cancelled_by_ack:
            with self.ctx.write() as session:
                if snap is not None and snap.cancelled_by_ack and snap.status not in FINAL:
                    _set(session, snap.id, status=NotificationStatus.CANCELLED)
                self.engine.finish(session, [job])
            return
        destination = Destination(ChannelKind(snap.channel), snap.address)
        key = (snap.channel, snap.address)
        admission = self.breakers.board.admit(key, now)
        if not admission.allowed:  # the destination's breaker is open: wait, without spending an attempt
            with self.ctx.write() as session:
                self.breakers.postpone(
                    session, self.engine, job, key=key, incident_id=snap.incident_id, admission=admission
                )
            return
        wait = self.throttle.take(destination, time.monotonic())
        if wait > 0:
            if admission.trial:
                self.breakers.board.release(key)
            with self.ctx.write() as session:
                self.engine.retry_later(session, job, run_at=now + timedelta(seconds=wait), error=None, refund=True)
            return
        result = self.sender.send(self._message(snap), destination, now=self.ctx.clock.now())
        done = self.ctx.clock.now()
        transition = self.breakers.board.record(key, ok=result.outcome is Outcome.SENT, now=done)
        with self.ctx.write() as session:
            self._record(session, job, snap, result, done)
            self.breakers.recorded(session, key, transition, done)

    def _read(self, notification_id: int) -> Snapshot | None:
        with self.ctx.read() as session:
            row = session.get(Notification, notification_id)
            if row is None:
                return None
            acked = False
            if row.unless_acknowledged and row.incident_id is not None:
                incident = session.get(Incident, row.incident_id)
                acked = incident is not None and incident.acknowledged_at is not None
            return Snapshot.of(row, acknowledged=acked)

    def _message(self, snap: Snapshot) -> Message:
        (payload, key), text = strip_replay(dict(snap.payload), snap.idempotency_key), snap.body
        base = self.ctx.settings.base_url
        if "ack_path" in payload:
            payload["ack_url"] = base + payload.pop("ack_path")
            text += f"\nAcknowledge: {payload['ack_url']}\n"
        incident = payload.get("incident")
        if isinstance(incident, dict) and "path" in incident:
            incident = dict(incident)
            incident["url"] = base + incident.pop("path")
            payload["incident"] = incident
            text += f"Incident: {incident['url']}\n"
        for label, key, path in payload.pop("links", []):  # public links (status subscriptions): made absolute here
            payload[key] = base + path
            text += f"{label}: {payload[key]}\n"
        return Message(
            idempotency_key=key,  # a replay to the original destination keeps the original's
            subject=snap.subject,
            text=text,
            payload=payload,
            created_at=snap.created_at,
        )

    def _record(self, session: Session, job: Claimed, snap: Snapshot, result: DeliveryResult, now: datetime) -> None:
        row = session.get_one(Notification, snap.id)
        row.attempts += 1
        if result.outcome is Outcome.SENT:
            row.status, row.sent_at, row.last_error = NotificationStatus.SENT, now, None
            self._first_page(session, row, now)
            self._finish_quietly(session, job)
            return
        give_up = should_give_up(
            job.attempts - 1, row.created_at, now, max_attempts=self.engine.config.max_attempts, max_age=GIVE_UP_AFTER
        )
        if result.outcome is Outcome.FAILED_TEMP and not give_up:
            row.status, row.last_error = NotificationStatus.FAILED_TEMP, result.detail
            pressure = result.status_code is not None and (result.status_code == 429 or result.status_code >= 500)
            delay = self.engine.backoff(job.attempts - 1, result.retry_after, pressure=pressure)
            self.engine.retry_later(session, job, run_at=now + timedelta(seconds=delay), error=result.detail)
            return
        row.status, row.last_error = NotificationStatus.FAILED_PERM, result.detail
        self._dead_letter(session, row, result, now, gave_up=result.outcome is Outcome.FAILED_TEMP)
        self._finish_quietly(session, job)

    def _finish_quietly(self, session: Session, job: Claimed) -> None:
        # If our lease was taken over the other engine owns the job now; what we recorded still stands.
        with contextlib.suppress(LostLease):
            self.engine.finish(session, [job])

    def _first_page(self, session: Session, row: Notification, now: datetime) -> None:
        if row.purpose != Purpose.PAGE or row.incident_id is None:
            return
        incident = session.get(Incident, row.incident_id, with_for_update=True)
        if incident is None or incident.first_page_sent_at is not None:
            return
        incident.first_page_sent_at = now
        seconds = (now - incident.declared_at).total_seconds()
        note(
            session,
            incident,
            now,
            "first_page_sent",
            f"First page delivered to {row.person_id} via {row.contact_label} {seconds:.1f} s after declaration",
            person=row.person_id,
            seconds=seconds,
        )

    def _dead_letter(
        self, session: Session, row: Notification, result: DeliveryResult, now: datetime, *, gave_up: bool
    ) -> None:
        if row.incident_id is None:
            return
        incident = session.get_one(Incident, row.incident_id)
        why = f"gave up after {row.attempts} attempts" if gave_up else "failed permanently"
        who = row.person_id or row.contact_label
        note(
            session,
            incident,
            now,
            "notification_failed",
            f"{row.purpose.replace('_', ' ').capitalize()} to {who} via {row.contact_label} {why}: {result.detail}",
            notification_id=row.id,
            purpose=row.purpose,
        )


def _set(session: Session, notification_id: int, **values: Any) -> None:
    session.execute(update(Notification).where(Notification.id == notification_id).values(**values))
