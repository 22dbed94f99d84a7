"""`/api/v1/integrations`: keys for alert sources, created and revoked by admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from missionctl.deps import Admin, Ctx, Responder, Viewer
from missionctl.errors import MissionControlError
from missionctl.signals import deadletters, integrations
from missionctl.signals.ingest import Ingest
from missionctl.signals.schemas import (
    BulkReplayRead,
    DeadLetterRead,
    DeadLetterSummary,
    IntegrationCreate,
    IntegrationCreated,
    IntegrationRead,
    ReplayRead,
)
from missionctl.webhooks.sampling import sample as draw

router = APIRouter(prefix="/integrations", tags=["integrations"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_integration(body: IntegrationCreate, ctx: Ctx, _: Admin) -> IntegrationCreated:
    """Create a key for one alert source and service; the key is in this response only."""
    with ctx.write() as session:
        issued = integrations.create(
            session, kind=body.kind, service_id=body.service, name=body.name, now=ctx.clock.now()
        )
        return IntegrationCreated(**IntegrationRead.model_validate(issued.record).model_dump(), key=issued.key)


@router.get("")
def list_integrations(ctx: Ctx, _: Viewer) -> list[IntegrationRead]:
    with ctx.read() as session:
        return [IntegrationRead.model_validate(r) for r in integrations.listing(session)]


@router.delete("/{integration_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_integration(integration_id: int, ctx: Ctx, _: Admin, request: Request) -> Response:
    """Refuse events with this key from now on (other processes stop accepting it within seconds)."""
    with ctx.write() as session:
        integrations.revoke(session, integration_id=integration_id, now=ctx.clock.now())
    request.app.state.ingest.keys.clear()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


dead_letters_router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@dead_letters_router.get("")
def list_dead_letters(
    ctx: Ctx,
    _: Viewer,
    status_: Annotated[str | None, Query(alias="status", pattern="^(pending|replayed|discarded)$")] = None,
    source: Annotated[str | None, Query(pattern="^(alertmanager|grafana|pagerduty)$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[DeadLetterSummary]:
    """Refused inbound events, newest first."""
    with ctx.read() as session:
        rows = deadletters.listing(
            session, status=status_, source=source, since=since, until=until, before_id=before_id, limit=limit
        )
        return [DeadLetterSummary.model_validate(r) for r in rows]


@dead_letters_router.get("/{letter_id}")
def get_dead_letter(letter_id: int, ctx: Ctx, _: Viewer) -> DeadLetterRead:
    """One refused event with its body as it arrived."""
    with ctx.read() as session:
        return DeadLetterRead.model_validate(deadletters.get(session, letter_id))


@dead_letters_router.post("/{letter_id}/replay")
def replay_dead_letter(letter_id: int, ctx: Ctx, who: Responder, request: Request) -> ReplayRead:
    """Accept a pending dead letter now, with the routes and runbooks in force (after a routing fix)."""
    ingest: Ingest = request.app.state.ingest
    with ctx.write() as session:
        done = deadletters.replay(
            session,
            letter_id,
            router=ingest.router,
            registry=ctx.runbooks,
            actor=who.name,
            now=ctx.clock.now(),
        )
        return ReplayRead(
            dead_letter=DeadLetterSummary.model_validate(done.letter), alerts=done.alerts, incidents=done.incidents
        )


@dead_letters_router.post("/replay")
def replay_dead_letters(
    ctx: Ctx,
    who: Responder,
    request: Request,
    source: Annotated[str | None, Query(pattern="^(alertmanager|grafana|pagerduty)$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    sample: Annotated[int | None, Query(ge=1, le=500, description="Replay a random sample of N of the matches")] = None,
    seed: Annotated[int | None, Query(description="Seed for `sample`: the same seed draws the same sample")] = None,
) -> BulkReplayRead:
    """Replay every pending dead letter that matches (oldest first), or a sample of N, each in its own transaction."""
    ingest: Ingest = request.app.state.ingest
    with ctx.read() as session:
        ids = [
            r.id
            for r in deadletters.listing(
                session,
                status=deadletters.PENDING,
                source=source,
                since=since,
                until=until,
                limit=deadletters.SAMPLE_POOL if sample else limit,
            )
        ]
    ids = draw(sorted(ids), sample, seed=seed)
    result = BulkReplayRead(replayed=[], still_failing=[])
    for letter_id in sorted(ids):
        try:
            with ctx.write() as session:
                done = deadletters.replay(
                    session,
                    letter_id,
                    router=ingest.router,
                    registry=ctx.runbooks,
                    actor=who.name,
                    now=ctx.clock.now(),
                )
                result.replayed.append(
                    ReplayRead(
                        dead_letter=DeadLetterSummary.model_validate(done.letter),
                        alerts=done.alerts,
                        incidents=done.incidents,
                    )
                )
        except MissionControlError as exc:
            result.still_failing.append({"id": letter_id, "code": exc.code, "message": exc.message})
    return result


@dead_letters_router.post("/{letter_id}/discard")
def discard_dead_letter(letter_id: int, ctx: Ctx, who: Responder) -> DeadLetterSummary:
    """Stop offering a pending dead letter for replay (it stays listed)."""
    with ctx.write() as session:
        return DeadLetterSummary.model_validate(
            deadletters.discard(session, letter_id, actor=who.name, now=ctx.clock.now())
        )
