"""`missionctl freeze`: ask whether a service may be deployed (for pipelines), freeze and lift by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer

from missionctl.apiclient import DEFAULT_URL, TOKEN_ENV, URL_ENV, ApiClient
from missionctl.errors import MissionControlError
from missionctl.incidents.cli import exit_code

EXIT_ALLOWED = 0
EXIT_FROZEN = 1

EPILOG = (
    "Exit codes of `freeze check`:\n\n"
    "0  deploying is allowed\n\n"
    "1  the service is frozen (why is printed)\n\n"
    "2  no such service, or usage error\n\n"
    "3  not authenticated or not allowed\n\n"
    "4  cannot reach the server (treat as: do not deploy)"
)

freeze_app = typer.Typer(
    help="Deploy freezes: ask before deploying, freeze and lift by hand (MISSIONCTL_URL, MISSIONCTL_TOKEN).",
    epilog=EPILOG,
    no_args_is_help=True,
)

ServiceOption = Annotated[str, typer.Option("--service", help="Service id from the catalog.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the raw JSON response (for scripts).")]


@freeze_app.callback()
def freeze_options(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", help=f"API base URL (default: ${URL_ENV}, else {DEFAULT_URL}).")
    ] = None,
    token: Annotated[str | None, typer.Option("--token", help=f"API token (default: ${TOKEN_ENV}).")] = None,
) -> None:
    """Deploy freezes through the Mission Control API."""
    ctx.obj = (url, token)


@contextmanager
def _api(ctx: typer.Context) -> Iterator[ApiClient]:
    url, token = ctx.obj if isinstance(ctx.obj, tuple) else (None, None)
    try:
        with ApiClient.from_env(url=url, token=token) as api:
            yield api
    except MissionControlError as error:
        _fail(error)


def _fail(error: MissionControlError) -> NoReturn:
    typer.echo(f"error: {error.message}", err=True)
    raise typer.Exit(exit_code(error)) from None


def _describe(freeze: dict[str, Any]) -> str:
    until = f"until {freeze['ends_at']}" if freeze.get("ends_at") else "until lifted"
    incident = f", INC-{freeze['incident_id']}" if freeze.get("incident_id") else ""
    return f"freeze {freeze['id']}{incident}: {freeze['reason']} (by {freeze['created_by']}, {until})"


@freeze_app.command(epilog=EPILOG)
def check(ctx: typer.Context, service: ServiceOption, as_json: JsonFlag = False) -> None:
    """Exit 0 if the service may be deployed now, 1 if it is frozen (and say why)."""
    with _api(ctx) as api:
        status = api.call("GET", "/freeze", params={"service": service})
    if as_json:
        typer.echo(json.dumps(status, indent=2))
    elif status["frozen"]:
        typer.echo(f"{service} is frozen:")
        for freeze in status["freezes"]:
            typer.echo(f"  {_describe(freeze)}")
    else:
        typer.echo(f"{service} may be deployed: no freeze in force.")
    raise typer.Exit(EXIT_FROZEN if status["frozen"] else EXIT_ALLOWED)


@freeze_app.command("set")
def set_freeze(
    ctx: typer.Context,
    service: ServiceOption,
    reason: Annotated[str, typer.Option("--reason", help="Why deployments are frozen.")],
    minutes: Annotated[int | None, typer.Option("--minutes", min=1, help="How long (default: until lifted).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Freeze deployments of a service now, for MINUTES or until lifted."""
    body: dict[str, Any] = {"service": service, "reason": reason}
    if minutes is not None:
        body["minutes"] = minutes
    with _api(ctx) as api:
        freeze = api.call("POST", "/freezes", body=body)
    typer.echo(json.dumps(freeze, indent=2) if as_json else f"Frozen {service}: {_describe(freeze)}")


@freeze_app.command()
def lift(
    ctx: typer.Context,
    freeze_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="Freeze id (see `freeze list`).")],
    as_json: JsonFlag = False,
) -> None:
    """Lift a freeze now."""
    with _api(ctx) as api:
        freeze = api.call("POST", f"/freezes/{freeze_id}/lift")
    typer.echo(json.dumps(freeze, indent=2) if as_json else f"Lifted freeze {freeze['id']} of {freeze['service_id']}.")


@freeze_app.command("list")
def list_freezes(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Freezes not yet lifted, newest first."""
    with _api(ctx) as api:
        rows = api.call("GET", "/freezes", params={"service": service} if service else None)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("No freezes.")
    for freeze in rows:
        typer.echo(f"{freeze['service_id']}: {_describe(freeze)}")
