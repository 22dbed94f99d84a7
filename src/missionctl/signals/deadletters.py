"""Dead letters: inbound events that were refused, kept verbatim; list them, replay them after a fix, or discard.

A replay parses and routes the stored body again with the routes and runbooks in force now, through the
same pipeline as a live delivery, in one transaction with marking the letter replayed: a replay either
lands completely or leaves the letter pending with the reason it still fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from missionctl.errors import Conflict, InvalidInput, NotFound
from missionctl.runbooks.loader import RunbookRegistry
from missionctl.signals import pagerduty
from missionctl.signals.events import PayloadError, SignalEvent
from missionctl.signals.ingest import PARSERS, KeyInfo, Router, UnknownService, Unroutable, key_info_by_id, route_events
from missionctl.signals.integrations import IntegrationKind
from missionctl.signals.models import DeadLetter
from missionctl.signals.pipeline import apply

PENDING = "pending"
REPLAYED = "replayed"
DISCARDED = "discarded"
SAMPLE_POOL = 10_000  # pending letters a sampled replay draws from


def listing(
    session: Session,
    *,
    status: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[DeadLetter]:
    """Newest first."""
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if status is not None:
        query = query.where(DeadLetter.status == status)
    if source is not None:
        query = query.where(DeadLetter.source == source)
    if since is not None:
        query = query.where(DeadLetter.received_at >= since)
    if until is not None:
        query = query.where(DeadLetter.received_at < until)
    if before_id is not None:
        query = query.where(DeadLetter.id < before_id)
    return list(session.scalars(query))


def get(session: Session, letter_id: int, *, for_update: bool = False) -> DeadLetter:
    query = select(DeadLetter).where(DeadLetter.id == letter_id)
    letter = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if letter is None:
        raise NotFound(f"no dead letter with id {letter_id}", code="dead_letter_not_found")
    return letter


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    alerts: int
    incidents: list[int]


def replay(
    session: Session,
    letter_id: int,
    *,
    router: Router,
    registry: RunbookRegistry,
    actor: str,
    now: datetime,
) -> Replayed:
    """Ingest a pending dead letter now; raises (and changes nothing) if it still cannot be accepted."""
    letter = get(session, letter_id, for_update=True)
    if letter.status != PENDING:
        raise Conflict(f"dead letter {letter_id} is {letter.status}; only pending ones replay", code="not_pending")
    key = _key(session, letter)
    try:
        events = _parse(letter)
        routed = route_events(events, key, router=router)
    except (PayloadError, Unroutable, UnknownService) as exc:
        raise InvalidInput(
            f"dead letter {letter_id} still cannot be accepted: {exc.message}",
            code=f"still_{exc.code}",
            details=exc.details,
        ) from exc
    applied = apply(session, routed, runbooks=registry, now=now)
    letter.status = REPLAYED
    letter.replayed_at = now
    letter.replayed_by = actor
    incidents = sorted({i for r in routed if (i := applied.incidents.get((r.origin, r.event.dedup_key)))})
    letter.replay_result = f"accepted {len(routed)} alert(s); incidents {incidents}"
    return Replayed(letter, len(routed), incidents)


def discard(session: Session, letter_id: int, *, actor: str, now: datetime) -> DeadLetter:
    letter = get(session, letter_id, for_update=True)
    if letter.status == PENDING:
        letter.status = DISCARDED
        letter.replayed_at = now
        letter.replayed_by = actor
        letter.replay_result = "discarded"
    return letter


def _key(session: Session, letter: DeadLetter) -> KeyInfo:
    info = key_info_by_id(session, letter.integration_id) if letter.integration_id is not None else None
    if info is None:
        raise Conflict(
            f"dead letter {letter.id} came with integration #{letter.integration_id}, which is revoked or gone",
            code="integration_gone",
        )
    return info


def _parse(letter: DeadLetter) -> list[SignalEvent]:
    body = letter.body.encode()
    kind = IntegrationKind(letter.source)
    if kind is IntegrationKind.PAGERDUTY:
        return [pagerduty.parse(body)[1]]
    return PARSERS[kind](body)
