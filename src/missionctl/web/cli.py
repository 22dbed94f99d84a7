"""`missionctl user`: console accounts, managed locally on the database (like `missionctl token`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from missionctl import migrate
from missionctl.auth.roles import Role
from missionctl.context import AppContext, build_context
from missionctl.settings import load_settings
from missionctl.web import service as accounts

user_app = typer.Typer(help="Web console users (local admin commands).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _context() -> AppContext:
    ctx = build_context(load_settings())
    if migrate.current_revision(ctx.engine) is None:
        migrate.upgrade(ctx.engine)
    return ctx


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("create")
def create(
    username: Annotated[str, typer.Option(help="Login name; also the name on the incident timeline")],
    role: Annotated[Role, typer.Option(help="viewer, responder or admin")] = Role.RESPONDER,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input")
    ] = False,
) -> None:
    """Create a console user; the password is asked for (or read from stdin) and stored only as a hash."""
    password = _read_password(password_stdin)
    ctx = _context()
    with ctx.write() as session:
        user = accounts.create_user(session, username=username, password=password, role=role, now=ctx.clock.now())
        out.print(f"Created console user {user.username} ({user.role}).")


@user_app.command("list")
def list_users() -> None:
    """List console users (never their passwords)."""
    ctx = _context()
    now = ctx.clock.now()
    with ctx.read() as session:
        for user in accounts.list_users(session):
            state = (
                "disabled"
                if user.disabled_at
                else ("locked" if user.locked_until and user.locked_until > now else "active")
            )
            out.print(
                f"{user.username}\t{user.role}\t{state}\tlast login {user.last_login_at or 'never'}", highlight=False
            )


@user_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="Who may no longer log in")]) -> None:
    """Disable a user and end their sessions at once."""
    ctx = _context()
    with ctx.write() as session:
        accounts.disable_user(session, username=username, now=ctx.clock.now())
    out.print(f"Console user {username} disabled; their sessions have ended.")


@user_app.command("password")
def password(
    username: Annotated[str, typer.Argument(help="Whose password to set")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read it from standard input")] = False,
) -> None:
    """Set a new password (ends the user's sessions and lifts a lockout)."""
    new = _read_password(password_stdin)
    ctx = _context()
    with ctx.write() as session:
        accounts.set_password(session, username=username, password=new)
    out.print(f"Password of {username} changed; their sessions have ended.")


def bootstrap_console_admin(ctx: AppContext) -> None:
    """First start (no console user yet): create `admin` and print its password once, like the first API token."""
    with ctx.write() as session:
        created = accounts.bootstrap_admin(session, now=ctx.clock.now())
    if created is None:
        return
    user, secret = created
    out.print("\n[bold]First start: a console admin was created. Its password is shown only this once:[/]\n")
    print(f"    username: {user.username}\n    password: {secret}\n")  # plain print: copy and paste safe
    out.print(
        f"Log in at {ctx.settings.base_url}/login. "
        "More users: missionctl user create --username alice --role responder\n"
    )
