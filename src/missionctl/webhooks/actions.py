"""RB-003's built-in action `webhooks.replay_sample`: replay N dead-lettered events to staging, summarise the answers.

It keeps the contract in `missionctl.actions.builtin`: a dry run lists exactly which events would go where and
sends nothing; events are read in a short read transaction and sent with none open; the outcome (counts by
status class, errors, latency) is what the framework records on the incident timeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select

from missionctl.actions.builtin import ActionCall, ActionOutcome, Result, builtin
from missionctl.notifications.channels import mask_webhook_url
from missionctl.notifications.models import Notification, NotificationStatus
from missionctl.signals.models import DeadLetter
from missionctl.webhooks import replay
from missionctl.webhooks.replay import INBOUND, OUTBOUND, SourceError


def _http(value: str, what: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError(f"{what} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL with a host")
    return value


class ReplaySampleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        default=OUTBOUND,
        description=f"{OUTBOUND!r} (Mission Control's dead notifications), {INBOUND!r} (refused inbound alerts), "
        "or an http(s) URL answering a JSON list of {id, body, headers, received_at}",
    )
    sample: int = Field(default=10, ge=1, le=500, description="How many events to replay (a random sample)")
    target_url: str = Field(max_length=2000, description="Where to replay them: a staging URL")
    since: datetime | None = Field(default=None, description="Only events at or after this time")
    until: datetime | None = Field(default=None, description="Only events before this time")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Per request (and for reading a URL)")
    seed: int | None = Field(default=None, description="Seed for the sample: the same seed, the same events")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return value if value in (OUTBOUND, INBOUND) else _http(value, "source")

    @field_validator("target_url")
    @classmethod
    def _target(cls, value: str) -> str:
        return _http(value, "target_url")


def _where(p: ReplaySampleParams) -> tuple[str, str]:
    source = p.source if p.source in (OUTBOUND, INBOUND) else mask_webhook_url(p.source)
    return source, mask_webhook_url(p.target_url)


@builtin(
    "webhooks.replay_sample",
    params=ReplaySampleParams,
    summary="Replay a random sample of dead-lettered events to a staging URL and summarise the answers",
)
def replay_sample(call: ActionCall[ReplaySampleParams]) -> ActionOutcome:
    p = call.params
    source, target = _where(p)
    try:
        events = replay.read_events(call.ctx, p.source, since=p.since, until=p.until, timeout=p.timeout_seconds)
    except SourceError as exc:
        return ActionOutcome(Result.FAILED, str(exc), {"source": source, "target": target})
    chosen = replay.choose(events, p.sample, p.seed)
    output: dict[str, Any] = {"source": source, "target": target, "available": len(events)}
    if not chosen:
        return ActionOutcome(Result.SKIPPED, f"No dead-lettered events in {source} to replay", output)
    if call.dry_run:
        output["would_send"] = [{"id": e.id, "to": target, "bytes": len(e.body)} for e in chosen]
        ids = ", ".join(e.id for e in chosen[:20]) + (" …" if len(chosen) > 20 else "")
        summary = f"Would replay {len(chosen)} of {len(events)} events from {source} to {target}: {ids}"
        return ActionOutcome(Result.DRY_RUN, summary, output)
    results = replay.send_all(chosen, p.target_url, timeout=p.timeout_seconds, source=p.source)
    figures = replay.summarise(results)
    output |= figures
    latency = figures["latency_ms"]
    timing = f"; latency p50 {latency['p50']:g} ms, max {latency['max']:g} ms" if latency else ""
    summary = (
        f"Replayed {len(chosen)} of {len(events)} events from {source} to {target}: {figures['2xx']} answered 2xx, "
        f"{figures['4xx']} 4xx, {figures['5xx']} 5xx, {figures['errors']} error(s){timing}"
    )
    answered = len(results) - figures["errors"]
    return ActionOutcome(Result.SUCCEEDED if answered else Result.FAILED, summary, output)


class BackoffStatusParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_minutes: int = Field(default=60, ge=1, le=24 * 60, description="How far back to count failures")


@builtin(
    "webhooks.adaptive_backoff",
    params=BackoffStatusParams,
    summary="Report the storm protections at work: retries backing off, dead deliveries, refused inbound events",
)
def adaptive_backoff(call: ActionCall[BackoffStatusParams]) -> ActionOutcome:
    """RB-003's automation is Mission Control's own behaviour, always on (full-jitter backoff honouring
    Retry-After, per-destination breakers, dead letters for malformed events); this action shows it working."""
    since = call.now - timedelta(minutes=call.params.window_minutes)
    if call.dry_run:
        return ActionOutcome(
            Result.DRY_RUN,
            f"Would count deliveries backing off, dead deliveries and refused inbound events since {since:%H:%M} UTC",
            {"since": since.isoformat()},
        )
    with call.ctx.read() as session:
        backing_off = session.scalar(select(func.count()).where(Notification.status == NotificationStatus.FAILED_TEMP))
        dead = session.scalar(
            select(func.count()).where(
                Notification.status == NotificationStatus.FAILED_PERM, Notification.created_at >= since
            )
        )
        rows = session.execute(
            select(DeadLetter.reason, func.count())
            .where(DeadLetter.received_at >= since, DeadLetter.status == "pending")
            .group_by(DeadLetter.reason)
        ).all()
        refused: dict[str, int] = {reason: count for reason, count in rows}
    s = call.ctx.settings
    output = {
        "since": since.isoformat(),
        "deliveries_backing_off": backing_off or 0,
        "deliveries_dead": dead or 0,
        "inbound_refused_pending": refused,
        "breaker": {
            "failures_to_open": s.delivery_breaker_failures,
            "cooldown_seconds": s.delivery_breaker_cooldown_seconds,
            "max_cooldown_seconds": s.delivery_breaker_max_cooldown_seconds,
        },
        "inbound_rate_per_key": s.ingest_rate_per_key,
    }
    summary = (
        f"Backoff at work: {output['deliveries_backing_off']} deliveries waiting to retry, "
        f"{output['deliveries_dead']} dead since {since:%H:%M} UTC; "
        f"{sum(refused.values())} refused inbound events waiting in the dead-letter table"
    )
    return ActionOutcome(Result.SUCCEEDED, summary, output)
