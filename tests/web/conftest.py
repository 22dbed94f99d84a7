"""Console fixtures: a browser-like client (cookies, no redirects followed) and users of each role."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from missionctl.app import create_app
from missionctl.auth.roles import Role
from missionctl.context import AppContext
from missionctl.incidents import service as incidents
from missionctl.runbooks.schemas import Severity
from missionctl.settings import Settings
from missionctl.web import service as accounts

PASSWORD = "correct horse battery staple"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Short live streams, so a test reading one ends quickly."""
    return Settings(database_url=database_url, runbook_dirs=[], console_live_stream_seconds=0.6)


@pytest.fixture
def web(ctx: AppContext, settings: Settings) -> Iterator[TestClient]:
    """An anonymous browser on the console."""
    with TestClient(create_app(settings, context=ctx), follow_redirects=False) as client:
        yield client


def make_user(ctx: AppContext, username: str, role: Role) -> None:
    with ctx.write() as session:
        accounts.create_user(session, username=username, password=PASSWORD, role=role, now=ctx.clock.now())


def log_in(client: TestClient, username: str, password: str = PASSWORD, next_path: str = "/") -> str:
    """Log in through the form; returns the session's CSRF token."""
    token = LOGIN_CSRF.search(client.get("/login").text)
    assert token is not None
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1), "next": next_path}
    )
    assert response.status_code == 303, response.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    match = CSRF_META.search(client.get("/runbooks").text)
    assert match is not None
    return match.group(1)


@pytest.fixture
def responder(ctx: AppContext, web: TestClient) -> str:
    """`web` logged in as responder `rita`; the value is the CSRF token for forms."""
    make_user(ctx, "rita", Role.RESPONDER)
    return log_in(web, "rita")


def declare(client: TestClient, csrf: str, **fields: str) -> int:
    form = {"runbook": "RB-001", "service": "checkout", "title": "Checkout 500s", "severity": "SEV1"} | fields
    response = client.post("/incidents", data=form | {"csrf_token": csrf})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def declare_directly(ctx: AppContext, service_id: str = "checkout") -> int:
    """An RB-001 incident declared through the service, not the console (for work that must not go through the
    test client, such as a change made from inside a running request). Its title is one the public status page
    must never show."""
    with ctx.write() as session:
        incident = incidents.declare(
            session,
            runbook=ctx.runbooks.get("RB-001"),
            service=service_id,
            title="Checkout 500s after 2.3.1 (internal title)",
            severity=Severity.SEV1,
            commander="rita",
            actor="rita",
            now=ctx.clock.now(),
        )
        return incident.id
