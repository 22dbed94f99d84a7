"""Shared fixtures: every database test runs on SQLite and on a private PostgreSQL server."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from missionctl import migrate
from missionctl.app import create_app
from missionctl.auth import service as auth
from missionctl.auth.roles import Role
from missionctl.clock import FrozenClock
from missionctl.context import AppContext, build_context
from missionctl.db import make_engine
from missionctl.settings import Settings

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    from tests.support.postgres import PostgresServer
    from tests.support.requirements import find_pg_bin, require

    require(
        find_pg_bin() is not None,
        "PostgreSQL server binaries (initdb, postgres)",
        "scripts/install-test-deps.sh (apt-get install postgresql-15)",
    )
    with PostgresServer() as server:
        server.create_database("template_missionctl")
        engine = make_engine(server.url("template_missionctl"))
        migrate.upgrade(engine)
        engine.dispose()
        yield server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file we copy
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "missionctl.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.create_database(name, template="template_missionctl")
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, runbook_dirs=[])


@pytest.fixture
def ctx(settings: Settings, clock: FrozenClock) -> Iterator[AppContext]:
    context = build_context(settings, clock=clock)
    yield context
    context.dispose()


@pytest.fixture
def tokens(ctx: AppContext) -> dict[Role, str]:
    """One token per role, named after the role (the name is the actor on the timeline)."""
    with ctx.write() as session:
        return {
            role: auth.create_token(session, name=f"{role}-user", role=role, now=ctx.clock.now()).token for role in Role
        }


@pytest.fixture
def app_client(ctx: AppContext, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, context=ctx), raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient, tokens: dict[Role, str]) -> TestClient:
    """A client authenticated as a responder."""
    app_client.headers["Authorization"] = f"Bearer {tokens[Role.RESPONDER]}"
    return app_client


def as_role(client: TestClient, tokens: dict[Role, str], role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}
