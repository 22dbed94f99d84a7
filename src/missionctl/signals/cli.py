"""`missionctl route test FILE.json`: a dry run of routing that says which rule matched and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from missionctl.context import build_context
from missionctl.errors import MissionControlError
from missionctl.runbooks.loader import load_registry
from missionctl.settings import load_settings
from missionctl.signals import alertmanager, deadletters, grafana, integrations, pagerduty
from missionctl.signals.events import SignalEvent
from missionctl.signals.ingest import Router, load_routes, routing_labels
from missionctl.signals.integrations import IntegrationKind
from missionctl.signals.routing import route
from missionctl.webhooks.sampling import sample as draw

route_app = typer.Typer(help="Alert routing.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def parse_any(body: bytes) -> list[SignalEvent]:
    """Recognise the payload: PagerDuty has `routing_key`, Grafana `orgId`, otherwise Alertmanager."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and "routing_key" in data:
        return [pagerduty.parse(data)[1]]
    if isinstance(data, dict) and "orgId" in data:
        return grafana.parse(data)
    return alertmanager.parse(body)


@route_app.command("test")
def test_route(
    payload: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="An Alertmanager, Grafana or PagerDuty Events v2 JSON payload"
        ),
    ],
    rules: Annotated[Path | None, typer.Option(help="Routes file (default: MISSIONCTL_ROUTES_FILE)")] = None,
    service: Annotated[
        str | None, typer.Option(help="Route as if sent with an integration key of this service (as ingest does)")
    ] = None,
) -> None:
    """Show where each alert in PAYLOAD would go; exit 1 if any alert is unroutable."""
    settings = load_settings()
    routes = load_routes(rules or settings.routes_file)
    runbooks = [entry.runbook for entry in load_registry(settings.runbook_dirs).all()]
    unroutable = 0
    for event in parse_any(payload.read_bytes()):
        labels = routing_labels(event, service) if service else event.labels
        result = route(labels, rules=routes, runbooks=runbooks, source_severity=event.severity)
        head = f"{event.action} {event.summary!r}"
        if result.decision is None:
            unroutable += 1
            out.print(f"[red]✗[/] {head}: unroutable")
        else:
            d = result.decision
            out.print(f"[green]✓[/] {head} → service {d.service}, runbook {d.runbook_id}, {d.severity} ({d.rule})")
        for line in result.trace:
            out.print(f"    {line}")
    raise typer.Exit(1 if unroutable else 0)


integration_app = typer.Typer(help="Integration keys for alert sources (local admin commands).", no_args_is_help=True)


@integration_app.command("create")
def create_integration(
    service: Annotated[str, typer.Option(help="Service id from the catalog")],
    kind: Annotated[IntegrationKind, typer.Option(help="alertmanager, grafana or pagerduty")],
    name: Annotated[str | None, typer.Option(help="A name to recognise it by")] = None,
) -> None:
    """Create a key (printed only this once) for one alert source and service."""
    ctx = build_context(load_settings())
    try:
        with ctx.write() as session:
            issued = integrations.create(session, kind=kind, service_id=service, name=name, now=ctx.clock.now())
    finally:
        ctx.dispose()
    err.print(f"Created {kind} integration #{issued.record.id} for service {service}:")
    print(issued.key)


@integration_app.command("list")
def list_integrations() -> None:
    """List integrations (never the keys)."""
    ctx = build_context(load_settings())
    try:
        with ctx.read() as session:
            for r in integrations.listing(session):
                state = "revoked" if r.revoked_at else "active"
                out.print(f"#{r.id}\t{r.kind}\t{r.service_id}\t{r.name}\t{r.key_prefix}…\t{state}")
    finally:
        ctx.dispose()


dead_letter_app = typer.Typer(help="Refused inbound events (local admin commands).", no_args_is_help=True)


@dead_letter_app.command("list")
def list_dead_letters(
    status: Annotated[str | None, typer.Option(help="pending, replayed or discarded")] = "pending",
    source: Annotated[str | None, typer.Option(help="alertmanager, grafana or pagerduty")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List dead letters, newest first."""
    ctx = build_context(load_settings())
    try:
        with ctx.read() as session:
            for d in deadletters.listing(session, status=status, source=source, limit=limit):
                out.print(f"#{d.id}\t{d.received_at:%Y-%m-%d %H:%M:%S}\t{d.source}\t{d.reason}\t{d.status}\t{d.error}")
    finally:
        ctx.dispose()


@dead_letter_app.command("show")
def show_dead_letter(letter_id: Annotated[int, typer.Argument(help="Dead letter id")]) -> None:
    """Print one dead letter's error, then its body exactly as it arrived."""
    ctx = build_context(load_settings())
    try:
        with ctx.read() as session:
            d = deadletters.get(session, letter_id)
            err.print(f"#{d.id} {d.source} {d.reason} ({d.status}): {d.error}")
            print(d.body)
    finally:
        ctx.dispose()


@dead_letter_app.command("replay")
def replay_dead_letter(
    letter_ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids (default: all pending)")] = None,
    actor: Annotated[str, typer.Option(help="Who replays, for the record")] = "cli",
    source: Annotated[str | None, typer.Option(help="Without ids: alertmanager, grafana or pagerduty")] = None,
    since: Annotated[datetime | None, typer.Option(help="Without ids: received at or after (UTC if no offset)")] = None,
    until: Annotated[datetime | None, typer.Option(help="Without ids: received before (UTC if no offset)")] = None,
    sample: Annotated[int | None, typer.Option(min=1, help="Replay a random sample of N of them")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for --sample (the same seed, the same sample)")] = None,
) -> None:
    """Accept dead letters now, with the routes and runbooks in force; exit 1 if any still fails."""
    settings = load_settings()
    ctx = build_context(settings)
    runbooks = {r.runbook.id: r.runbook for r in sorted(ctx.runbooks.all(), key=lambda r: r.runbook.id)}
    router = Router(load_routes(settings.routes_file), runbooks)
    failed = 0
    if not letter_ids:
        with ctx.read() as session:
            pending = deadletters.listing(
                session,
                status=deadletters.PENDING,
                source=source,
                since=_utc(since),
                until=_utc(until),
                limit=deadletters.SAMPLE_POOL,
            )
            letter_ids = sorted(d.id for d in pending)
    letter_ids = draw(sorted(letter_ids), sample, seed=seed)
    try:
        for letter_id in letter_ids:
            try:
                with ctx.write() as session:
                    done = deadletters.replay(
                        session,
                        letter_id,
                        router=router,
                        registry=ctx.runbooks,
                        actor=actor,
                        now=ctx.clock.now(),
                    )
                out.print(f"[green]✓[/] #{letter_id}: {done.alerts} alert(s), incidents {done.incidents}")
            except MissionControlError as exc:
                failed += 1
                out.print(f"[red]✗[/] #{letter_id}: {exc.message}")
    finally:
        ctx.dispose()
    raise typer.Exit(1 if failed else 0)


@dead_letter_app.command("discard")
def discard_dead_letter(
    letter_id: Annotated[int, typer.Argument(help="Dead letter id")],
    actor: Annotated[str, typer.Option(help="Who discards, for the record")] = "cli",
) -> None:
    """Stop offering a pending dead letter for replay."""
    ctx = build_context(load_settings())
    try:
        with ctx.write() as session:
            d = deadletters.discard(session, letter_id, actor=actor, now=ctx.clock.now())
            out.print(f"#{d.id}: {d.status}")
    finally:
        ctx.dispose()


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
