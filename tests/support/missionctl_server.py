"""A real `missionctl serve` process on a prepared database, for end-to-end tests and benches.

The database is migrated, a catalog loaded and an admin and a viewer token minted in this process;
then `python -m missionctl serve` (API and paging engine) runs on 127.0.0.1 at a free port with its
output in a log file (`logs()` for assertion messages), and is always stopped on exit::

    with MissionControlServer(database_url, catalog=CATALOG_YAML, env={"MISSIONCTL_WEBHOOK_SECRET": s}) as mc:
        key = mc.create_integration("alertmanager", "payments-db")
        incidents = mc.viewer.get("/api/v1/incidents").json()
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from missionctl import migrate
from missionctl.auth import service as auth
from missionctl.auth.roles import Role
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.context import build_context
from missionctl.settings import Settings
from tests.support.receivers import HOST, free_port

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
LOG_TAIL = 80
BIND_ATTEMPTS = 5


def prepare_database(database_url: str, *, catalog_yaml: str | None, directory: Path) -> dict[Role, str]:
    """Migrate `database_url`, load `catalog_yaml` into it, and return an admin and a viewer token."""
    ctx = build_context(Settings(database_url=database_url, runbook_dirs=[]))
    try:
        migrate.upgrade(ctx.engine)
        if catalog_yaml is not None:
            path = directory / "catalog.yaml"
            path.write_text(catalog_yaml)
            documents = catalog_loader.read_paths([path])
            with ctx.write() as session:
                catalog.load_catalog(session, documents=documents, now=ctx.clock.now())
        with ctx.write() as session:
            return {
                role: auth.create_token(session, name=f"e2e-{role}", role=role, now=ctx.clock.now()).token
                for role in (Role.ADMIN, Role.VIEWER)
            }
    finally:
        ctx.dispose()


class MissionControlServer:
    """`missionctl serve` in a subprocess; `admin` and `viewer` are httpx clients with those roles' tokens."""

    def __init__(
        self,
        database_url: str,
        *,
        catalog: str | None = None,
        env: Mapping[str, str] | None = None,
        directory: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="mc-serve-")
            directory = Path(self._own_dir.name)
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.catalog = catalog
        self.env = {"MISSIONCTL_DATABASE_URL": database_url, "COLUMNS": "200", **(env or {})}
        self.extra_args = extra_args
        self.log_path = self.directory / "missionctl.log"
        self.port = 0
        self.tokens: dict[Role, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._clients: list[httpx.Client] = []

    # lifecycle

    def start(self) -> Self:
        self.tokens = prepare_database(self.database_url, catalog_yaml=self.catalog, directory=self.directory)
        for attempt in range(BIND_ATTEMPTS):
            self.port = free_port()
            self._spawn()
            if self._wait_ready():
                self.admin = self.client(self.tokens[Role.ADMIN])
                self.viewer = self.client(self.tokens[Role.VIEWER])
                return self
            bind_race = "address already in use" in self.logs().lower()
            self._stop()
            if not bind_race or attempt == BIND_ATTEMPTS - 1:
                raise AssertionError(f"missionctl serve did not become ready on {self.url}\n{self.logs()}")
        raise AssertionError("unreachable")

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._stop()
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _spawn(self) -> None:
        argv = [sys.executable, "-m", "missionctl", "serve", "--host", HOST, "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            log.write(f"---- starting missionctl serve on {self.url}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [*argv, *self.extra_args],
                env=os.environ | self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
            )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.poll() is not None:
                    return False
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        return False

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)

    # addresses, clients, diagnostics

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client for this server (closed with it), authenticated with `token` if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 15), **kwargs)
        self._clients.append(client)
        return client

    def create_integration(self, kind: str, service: str) -> str:
        """A new integration key of `kind` for `service`, through the admin API."""
        response = self.admin.post("/api/v1/integrations", json={"kind": kind, "service": service})
        assert response.status_code == 201, f"{response.status_code} {response.text}"
        key: str = response.json()["key"]
        return key

    def logs(self, tail: int = LOG_TAIL) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        return f"==== missionctl serve log (last {tail} lines) ====\n" + "\n".join(lines[-tail:])
