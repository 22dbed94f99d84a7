"""The engine's side of per-destination circuit breakers: postpone deliveries while open, say so on timelines.

The state machine is `notifications.breaker` (pure, in memory per engine process). Here: building the board
from settings, postponing a refused delivery without counting an attempt, and timeline notes: one per
incident when its deliveries start waiting on an open breaker, and one when that breaker closes again.
"""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from missionctl.incidents.models import Incident
from missionctl.incidents.timeline import note
from missionctl.notifications.breaker import Admission, BreakerBoard, Key, Transition
from missionctl.notifications.channels import ChannelKind, Destination
from missionctl.settings import Settings

if TYPE_CHECKING:
    from missionctl.engine.jobs import Claimed
    from missionctl.engine.runner import Engine

POSTPONE_JITTER_SECONDS = 1.0  # spread the deliveries that wake at the end of a cool-down
OPEN_NOTE = "delivery_breaker_open"
CLOSED_NOTE = "delivery_breaker_closed"


def _shown(key: Key) -> str:
    return Destination(ChannelKind(key[0]), key[1]).shown


class DeliveryBreakers:
    """A `BreakerBoard` plus which incidents were told about which open breaker (to tell each once)."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.board = BreakerBoard(
            failures=settings.delivery_breaker_failures,
            cooldown=timedelta(seconds=settings.delivery_breaker_cooldown_seconds),
            max_cooldown=timedelta(
                seconds=max(settings.delivery_breaker_max_cooldown_seconds, settings.delivery_breaker_cooldown_seconds)
            ),
        )
        self.rng = rng
        self._told: dict[Key, set[int]] = {}
        self._lock = threading.Lock()

    def postpone(
        self, session: Session, engine: Engine, job: Claimed, *, key: Key, incident_id: int | None, admission: Admission
    ) -> None:
        """Put the job back until the breaker lets it try (attempt refunded); tell its incident once."""
        assert admission.retry_at is not None
        run_at = admission.retry_at + timedelta(seconds=self.rng.uniform(0.0, POSTPONE_JITTER_SECONDS))
        engine.retry_later(session, job, run_at=run_at, error="circuit breaker open", refund=True)
        if incident_id is None or not self._first_time(key, incident_id):
            return
        incident = session.get(Incident, incident_id)
        if incident is not None:
            summary = (
                f"Deliveries to {_shown(key)} are postponed: {admission.failures} failures in a row opened its "
                f"circuit breaker until {admission.retry_at:%H:%M:%S} UTC; they are retried then, nothing is dropped"
            )
            note(session, incident, engine.ctx.clock.now(), OPEN_NOTE, summary, channel=key[0], destination=_shown(key))

    def recorded(self, session: Session, key: Key, transition: Transition | None, now: datetime) -> None:
        """After a delivery's outcome: when a breaker closed, tell the incidents that were told it was open."""
        if transition is not Transition.CLOSED:
            return
        with self._lock:
            told = self._told.pop(key, set())
        for incident_id in sorted(told):
            incident = session.get(Incident, incident_id)
            if incident is not None:
                summary = f"Deliveries to {_shown(key)} resumed: a delivery succeeded and its circuit breaker closed"
                note(session, incident, now, CLOSED_NOTE, summary, channel=key[0], destination=_shown(key))

    def _first_time(self, key: Key, incident_id: int) -> bool:
        with self._lock:
            told = self._told.setdefault(key, set())
            if incident_id in told:
                return False
            told.add(incident_id)
            return True
