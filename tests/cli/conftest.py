"""CLI fixtures: the real app served by uvicorn on a free local port, and `missionctl` run against it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from missionctl.app import create_app
from missionctl.auth.roles import Role
from missionctl.cli import app
from missionctl.context import AppContext
from missionctl.settings import Settings

STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LiveServer:
    url: str
    server: uvicorn.Server


class RunCli(Protocol):
    def __call__(self, *args: str, token: str | None = None, columns: int = 200) -> Result: ...


def run_missionctl(args: list[str], *, url: str, token: str | None, columns: int = 200) -> Result:
    """Run the root `missionctl` app in-process on a plain terminal (wide by default) with URL and token."""
    env = {
        "MISSIONCTL_URL": url,
        "MISSIONCTL_TOKEN": token,
        "MISSIONCTL_CONFIG": None,
        "COLUMNS": str(columns),
        "NO_COLOR": "1",
        "FORCE_COLOR": None,
        "TTY_COMPATIBLE": None,
        **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")),
    }
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


def unused_port() -> int:
    """A local port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def live_server(settings: Settings, ctx: AppContext) -> Iterator[LiveServer]:
    """The real app over the test database and frozen clock, served over HTTP from a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, context=ctx),
        host="127.0.0.1",
        port=port,
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            pytest.fail(f"uvicorn did not start on 127.0.0.1:{port} within {STARTUP_TIMEOUT_S}s")
        time.sleep(0.01)  # start-up poll only; no test result depends on timing
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", server=server)
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_S)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not shut down"


@pytest.fixture
def cli(live_server: LiveServer, tokens: dict[Role, str]) -> RunCli:
    """Run `missionctl ARGS` against the live server, as a responder unless another token is given."""

    def run(*args: str, token: str | None = None, columns: int = 200) -> Result:
        chosen = token or tokens[Role.RESPONDER]
        return run_missionctl(list(args), url=live_server.url, token=chosen, columns=columns)

    return run
