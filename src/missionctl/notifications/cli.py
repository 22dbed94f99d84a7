"""`missionctl notifications dead list|replay`: outbound dead letters (local admin commands, like `dead-letter`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from missionctl.context import build_context
from missionctl.notifications import deadletters
from missionctl.notifications.schemas import ReplayRequest
from missionctl.settings import load_settings

notifications_app = typer.Typer(help="Outbound notifications (local admin commands).", no_args_is_help=True)
dead_app = typer.Typer(help="Notifications that failed for good: list and replay them.", no_args_is_help=True)
notifications_app.add_typer(dead_app, name="dead")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

Since = Annotated[datetime | None, typer.Option(help="Created at or after (ISO 8601, UTC if no offset)")]
Until = Annotated[datetime | None, typer.Option(help="Created before (ISO 8601, UTC if no offset)")]
Channel = Annotated[str | None, typer.Option(help="email, webhook, apprise or inbox")]


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dead_app.command("list")
def list_dead(
    since: Since = None,
    until: Until = None,
    channel: Channel = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """List dead notifications, newest first."""
    ctx = build_context(load_settings())
    try:
        with ctx.read() as session:
            rows = deadletters.listing(session, since=_aware(since), until=_aware(until), channel=channel, limit=limit)
            for r in rows:
                where = deadletters.shown(r.channel, r.address)
                incident = f"INC-{r.incident_id}" if r.incident_id else "-"
                out.print(
                    f"#{r.id}\t{r.created_at:%Y-%m-%d %H:%M:%S}\t{incident}\t{r.purpose}\t{r.channel}\t{where}\t"
                    f"{r.attempts} attempt(s)\t{r.last_error or ''}"
                )
    finally:
        ctx.dispose()


@dead_app.command("replay")
def replay_dead(
    ids: Annotated[list[int] | None, typer.Argument(help="Only these dead notifications")] = None,
    since: Since = None,
    until: Until = None,
    channel: Channel = None,
    sample: Annotated[int | None, typer.Option(min=1, max=1000, help="Replay a random sample of N")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for --sample (the same seed, the same sample)")] = None,
    target: Annotated[str | None, typer.Option(help="Send to this http(s) URL instead, e.g. staging")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be queued; queue nothing")] = False,
    actor: Annotated[str, typer.Option(help="Who replays, for the record")] = "cli",
) -> None:
    """Queue copies of dead notifications; the engine delivers them (original webhook-id unless --target)."""
    request = ReplayRequest(
        since=_aware(since),
        until=_aware(until),
        ids=ids or None,
        channel=channel,
        sample=sample,
        seed=seed,
        target=target,
        dry_run=dry_run,
    )
    ctx = build_context(load_settings())
    try:
        with ctx.write() as session:
            matched, replays = deadletters.replay(
                session,
                since=request.since,
                until=request.until,
                ids=request.ids,
                channel=request.channel,
                sample=request.sample,
                seed=request.seed,
                target=request.target,
                dry_run=request.dry_run,
                actor=actor,
                now=ctx.clock.now(),
            )
    finally:
        ctx.dispose()
    verb = "would queue" if dry_run else "queued"
    for r in replays:
        copy = f" as #{r.notification_id}" if r.notification_id else ""
        out.print(f"#{r.original_id} → {r.channel} {r.destination} (webhook-id {r.webhook_id}){copy}")
    err.print(f"{matched} dead notification(s) matched; {verb} {len(replays)}")
