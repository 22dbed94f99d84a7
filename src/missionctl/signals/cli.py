"""`missionctl route test FILE.json`: a dry run of routing that says which rule matched and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console

from missionctl.context import build_context
from missionctl.errors import InvalidInput
from missionctl.runbooks.loader import load_registry
from missionctl.settings import load_settings
from missionctl.signals import alertmanager, grafana, integrations, pagerduty
from missionctl.signals.events import SignalEvent
from missionctl.signals.integrations import IntegrationKind
from missionctl.signals.routing import Route, RoutesFile, route

route_app = typer.Typer(help="Alert routing.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def read_routes(path: Path | None) -> list[Route]:
    """The rules in a routes file (none if no file is configured)."""
    if path is None:
        return []
    try:
        return RoutesFile.model_validate(yaml.safe_load(path.read_text("utf-8")) or {}).routes
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise InvalidInput(f"{path}: {exc}", code="routes_invalid") from exc


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
) -> None:
    """Show where each alert in PAYLOAD would go; exit 1 if any alert is unroutable."""
    settings = load_settings()
    routes = read_routes(rules or settings.routes_file)
    runbooks = [entry.runbook for entry in load_registry(settings.runbook_dirs).all()]
    unroutable = 0
    for event in parse_any(payload.read_bytes()):
        result = route(event.labels, rules=routes, runbooks=runbooks, source_severity=event.severity)
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
