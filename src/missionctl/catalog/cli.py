"""The `missionctl catalog` commands: load catalog files into the database (local admin), lint, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from missionctl import migrate
from missionctl.catalog import schemas, service
from missionctl.catalog.loader import CatalogDocuments, every_problem, read_paths
from missionctl.context import AppContext, build_context
from missionctl.errors import MissionControlError
from missionctl.runbooks.loader import load_registry
from missionctl.settings import load_settings

EXIT_PROBLEMS = 1

catalog_app = typer.Typer(
    help="The catalog: services, teams, people, schedules, escalation policies and stakeholder subscribers.",
    no_args_is_help=True,
)

Paths = Annotated[
    list[Path],
    typer.Argument(metavar="PATH", help="Catalog files (YAML or Backstage catalog-info.yaml), or folders."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


@catalog_app.command("load")
def load(paths: Paths, as_json: JsonFlag = False) -> None:
    """Load catalog files into the database: an upsert by id; with any problem, nothing is written."""
    documents = read_paths(paths)
    try:
        ctx = build_context(load_settings())
        try:
            report = _load(ctx, documents)
        finally:
            ctx.dispose()
    except MissionControlError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    typer.echo(f"Loaded {_plural(len(report.files), 'file')}:")
    for kind, counts in report.counts.items():
        typer.echo(
            f"  {kind.section:<20} {counts.created} created, {counts.updated} updated, {counts.unchanged} unchanged"
        )
    for note in report.notes:
        typer.echo(f"note: {note}")


def _load(ctx: AppContext, documents: CatalogDocuments) -> service.LoadReport:
    _ensure_schema(ctx)
    runbook_ids = set(ctx.runbooks.entries)
    with ctx.write() as session:
        return service.load_catalog(session, documents=documents, now=ctx.clock.now(), runbook_ids=runbook_ids)


def _ensure_schema(ctx: AppContext) -> None:
    current = migrate.current_revision(ctx.engine)
    if current is None:
        migrate.upgrade(ctx.engine)
    elif current != migrate.head_revision():
        raise MissionControlError(
            f"the database schema is at {current}, this version needs {migrate.head_revision()}: "
            "run `missionctl db upgrade` first",
            code="schema_outdated",
        )


@catalog_app.command("lint")
def lint(paths: Paths) -> None:
    """Check catalog files on their own (references must resolve within them); nothing is written."""
    documents = read_paths(paths)
    runbook_ids = set(load_registry(load_settings().runbook_dirs).entries)
    problems = every_problem(documents, {}, runbook_ids)
    for problem in problems:
        typer.echo(str(problem))
    for note in documents.notes:
        typer.echo(f"note: {note}", err=True)
    if problems:
        typer.echo(f"{_plural(len(problems), 'problem')}", err=True)
        raise typer.Exit(EXIT_PROBLEMS)
    typer.echo(f"{_plural(len(documents.entries), 'entity', 'entities')} OK", err=True)


@catalog_app.command("schema")
def print_schema() -> None:
    """Print the JSON Schema of catalog files, for editors."""
    typer.echo(json.dumps(schemas.json_schema(), indent=2))


def _fail(exc: MissionControlError) -> None:
    """Every problem on stdout (file:line:column: path: message), the verdict on stderr, exit 1."""
    lines = exc.details if isinstance(exc.details, list) and exc.code == "catalog_invalid" else None
    if lines:
        for line in lines:
            typer.echo(str(line))
        typer.echo(f"{_plural(len(lines), 'problem')}; nothing was loaded", err=True)
    else:
        typer.echo(f"error: {exc.message}", err=True)
    raise typer.Exit(EXIT_PROBLEMS)


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
