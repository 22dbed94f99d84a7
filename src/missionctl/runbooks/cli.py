"""The `missionctl runbook` commands: list and show the runbooks in force, lint files, print the schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from missionctl.errors import MissionControlError, NotFound
from missionctl.runbooks import schemas
from missionctl.runbooks.lint import lint_report
from missionctl.runbooks.loader import LoadedRunbook, RunbookRegistry, load_registry
from missionctl.runbooks.schemas import Automation, EscalationTarget, Link, Runbook
from missionctl.settings import load_settings

EXIT_PROBLEMS = 1
EXIT_NOT_FOUND = 2

runbook_app = typer.Typer(
    help="Runbooks as code: list and show the runbooks in force, lint runbook files, print the JSON Schema.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (the runbook file's field names).")]


@runbook_app.command("list")
def list_runbooks(as_json: JsonFlag = False) -> None:
    """List the runbooks in force: built-ins plus MISSIONCTL_RUNBOOK_DIRS, user files overriding by id."""
    with _errors_to_exit():
        entries = _registry().all()
    if as_json:
        _print_json([runbook_json(entry) for entry in entries])
    else:
        console = _console()
        console.print(runbook_table(entries, console.width))


@runbook_app.command("show")
def show_runbook(
    runbook_id: Annotated[str, typer.Argument(metavar="ID", help="Runbook id, e.g. RB-001.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one runbook: trigger, first steps, escalation, recovery SLO, automation and links."""
    with _errors_to_exit():
        entry = _registry().get(runbook_id)
    if as_json:
        _print_json(runbook_json(entry))
    else:
        _console().print(runbook_panel(entry))


@runbook_app.command("lint")
def lint_runbooks(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="Runbook files, or folders of *.yaml/*.yml files.")
    ],
) -> None:
    """Check runbook files and print every problem as file:line:column: field.path: message."""
    report = lint_report(paths)
    for problem in report.problems:
        typer.echo(str(problem))
    if report.problems:
        files = len({problem.file for problem in report.problems})
        typer.echo(f"{_plural(len(report.problems), 'problem')} in {_plural(files, 'file')}", err=True)
        raise typer.Exit(EXIT_PROBLEMS)
    typer.echo(f"{_plural(len(report.files), 'runbook')} OK", err=True)


@runbook_app.command("schema")
def print_schema() -> None:
    """Print the JSON Schema of runbook files, for editors and other tools."""
    _print_json(schemas.json_schema())


def runbook_json(entry: LoadedRunbook) -> dict[str, Any]:
    """The runbook with its file's field names, plus where it came from and its content hash."""
    return entry.runbook.model_dump(mode="json") | {
        "source": entry.source,
        "content_hash": entry.content_hash,
    }


def runbook_table(entries: list[LoadedRunbook], width: int = 80) -> Table:
    """One row per runbook: id, title, trigger, recovery SLO minutes and source (long paths folded)."""
    table = Table(title="Runbooks")
    table.add_column("ID", no_wrap=True)
    table.add_column("Title")
    table.add_column("Trigger")
    table.add_column("Recovery SLO (min)", justify="right")
    table.add_column("Source", overflow="fold", max_width=max(20, width // 3))
    for entry in entries:
        runbook = entry.runbook
        table.add_row(
            Text(runbook.id),
            Text(runbook.title),
            Text(runbook.trigger.summary),
            Text(str(runbook.recovery_slo.minutes)),
            Text(entry.source),
        )
    return table


def runbook_panel(entry: LoadedRunbook) -> Panel:
    """A readable view of one runbook, the way a responder needs it."""
    runbook = entry.runbook
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("Summary", Text(runbook.summary))
    grid.add_row("Severity", Text(f"{runbook.default_severity.value} (services: {', '.join(runbook.services)})"))
    grid.add_row("Trigger", Text(runbook.trigger.summary))
    grid.add_row(f"First {runbook.first_response.within_minutes} minutes", _steps(runbook))
    grid.add_row("Escalation", _escalation(runbook))
    slo = runbook.recovery_slo
    grid.add_row("Recovery SLO", Text(f"{slo.summary} ({slo.minutes} minutes)"))
    grid.add_row("Stakeholder updates", Text(f"every {runbook.stakeholder_updates.every_minutes} minutes"))
    if runbook.automation:
        grid.add_row("Automation", _bullets([_automation(item) for item in runbook.automation]))
    if runbook.links:
        grid.add_row("Links", _bullets([_link(link) for link in runbook.links]))
    grid.add_row("Source", Text(entry.source))
    grid.add_row("Content hash", Text(entry.content_hash))
    title = Text(f"{runbook.id}  {runbook.title}", style="bold")
    return Panel(grid, title=title, title_align="left")


def _steps(runbook: Runbook) -> Table:
    steps = Table.grid(padding=(0, 1))
    steps.add_column(justify="right", no_wrap=True)
    steps.add_column(overflow="fold")
    for number, step in enumerate(runbook.first_response.steps, start=1):
        text = Text(step.title)
        if step.action:
            text.append(f"  [action: {step.action}]", style="cyan")
        if step.detail:
            text.append(f"\n{step.detail}", style="dim")
        steps.add_row(f"{number}.", text)
    return steps


def _escalation(runbook: Runbook) -> Text:
    escalation = runbook.escalation
    when = "immediately" if escalation.after_minutes == 0 else f"after {escalation.after_minutes} minutes"
    text = Text(f"{escalation.summary} ({when})")
    for target in escalation.targets:
        text.append(f"\n-> {_target(target)}")
    return text


def _target(target: EscalationTarget) -> str:
    where = f"{target.kind.value} {target.name}"
    return f"{target.label} ({where})" if target.label else where


def _automation(automation: Automation) -> Text:
    details = [f"action: {automation.action}", automation.mode.value]
    if automation.when:
        details.append("when " + ", ".join(f"{key}={value}" for key, value in automation.when.items()))
    if automation.schedule_minutes is not None:
        details.append(f"every {automation.schedule_minutes} minutes")
    return Text.assemble(automation.summary, ("\n" + ", ".join(details), "dim"))


def _link(link: Link) -> Text:
    return Text(f"{link.title} ({link.kind.value}): {link.url}")


def _bullets(items: list[Text]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for item in items:
        grid.add_row("-", item)
    return grid


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _registry() -> RunbookRegistry:
    return load_registry(load_settings().runbook_dirs)


def _console() -> Console:
    return Console(highlight=False)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def exit_code(error: MissionControlError) -> int:
    """2 for an unknown id (like a bad argument), 1 for anything else that went wrong."""
    return EXIT_NOT_FOUND if isinstance(error, NotFound) else EXIT_PROBLEMS


@contextmanager
def _errors_to_exit() -> Iterator[None]:
    """Turn a Mission Control error into a one-line message on stderr and its exit code."""
    try:
        yield
    except MissionControlError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(exit_code(error)) from None
