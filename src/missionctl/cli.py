"""The `missionctl` command: admin verbs run locally; incident verbs are clients of the REST API."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from typing import Annotated, Any

import typer
from rich.console import Console

from missionctl import __version__, migrate, processes
from missionctl.actions.cli import actions_app
from missionctl.analyzer.cli import analyzer_app
from missionctl.auth import service as auth
from missionctl.auth.roles import Role
from missionctl.catalog.cli import catalog_app
from missionctl.context import AppContext, build_context
from missionctl.engine.runtime import start_engine
from missionctl.errors import MissionControlError
from missionctl.incidents.cli import incident_app
from missionctl.notifications.cli import notifications_app
from missionctl.oncall.cli import oncall_app
from missionctl.releases.cli import freeze_app
from missionctl.runbooks.cli import runbook_app
from missionctl.settings import Settings, load_settings
from missionctl.signals.cli import dead_letter_app, integration_app, route_app
from missionctl.web.cli import bootstrap_console_admin, user_app

app = typer.Typer(help="Mission Control: incident response with runbooks as code.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (local admin commands).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(runbook_app, name="runbook")
app.add_typer(route_app, name="route")
app.add_typer(integration_app, name="integration")
app.add_typer(dead_letter_app, name="dead-letter")
app.add_typer(notifications_app, name="notifications")
app.add_typer(incident_app, name="incident")
app.add_typer(catalog_app, name="catalog")
app.add_typer(oncall_app, name="oncall")
app.add_typer(user_app, name="user")
app.add_typer(actions_app, name="actions")
app.add_typer(analyzer_app, name="analyzer")
app.add_typer(freeze_app, name="freeze")

out = Console()
err = Console(stderr=True)


def _context(settings: Settings | None = None) -> AppContext:
    return build_context(settings or load_settings())


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080)")] = None,
    run_engine: Annotated[
        bool, typer.Option("--engine/--no-engine", help="Run the paging engine in this process (default)")
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Server processes sharing the port (default 1, or MISSIONCTL_WORKERS); the first runs the engine. "
            "More than one lets an alert storm use every core.",
        ),
    ] = None,
    worker_spec: Annotated[str | None, typer.Option(hidden=True, help="Set by the supervisor for its workers")] = None,
) -> None:
    """Run the server. An empty database is created and migrated; the first start prints an admin token."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = load_settings(**overrides)
    if worker_spec is not None:
        _serve_worker(settings, processes.WorkerSpec.parse(worker_spec), run_engine=run_engine)
        return
    count = workers or settings.workers
    if count > 1 and not run_engine:
        raise MissionControlError("--no-engine runs a single process: drop --workers", code="invalid_option")
    ctx = _context(settings)
    _prepare_database(ctx)
    _bootstrap_admin(ctx)
    bootstrap_console_admin(ctx)
    out.print(
        f"Mission Control {__version__} on [bold]{settings.base_url}[/] "
        f"(database: {ctx.engine.url.render_as_string(hide_password=True)}, "
        f"{len(ctx.runbooks.all())} runbooks" + (f", {count} worker processes)" if count > 1 else ")")
    )
    if count > 1:
        ctx.dispose()  # the supervisor only watches; its workers open their own connections
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        supervisor = processes.Supervisor(
            count=count,
            host=settings.host,
            port=settings.port,
            worker_argv=lambda spec: processes.worker_argv(spec, host=settings.host, port=settings.port),
        )
        sys.exit(supervisor.run())
    running = start_engine(ctx) if run_engine else None
    try:
        _run_uvicorn(ctx, settings)
    finally:
        if running is not None:
            running.stop()


def _serve_worker(settings: Settings, spec: processes.WorkerSpec, *, run_engine: bool) -> None:
    """One worker of `serve --workers N`: worker 0 also runs the engine; the others ring it when they queue work."""
    import socket

    from missionctl.actions import workers as action_workers
    from missionctl.engine.signal import Relay
    from missionctl.notifications.service import DELIVER

    processes.die_with_supervisor()
    ctx = _context(settings)
    listener = socket.socket(fileno=spec.listen_fd)
    doorbell = processes.Doorbell(socket.socket(fileno=spec.doorbell_fd))
    running = None
    if spec.index == 0 and run_engine:
        running = start_engine(ctx, worker_id=spec.engine_id)
        doorbell.answer(ctx.job_signal.ring, lambda: action_workers.wake(ctx), running.engine.take)
    else:
        ctx.job_signal.forward = doorbell.ring_jobs
        if run_engine:  # pages queued here go to worker 0's engine over the doorbell, already leased to it
            lease = settings.engine_lease_seconds
            relay = Relay(ctx, me=spec.engine_id, kinds=frozenset({DELIVER}), lease_seconds=lease, send=doorbell.relay)
            ctx.job_signal.handoff = relay
        action_workers.forward_wakes(doorbell.ring_actions)
    try:
        _run_uvicorn(ctx, settings, sockets=[listener])
    finally:
        if running is not None:
            running.stop()


def _run_uvicorn(ctx: AppContext, settings: Settings, *, sockets: list[Any] | None = None) -> None:
    import uvicorn

    from missionctl.app import create_app
    from missionctl.signals.inbound import FrontDoor

    config = uvicorn.Config(
        FrontDoor(create_app(settings, context=ctx)),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=3,  # open live-update streams must not hold a restart for minutes
    )
    _settle_heap()
    uvicorn.Server(config).run(sockets=sockets)


GC_THRESHOLDS = (7000, 20, 20)  # Python's defaults are (700, 10, 10)


def _settle_heap() -> None:
    """Keep the garbage collector off what start-up built, and run it less often.

    A started server holds several hundred thousand long-lived objects (SQLAlchemy mappers, pydantic schemas,
    templates) that every full collection walked again, while an alert storm allocates fast enough to trigger
    collections all the time. Measured on 100-alert posts, one process: 15-16k -> 23-25k alerts/s.
    """
    gc.collect()
    gc.freeze()  # what exists now is never scanned again
    gc.set_threshold(*GC_THRESHOLDS)


@app.command("engine")
def engine_command(
    worker_id: Annotated[str | None, typer.Option(help="Name of this engine in leases and logs")] = None,
) -> None:
    """Run only the paging engine (timers and deliveries); several may run on one PostgreSQL database."""
    ctx = _context()
    if migrate.current_revision(ctx.engine) != migrate.head_revision():
        raise MissionControlError(
            "the database schema is not current: run `missionctl db upgrade`", code="schema_outdated"
        )
    logging.basicConfig(level=ctx.settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    running = start_engine(ctx, worker_id=worker_id)
    err.print(f"engine {running.engine.me} running on {ctx.engine.url.render_as_string(hide_password=True)}")
    stop.wait()
    running.stop()


def _prepare_database(ctx: AppContext) -> None:
    current = migrate.current_revision(ctx.engine)
    if current is None:
        migrate.upgrade(ctx.engine)
        out.print("Database created and migrated to the current schema.")
    elif current != migrate.head_revision():
        raise MissionControlError(
            f"the database schema is at {current}, this version needs {migrate.head_revision()}: "
            "run `missionctl db upgrade` first (back up the database before)",
            code="schema_outdated",
        )


def _bootstrap_admin(ctx: AppContext) -> None:
    with ctx.write() as session:
        issued = auth.bootstrap_admin(session, now=ctx.clock.now())
    if issued is None:
        return
    out.print("\n[bold]First start: an admin API token was created. It is shown only this once:[/]\n")
    out.print(f"    {issued.token}\n", highlight=False, soft_wrap=True)
    # Plain print: a wrapped line would break copy and paste.
    print(f"Use it with the CLI:\n    export MISSIONCTL_URL={ctx.settings.base_url} MISSIONCTL_TOKEN={issued.token}")
    out.print(
        "or as an HTTP header: Authorization: Bearer <token>. "
        "More tokens: missionctl token create --role responder --name alice\n"
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Migrate the database schema (to the newest version by default)."""
    ctx = _context()
    migrate.upgrade(ctx.engine, revision)
    out.print(f"Database at revision {migrate.current_revision(ctx.engine)}.")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and of this version."""
    ctx = _context()
    out.print(f"database: {migrate.current_revision(ctx.engine)}  code: {migrate.head_revision()}")


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="viewer, responder or admin")],
    name: Annotated[str, typer.Option(help="Who or what uses the token; recorded as the actor")] = "",
) -> None:
    """Create an API token and print it (only this once; only its hash is stored)."""
    ctx = _context()
    _require_schema(ctx)
    with ctx.write() as session:
        issued = auth.create_token(session, name=name or f"{role}-token", role=role, now=ctx.clock.now())
    err.print(f"Created {role} token #{issued.record.id} for {issued.record.name}:")
    print(issued.token)


@token_app.command("list")
def token_list() -> None:
    """List tokens (never the secrets themselves)."""
    ctx = _context()
    _require_schema(ctx)
    with ctx.read() as session:
        for t in auth.list_tokens(session):
            state = "revoked" if t.revoked_at else "active"
            out.print(f"#{t.id}\t{t.name}\t{t.role}\t{t.prefix}…\t{state}\tlast used {t.last_used_at or 'never'}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="Token number from `token list`")]) -> None:
    """Revoke a token; requests with it get 401 from then on."""
    ctx = _context()
    with ctx.write() as session:
        auth.revoke(session, token_id=token_id, now=ctx.clock.now())
    out.print(f"Token #{token_id} revoked.")


def _require_schema(ctx: AppContext) -> None:
    if migrate.current_revision(ctx.engine) is None:
        migrate.upgrade(ctx.engine)


def main() -> None:
    """Console-script entry point: domain errors become one clear line and a non-zero exit code."""
    try:
        app()
    except MissionControlError as exc:
        err.print(f"error: {exc.message}", highlight=False, soft_wrap=True)
        if isinstance(exc.details, list) and all(isinstance(item, str) for item in exc.details):
            for item in exc.details:
                err.print(f"  {item}", highlight=False, soft_wrap=True)
        sys.exit(2 if exc.http_status == 404 else 1)
