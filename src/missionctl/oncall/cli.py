"""The `missionctl oncall` commands: who is on call, asked of the REST API (MISSIONCTL_URL, MISSIONCTL_TOKEN)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from missionctl.apiclient import DEFAULT_URL, TOKEN_ENV, URL_ENV, ApiClient
from missionctl.errors import MissionControlError
from missionctl.incidents.cli import EXIT_CODES_EPILOG, exit_code

oncall_app = typer.Typer(
    help="On-call schedules, through the Mission Control API (MISSIONCTL_URL, MISSIONCTL_TOKEN).",
    epilog=EXIT_CODES_EPILOG,
    no_args_is_help=True,
)


@oncall_app.command("now", epilog=EXIT_CODES_EPILOG)
def now(
    team: Annotated[str | None, typer.Option("--team", help="Only this team's schedule.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON response.")] = False,
    url: Annotated[
        str | None, typer.Option("--url", help=f"API base URL (default: ${URL_ENV}, else {DEFAULT_URL}).")
    ] = None,
    token: Annotated[str | None, typer.Option("--token", help=f"API token (default: ${TOKEN_ENV}).")] = None,
) -> None:
    """Who is on call now in every schedule (or a team's), and who takes over next."""
    try:
        with ApiClient.from_env(url=url, token=token) as api:
            data = api.call("GET", "/oncall", params={"team": team} if team else None)
    except MissionControlError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(exit_code(error)) from None
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    console = Console(highlight=False)
    console.print(oncall_table(data))
    for note in data.get("notes", []):
        console.print(Text(f"note: {note}"))


def oncall_table(data: dict[str, Any]) -> Table:
    """One row per schedule: who is on call, until when, and who is next."""
    table = Table(title=f"On call at {_at(data['at'])}")
    table.add_column("Schedule")
    table.add_column("Teams")
    table.add_column("On call")
    table.add_column("Until", no_wrap=True)
    table.add_column("Next")
    for entry in data.get("entries", []):
        handoff = entry.get("next_handoff") or {}
        table.add_row(
            Text(f"{entry['schedule_name']} ({entry['schedule']})"),
            Text(", ".join(entry["teams"]) or "-"),
            Text(_who(entry.get("person"), entry.get("person_name"))),
            Text(_at(handoff["at"]) if handoff else "-"),
            Text(_who(handoff.get("person"), handoff.get("person_name")) if handoff else "-"),
        )
    return table


def _who(person: str | None, name: str | None) -> str:
    if person is None:
        return "nobody"
    return f"{name} ({person})" if name and name != person else person


def _at(value: str) -> str:
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%a %Y-%m-%d %H:%M UTC")
