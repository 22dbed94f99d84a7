"""The `missionctl incident` verbs: clients of the REST API that print for people, or raw JSON with --json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from missionctl.apiclient import (
    DEFAULT_URL,
    TOKEN_ENV,
    URL_ENV,
    ApiClient,
    ApiError,
    ClientConfigError,
    JsonObject,
    ServerUnreachable,
)
from missionctl.errors import MissionControlError
from missionctl.incidents.lifecycle import OPEN_STATUSES, IncidentRole, Status, StepStatus
from missionctl.incidents.schemas import (
    ActionItemRead,
    ClockRead,
    IncidentRead,
    IncidentSummary,
    MessageRead,
    PostmortemRead,
    StepRead,
    UpdateRead,
)
from missionctl.runbooks.schemas import Severity

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_NOT_FOUND = 2
EXIT_AUTH = 3
EXIT_UNREACHABLE = 4

EXIT_CODES_EPILOG = (
    "Exit codes:\n\n"
    "0  success\n\n"
    "1  refused by the server (409/422; its reason is printed on stderr)\n\n"
    "2  not found (404) or usage error\n\n"
    "3  not authenticated or not allowed (401/403)\n\n"
    "4  cannot reach the server"
)

# Hints printed under a refusal, keyed by the server's stable error code.
NEXT_STEP_HINTS = {
    "action_items_required": (
        "add one: missionctl incident action-item {id} --title ... --assignee ... --due YYYY-MM-DD"
    ),
    "recovery_confirmation_required": "use: missionctl incident resolve {id} --evidence '...'",
    "postmortem_incomplete": "mark it complete: missionctl incident postmortem {id} --complete",
    "incident_not_resolved": "resolve it first: missionctl incident resolve {id} --evidence '...'",
}

incident_app = typer.Typer(
    help="Declare and work incidents through the Mission Control API (MISSIONCTL_URL, MISSIONCTL_TOKEN).",
    epilog=EXIT_CODES_EPILOG,
    no_args_is_help=True,
)


@dataclass(frozen=True)
class ClientOptions:
    """`--url` / `--token` given to `missionctl incident`; None means: read the environment."""

    url: str | None = None
    token: str | None = None


def parse_incident_id(value: str) -> int:
    """Accept `7` or `INC-7` (as printed)."""
    match = re.fullmatch(r"(?:INC-?)?(\d+)", value.strip(), flags=re.IGNORECASE)
    if match is None or int(match.group(1)) < 1:
        raise typer.BadParameter(f"{value!r} is not an incident id (a number such as 7, or INC-7)")
    return int(match.group(1))


def parse_due(value: str) -> datetime:
    """A date means the end of that day in UTC; a datetime without a zone is taken as UTC."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (2026-12-01) or ISO datetime (2026-12-01T17:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


IncidentId = Annotated[int, typer.Argument(metavar="ID", parser=parse_incident_id, help="Incident id: 7 or INC-7.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the raw JSON response (for scripts).")]
NoteOption = Annotated[str | None, typer.Option("--note", help="A note for the timeline.")]


@incident_app.callback()
def incident_options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option("--url", help=f"API base URL (default: ${URL_ENV}, else {DEFAULT_URL}).", show_default=False),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help=f"API token (default: ${TOKEN_ENV}).", show_default=False),
    ] = None,
) -> None:
    """Declare and work incidents through the Mission Control API."""
    ctx.obj = ClientOptions(url=url, token=token)


# Verbs --------------------------------------------------------------------------------------------


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def declare(
    ctx: typer.Context,
    runbook: Annotated[str, typer.Option("--runbook", help="Runbook id, e.g. RB-001.")],
    service: Annotated[str, typer.Option("--service", help="Affected service.")],
    title: Annotated[str, typer.Option("--title", help="What is wrong, in a line.")],
    severity: Annotated[
        Severity | None, typer.Option("--severity", help="SEV1..SEV4 (default: the runbook's).")
    ] = None,
    commander: Annotated[str | None, typer.Option("--commander", help="Incident commander (default: you).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Declare an incident from a runbook: prints its id, first-five-minutes checklist and deadlines."""
    with _api(ctx) as api:
        data = api.declare(
            runbook=runbook,
            service=service,
            title=title,
            severity=severity.value if severity else None,
            commander=commander,
        )
    _emit(data, as_json, lambda: declared_view(IncidentRead.model_validate(data)))


@incident_app.command("list", epilog=EXIT_CODES_EPILOG)
def list_incidents(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False,
    status: Annotated[list[Status] | None, typer.Option("--status", help="Only this status (repeatable).")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    severity: Annotated[Severity | None, typer.Option("--severity", help="Only this severity.")] = None,
    runbook: Annotated[str | None, typer.Option("--runbook", help="Only this runbook.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List incidents, newest first."""
    with _api(ctx) as api:
        rows = api.list_incidents(
            statuses=[s.value for s in status or []],
            open_only=open_only,
            service=service,
            severity=severity.value if severity else None,
            runbook=runbook,
            limit=limit,
        )
    summaries = [] if as_json else [IncidentSummary.model_validate(row) for row in rows]
    _emit(rows, as_json, lambda: incident_table(summaries, width=_console().width))


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def show(ctx: typer.Context, incident_id: IncidentId, as_json: JsonFlag = False) -> None:
    """Show an incident: countdowns, next update, checklist, roles, action items and timeline."""
    with _api(ctx) as api:
        data = api.get_incident(incident_id)
    _emit(data, as_json, lambda: incident_view(IncidentRead.model_validate(data)))


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def ack(ctx: typer.Context, incident_id: IncidentId, as_json: JsonFlag = False) -> None:
    """Acknowledge an incident (recorded once)."""
    with _api(ctx) as api:
        data = api.acknowledge(incident_id)

    def view() -> RenderableType:
        incident = IncidentRead.model_validate(data)
        who = f" by {incident.acknowledged_by}" if incident.acknowledged_by else ""
        when = _at(incident.acknowledged_at) if incident.acknowledged_at else "now"
        return Group(Text(f"{_ref(incident.id)} acknowledged{who} at {when}."), clocks_view(incident))

    _emit(data, as_json, view)


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def step(
    ctx: typer.Context,
    incident_id: IncidentId,
    position: Annotated[int, typer.Argument(min=1, help="Checklist step number (1-based).")],
    state: Annotated[StepStatus, typer.Argument(metavar="STATE", help="done, skipped or pending.")],
    note: NoteOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Mark a first-response checklist step done, skipped, or pending again."""
    with _api(ctx) as api:
        data = api.set_step(incident_id, position, state.value, note)

    def view() -> RenderableType:
        incident = IncidentRead.model_validate(data)
        return Group(
            Text(f"{_ref(incident.id)} step {position}: {state.value}."),
            checklist_view(incident.steps),
            clocks_view(incident),
        )

    _emit(data, as_json, view)


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def transition(
    ctx: typer.Context,
    incident_id: IncidentId,
    status: Annotated[Status, typer.Argument(metavar="STATUS", help="investigating, mitigated, closed, ...")],
    note: NoteOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Move the incident's lifecycle on (resolve has its own verb: it needs evidence)."""
    with _api(ctx) as api:
        data = api.transition(incident_id, status.value, note)

    def view() -> RenderableType:
        incident = IncidentRead.model_validate(data)
        now_text = Text(f"{_ref(incident.id)} is now {incident.status.value}.")
        return Group(now_text, clocks_view(incident)) if _is_open(incident) else now_text

    _emit(data, as_json, view)


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def update(
    ctx: typer.Context,
    incident_id: IncidentId,
    message: Annotated[str, typer.Argument(help="What stakeholders need to know.")],
    as_json: JsonFlag = False,
) -> None:
    """Post a stakeholder update (restarts the update cadence)."""
    with _api(ctx) as api:
        data = api.post_update(incident_id, message)

    def view() -> RenderableType:
        posted = UpdateRead.model_validate(data)
        return Text(f"Stakeholder update posted to {_ref(incident_id)} at {_at(posted.posted_at)}.")

    _emit(data, as_json, view)


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def role(
    ctx: typer.Context,
    incident_id: IncidentId,
    role_name: Annotated[
        IncidentRole, typer.Argument(metavar="ROLE", help="commander, scribe or communications_lead.")
    ],
    assignee: Annotated[str, typer.Argument(help="Who takes the role.")],
    as_json: JsonFlag = False,
) -> None:
    """Give an incident role to someone (a hand-over is recorded on the timeline)."""
    with _api(ctx) as api:
        data = api.assign_role(incident_id, role_name.value, assignee)

    def view() -> RenderableType:
        incident = IncidentRead.model_validate(data)
        return Group(Text(f"{_ref(incident.id)} {role_name.value}: {assignee}."), roles_view(incident))

    _emit(data, as_json, view)


@incident_app.command("action-item", epilog=EXIT_CODES_EPILOG)
def action_item(
    ctx: typer.Context,
    incident_id: IncidentId,
    title: Annotated[str, typer.Option("--title", help="What will be done.")],
    assignee: Annotated[str, typer.Option("--assignee", help="Who does it.")],
    due: Annotated[
        datetime,
        typer.Option(
            "--due",
            parser=parse_due,
            metavar="DATE",
            help="2026-12-01 (end of that day, UTC) or an ISO datetime (UTC if no zone).",
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Add a post-incident action item (SEV1/SEV2 need one before they can be resolved)."""
    with _api(ctx) as api:
        data = api.add_action_item(incident_id, title=title, assignee=assignee, due_at=due)

    def view() -> RenderableType:
        item = ActionItemRead.model_validate(data)
        return Text(
            f"Action item #{item.id} added to {_ref(incident_id)}: {item.title} "
            f"({item.assignee}, due {_at(item.due_at, with_date=True)})."
        )

    _emit(data, as_json, view)


@incident_app.command("action-item-done", epilog=EXIT_CODES_EPILOG)
def action_item_done(
    ctx: typer.Context,
    incident_id: IncidentId,
    item_id: Annotated[int, typer.Argument(metavar="ITEM_ID", min=1, help="Action item number.")],
    as_json: JsonFlag = False,
) -> None:
    """Mark a post-incident action item done."""
    with _api(ctx) as api:
        data = api.set_action_item_status(incident_id, item_id, "done")

    def view() -> RenderableType:
        item = ActionItemRead.model_validate(data)
        return Text(f"Action item #{item.id} of {_ref(incident_id)} is {item.status.value}: {item.title}.")

    _emit(data, as_json, view)


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def resolve(
    ctx: typer.Context,
    incident_id: IncidentId,
    evidence: Annotated[str, typer.Option("--evidence", help="How we know service is recovered.")],
    confirmed_by: Annotated[
        str | None, typer.Option("--confirmed-by", help="Who confirmed recovery (default: you).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Resolve with a recovery confirmation (SEV1/SEV2 need an action item first)."""
    with _api(ctx) as api:
        data = api.resolve(incident_id, evidence=evidence, confirmed_by=confirmed_by)
    _emit(data, as_json, lambda: resolved_view(IncidentRead.model_validate(data)))


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def say(
    ctx: typer.Context,
    incident_id: IncidentId,
    message: Annotated[str, typer.Argument(help="Message for the response channel.")],
    as_json: JsonFlag = False,
) -> None:
    """Post a message in the incident's response channel."""
    with _api(ctx) as api:
        data = api.post_message(incident_id, message)

    def view() -> RenderableType:
        posted = MessageRead.model_validate(data)
        return Text(f"Posted in {_ref(incident_id)}'s channel at {_at(posted.posted_at)}.")

    _emit(data, as_json, view)


@incident_app.command(epilog=EXIT_CODES_EPILOG)
def postmortem(
    ctx: typer.Context,
    incident_id: IncidentId,
    export: Annotated[
        Path | None,
        typer.Option("--export", metavar="FILE", dir_okay=False, help="Write the Markdown to FILE."),
    ] = None,
    complete: Annotated[
        bool, typer.Option("--complete", help="Mark the postmortem complete (needed to close).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Print the postmortem Markdown, write it to a file, or mark it complete."""
    with _api(ctx) as api:
        data = api.complete_postmortem(incident_id) if complete else api.get_postmortem(incident_id)
    report = PostmortemRead.model_validate(data)
    if export is not None:
        _write_file(export, report.markdown)
    if as_json:
        _print_json(data)
    elif complete or export is not None:
        _console().print(postmortem_status(report, export))
    else:
        typer.echo(report.markdown, nl=not report.markdown.endswith("\n"))


# Views ---------------------------------------------------------------------------------------------


def declared_view(incident: IncidentRead) -> RenderableType:
    """What a responder needs the moment they declare: id, first five minutes, deadlines."""
    head = Text.assemble(
        ("Declared ", "bold"),
        (_ref(incident.id), "bold"),
        "  ",
        (incident.severity.value, _severity_style(incident.severity)),
        "  ",
        (incident.title, "bold"),
    )
    facts = Text(
        f"service {incident.service} · runbook {incident.runbook_id} · "
        f"commander {incident.commander or '-'} · status {incident.status.value}"
    )
    first = incident.first_response
    checklist_title = Text.assemble(
        (f"First {first.within_minutes} minutes", "bold"),
        f" (due {_at(first.deadline)}, ",
        _clock_text(first),
        "):",
    )
    return Group(
        head,
        facts,
        Text(""),
        checklist_title,
        checklist_view(incident.steps),
        Text(""),
        clocks_view(incident),
        Text(""),
        Text(
            f"Next: missionctl incident step {incident.id} 1 done  |  missionctl incident show {incident.id}",
            style="dim",
        ),
    )


def incident_view(incident: IncidentRead) -> RenderableType:
    """The whole incident, most urgent first: header, countdowns, checklist, roles, items, timeline."""
    parts: list[RenderableType] = [header_view(incident), Text(""), clocks_view(incident)]
    if incident.recovery_confirmation is not None:
        confirmation = incident.recovery_confirmation
        parts.append(
            Text(
                f"Resolved {_at(confirmation.resolved_at, with_date=True)} by {confirmation.resolved_by}; "
                f"recovery confirmed by {confirmation.confirmed_by}: {confirmation.evidence}"
            )
        )
    if incident.resolved_at is not None:
        parts.append(_postmortem_line(incident))
    parts += [Text(""), Text("Checklist", style="bold"), checklist_view(incident.steps)]
    parts += [Text(""), Text("Roles", style="bold"), roles_view(incident)]
    parts += [Text(""), Text("Paged", style="bold"), pages_view(incident)]
    parts += [Text(""), Text("Action items", style="bold"), action_items_view(incident)]
    parts += [Text(""), Text("Timeline", style="bold"), timeline_view(incident)]
    return Group(*parts)


def header_view(incident: IncidentRead) -> RenderableType:
    title = Text.assemble(
        (_ref(incident.id), "bold"),
        "  ",
        (incident.severity.value, _severity_style(incident.severity)),
        "  ",
        (incident.title, "bold"),
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("Status", Text(incident.status.value, style=_status_style(incident.status)))
    grid.add_row("Service", Text(incident.service))
    grid.add_row("Runbook", Text(incident.runbook_id))
    grid.add_row("Commander", Text(incident.commander or "-"))
    declared = f"{_at(incident.declared_at, with_date=True)} by {incident.declared_by}"
    grid.add_row("Declared", Text(declared))
    if incident.acknowledged_at is not None:
        grid.add_row("Acknowledged", Text(f"{_at(incident.acknowledged_at)} by {incident.acknowledged_by}"))
    return Group(title, grid)


def clocks_view(incident: IncidentRead) -> RenderableType:
    """The two countdowns and when stakeholders must next hear from us."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(style="dim")
    first = incident.first_response
    first_text = _clock_text(first)
    if first.state == "incomplete" or (not _is_open(incident) and first.state in ("running", "breached")):
        first_text = Text("checklist not completed", style="yellow")
    grid.add_row("First response", first_text, Text(f"due {_at(first.deadline)} ({first.within_minutes} min)"))
    slo = incident.recovery_slo
    grid.add_row("Recovery SLO", _clock_text(slo), Text(f"due {_at(slo.deadline)} ({slo.minutes} min)"))
    grid.add_row("Next update", *_next_update(incident))
    return grid


def checklist_view(steps: Sequence[StepRead]) -> RenderableType:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    for item in steps:
        mark, style = _STEP_MARKS[item.status]
        text = Text(item.title)
        if item.status != StepStatus.PENDING and item.completed_by:
            when = f" at {_at(item.completed_at)}" if item.completed_at else ""
            text.append(f"  ({item.status.value} by {item.completed_by}{when})", style="dim")
        if item.note:
            text.append(f"  note: {item.note}", style="dim")
        grid.add_row(Text(f"  {mark}", style=style), f"{item.position}.", text)
    return grid


def roles_view(incident: IncidentRead) -> RenderableType:
    if not incident.roles:
        return Text("  none", style="dim")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for assignment in incident.roles:
        grid.add_row(Text(f"  {assignment.role.value}"), Text(assignment.assignee))
    return grid


def pages_view(incident: IncidentRead) -> RenderableType:
    """Who was paged, how, when it went out, and who has acknowledged; then the escalation state."""
    lines: list[RenderableType] = []
    if not incident.pages:
        lines.append(Text("  nobody yet", style="dim"))
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column(no_wrap=True)
    for page in incident.pages:
        level = f"L{page.level}" if page.level else "runbook"
        when = _at(page.sent_at) if page.sent_at else f"due {_at(page.due_at)}"
        style = {"sent": "green", "failed_perm": "bold red", "failed_temp": "yellow", "cancelled": "dim"}
        state = Text(page.status, style=style.get(page.status, ""))
        if page.acknowledged_at:
            state.append(f", acknowledged {_at(page.acknowledged_at)}", style="green")
        grid.add_row(f"  {page.person or '-'}", f"{page.contact or page.channel} ({level})", when, state)
    lines.append(grid)
    escalation = incident.escalation
    if escalation is not None:
        after = f", next level at {_at(escalation.next_step_at)}" if escalation.next_step_at else ""
        lines.append(Text(f"  escalation {escalation.status} (policy {escalation.policy_id}){after}", style="dim"))
    return Group(*lines)


def action_items_view(incident: IncidentRead) -> RenderableType:
    if not incident.action_items:
        return Text("  none yet", style="dim")
    now = server_now(incident)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    for item in incident.action_items:
        done = item.status.value == "done"
        text = Text(f"{item.title}  ({item.assignee}, due {_at(item.due_at, with_date=True)})")
        if not done and item.due_at < now:
            text.append("  OVERDUE", style="bold red")
        grid.add_row(Text("  ✓" if done else "  ☐", style="green" if done else ""), f"#{item.id}", text)
    return grid


def timeline_view(incident: IncidentRead) -> RenderableType:
    """Timeline events and channel messages, in time order."""
    entries: list[tuple[datetime, int, str, Text]] = [
        (event.at, 0, event.actor, Text(event.summary)) for event in incident.timeline
    ]
    entries += [
        (message.posted_at, 1, message.author, Text.assemble(("say: ", "cyan"), message.body))
        for message in incident.messages
    ]
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="dim")
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    day = incident.declared_at.astimezone(UTC).date()
    for at, _, actor, text in entries:
        grid.add_row(_at(at, with_date=at.astimezone(UTC).date() != day, zone=False), Text(actor), text)
    return grid


def resolved_view(incident: IncidentRead) -> RenderableType:
    slo = incident.recovery_slo
    lines: list[RenderableType] = [
        Text.assemble((f"{_ref(incident.id)} resolved", "bold green"), "; recovery SLO ", _clock_text(slo), ".")
    ]
    if incident.recovery_confirmation is not None:
        confirmation = incident.recovery_confirmation
        lines.append(Text(f"Recovery confirmed by {confirmation.confirmed_by}: {confirmation.evidence}"))
    lines.append(
        Text(
            f"Next: missionctl incident postmortem {incident.id} --export FILE, "
            f"then --complete, then transition {incident.id} closed",
            style="dim",
        )
    )
    return Group(*lines)


def postmortem_status(report: PostmortemRead, export: Path | None) -> RenderableType:
    lines: list[RenderableType] = []
    if export is not None:
        kind = "draft " if report.draft else ""
        lines.append(Text(f"Wrote the {kind}postmortem of {_ref(report.incident_id)} to {export}."))
    if report.completed_at is not None:
        who = f" by {report.completed_by}" if report.completed_by else ""
        lines.append(Text(f"Postmortem of {_ref(report.incident_id)} complete{who} ({_at(report.completed_at)})."))
    return Group(*lines)


def incident_table(rows: Sequence[IncidentSummary], width: int = 200) -> RenderableType:
    """One row per incident: id, severity, status, service, runbook, title, age, SLO left, commander.

    On a narrow terminal the least urgent columns go first (runbook, age, commander, service) so that
    the title keeps room to be read.
    """
    if not rows:
        return Text("No incidents match.")
    now = _list_now(rows)
    cells = [_row_cells(row, now) for row in rows]
    shown = list(cells[0])
    natural = {name: max(len(name), *(len(row[name]) for row in cells)) + _COLUMN_GAP for name in shown}
    for name in _DROP_WHEN_NARROW:
        if sum(natural[n] for n in shown if n != "Title") + _TITLE_MIN + _COLUMN_GAP <= width:
            break
        shown.remove(name)
    table = Table(title="Incidents", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in shown:
        wraps = name == "Title"
        table.add_column(
            name,
            no_wrap=not wraps,
            overflow="fold" if wraps else "ellipsis",
            min_width=_TITLE_MIN if wraps else None,
            justify="right" if name == "Age" else "left",
        )
    for row in cells:
        table.add_row(*(row[name] for name in shown))
    return table


_TITLE_MIN = 16
_COLUMN_GAP = 3
_DROP_WHEN_NARROW = ("Runbook", "Age", "Commander", "Service")


def _row_cells(row: IncidentSummary, now: datetime) -> dict[str, Text]:
    return {
        "ID": Text(_ref(row.id)),
        "Sev": Text(row.severity.value, style=_severity_style(row.severity)),
        "Status": Text(row.status.value, style=_status_style(row.status)),
        "Service": Text(row.service),
        "Runbook": Text(row.runbook_id),
        "Title": Text(row.title),
        "Age": Text(span(int((now - row.declared_at).total_seconds()))),
        "SLO left": _summary_slo(row),
        "Commander": Text(row.commander or "-"),
    }


# Helpers -------------------------------------------------------------------------------------------


def span(seconds: int) -> str:
    """A duration for people: 45s, 12m 30s, 3m, 2h 5m, 3d 4h."""
    seconds = max(0, seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def countdown_text(clock: ClockRead) -> str:
    """'12m 30s left', 'BREACHED 3m ago', 'met' or 'missed by 2m'."""
    if clock.state == "running":
        return f"{span(clock.seconds_left)} left"
    if clock.state == "breached":
        return f"BREACHED {span(-clock.seconds_left)} ago"
    if clock.state == "missed":
        return f"missed by {span(-clock.seconds_left)}"
    return clock.state


def server_now(incident: IncidentRead) -> datetime:
    """The server's `now` as implied by a running clock (the server may be a different machine)."""
    for clock in (incident.recovery_slo, incident.first_response):
        if clock.state in ("running", "breached"):
            return clock.deadline - timedelta(seconds=clock.seconds_left)
    return datetime.now(UTC)


def _list_now(rows: Sequence[IncidentSummary]) -> datetime:
    for row in rows:
        if row.recovery_seconds_left is not None:
            return row.recovery_deadline - timedelta(seconds=row.recovery_seconds_left)
    return datetime.now(UTC)


def _summary_slo(row: IncidentSummary) -> Text:
    if row.recovery_seconds_left is not None:
        left = row.recovery_seconds_left
        if left < 0:
            return Text(f"BREACHED {span(-left)}", style="bold red")
        return Text(span(left), style="yellow" if left < 300 else "")
    if row.resolved_at is not None and row.resolved_at <= row.recovery_deadline:
        return Text("met", style="green")
    return Text("missed", style="red")


def _clock_text(clock: ClockRead) -> Text:
    styles = {"running": "", "breached": "bold red", "met": "green", "missed": "red"}
    style = styles.get(clock.state, "")
    if clock.state == "running" and clock.seconds_left < 120:
        style = "bold yellow"
    return Text(countdown_text(clock), style=style)


def _next_update(incident: IncidentRead) -> tuple[Text, Text]:
    cadence = incident.stakeholder_updates
    every = Text(f"every {cadence.every_minutes} min")
    due = cadence.next_update_due_at
    if due is None:
        return Text("none due", style="dim"), every
    late = int((server_now(incident) - due).total_seconds())
    if cadence.overdue:
        return Text(f"OVERDUE by {span(late)}", style="bold red"), Text(f"was due {_at(due)}; {every}")
    return Text(f"in {span(-late)}"), Text(f"due {_at(due)}; {every}")


def _postmortem_line(incident: IncidentRead) -> Text:
    if incident.postmortem_completed_at is not None:
        return Text(f"Postmortem complete ({_at(incident.postmortem_completed_at, with_date=True)}).")
    return Text(f"Postmortem not complete: missionctl incident postmortem {incident.id} --complete", style="yellow")


_STEP_MARKS = {
    StepStatus.DONE: ("✓", "green"),
    StepStatus.SKIPPED: ("\u2013", "yellow"),  # en dash
    StepStatus.PENDING: ("☐", ""),
}


def _severity_style(severity: Severity) -> str:
    return {Severity.SEV1: "bold red", Severity.SEV2: "red", Severity.SEV3: "yellow"}.get(severity, "")


def _status_style(status: Status) -> str:
    return {Status.RESOLVED: "green", Status.CLOSED: "dim", Status.MITIGATED: "yellow"}.get(status, "bold")


def _is_open(incident: IncidentSummary) -> bool:
    return incident.status in OPEN_STATUSES


def _ref(incident_id: int) -> str:
    return f"INC-{incident_id}"


def _at(moment: datetime, *, with_date: bool = False, zone: bool = True) -> str:
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    return f"{text} UTC" if zone else text


def _console() -> Console:
    return Console(highlight=False)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _emit(data: JsonObject | list[JsonObject], as_json: bool, view: Callable[[], RenderableType]) -> None:
    """Print the raw response for scripts, or the human view built by `view()`."""
    if as_json:
        _print_json(data)
    else:
        _console().print(view())


def _write_file(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None


# Errors --------------------------------------------------------------------------------------------


def exit_code(error: MissionControlError) -> int:
    """The exit code a script can trust for an error (see EXIT_CODES_EPILOG)."""
    if isinstance(error, ServerUnreachable):
        return EXIT_UNREACHABLE
    if isinstance(error, ClientConfigError):
        return EXIT_NOT_FOUND
    status = error.http_status
    if status in (401, 403):
        return EXIT_AUTH
    if status == 404:
        return EXIT_NOT_FOUND
    return EXIT_REFUSED


@contextmanager
def _api(ctx: typer.Context) -> Iterator[ApiClient]:
    """A client for this invocation; API errors become a message on stderr and the exit code."""
    options = ctx.find_object(ClientOptions) or ClientOptions()
    try:
        with ApiClient.from_env(url=options.url, token=options.token) as api:
            yield api
    except MissionControlError as error:
        _fail(error, _incident_id_of(ctx))


def _incident_id_of(ctx: typer.Context) -> int | None:
    value = ctx.params.get("incident_id")
    return value if isinstance(value, int) else None


def _fail(error: MissionControlError, incident_id: int | None) -> NoReturn:
    typer.echo(f"error: {error.message}", err=True)
    hint = NEXT_STEP_HINTS.get(error.code) if isinstance(error, ApiError) else None
    if hint and incident_id is not None:
        typer.echo(f"hint: {hint.format(id=incident_id)}", err=True)
    raise typer.Exit(exit_code(error)) from None
