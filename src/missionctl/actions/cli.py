"""The `missionctl actions` commands: check an actions file against the runbooks, list the actions in force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from missionctl.actions.catalog import ActionCatalog
from missionctl.actions.config import read_actions
from missionctl.actions.lint import runbook_problems
from missionctl.errors import MissionControlError
from missionctl.runbooks.lint import Problem
from missionctl.runbooks.loader import load_registry
from missionctl.settings import load_settings

EXIT_PROBLEMS = 1

actions_app = typer.Typer(
    help="Actions of runbook steps and automation: check the actions file, list what can run.",
    no_args_is_help=True,
)

FileArg = Annotated[
    Path | None,
    typer.Argument(metavar="[FILE]", help="Actions file (default: MISSIONCTL_ACTIONS_FILE)."),
]


@actions_app.command("check")
def check(file: FileArg = None) -> None:
    """Check an actions file and the runbooks in force against it; print problems as file:line:column."""
    settings = load_settings()
    path = file or settings.actions_file
    if path is None:
        typer.echo("no actions file: give FILE or set MISSIONCTL_ACTIONS_FILE", err=True)
        raise typer.Exit(EXIT_PROBLEMS)
    loaded, problems = read_actions(path)
    if loaded is not None:
        try:
            runbooks = load_registry(settings.runbook_dirs)
        except MissionControlError as exc:
            typer.echo(f"cannot load the runbooks: {exc.message}", err=True)
            raise typer.Exit(EXIT_PROBLEMS) from None
        problems += runbook_problems(ActionCatalog(loaded.file, loaded.source), runbooks, str(path))
    _report(problems, path)


def _report(problems: list[Problem], path: Path) -> None:
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        typer.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {path}", err=True)
        raise typer.Exit(EXIT_PROBLEMS)
    typer.echo(f"{path}: OK", err=True)


@actions_app.command("list")
def list_actions(
    file: FileArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, with parameter schemas.")] = False,
) -> None:
    """List the actions that can run: built-ins and the actions file's entries."""
    settings = load_settings()
    path = file or settings.actions_file
    catalog = ActionCatalog()
    if path is not None:
        loaded, problems = read_actions(path)
        if loaded is None:
            _report(problems, path)
            return
        catalog = ActionCatalog(loaded.file, loaded.source)
    entries = catalog.entries()
    if as_json:
        typer.echo(json.dumps([entry.model_dump(mode="json") for entry in entries], indent=2))
        return
    table = Table(title="Actions")
    for column in ("Name", "Kind", "Service", "Mode", "Parameters", "Summary"):
        table.add_column(column)
    for entry in entries:
        params = ", ".join(entry.params_schema.get("properties", {})) or "-"
        row = (entry.name, entry.kind, entry.service or "*", entry.mode, params, entry.summary)
        table.add_row(*(Text(str(cell)) for cell in row))
    Console().print(table)
