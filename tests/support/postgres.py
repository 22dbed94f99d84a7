"""A private, throw-away PostgreSQL server for tests, on its own data directory and 127.0.0.1 port."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from .requirements import PG_INSTALL_HINT, find_pg_bin

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DEFAULT_OS_USER = "postgres"
# Durability is irrelevant for a server that lives as long as a test session.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
}
PORT_ATTEMPTS = 5  # another process may grab the free port between our probe and postgres's bind
LOG_TAIL_CHARS = 6000
STOP_TIMEOUT = 20.0

_running: weakref.WeakSet[PostgresServer] = weakref.WeakSet()


class PostgresServerError(RuntimeError):
    """The server could not be initialised, started or stopped; the message carries its log."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _traversable_by_others(path: Path) -> bool:
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (path, *path.parents))


class PostgresServer:
    """A PostgreSQL server started on enter (or `start()`) and stopped, data and all, on exit (`stop()`).

    It listens on 127.0.0.1 only, at a free port, plus a Unix socket in its own temporary
    directory; the superuser `postgres` connects without a password. As root, initdb and postgres
    run as the unprivileged OS user `os_user` (default `postgres`), since PostgreSQL refuses root.
    """

    def __init__(
        self,
        pg_bin: Path | None = None,
        *,
        startup_timeout: float = 30.0,
        settings: Mapping[str, str] | None = None,
        os_user: str | None = None,
    ) -> None:
        found = pg_bin if pg_bin is not None else find_pg_bin()
        if found is None:
            raise PostgresServerError(f"no PostgreSQL server binaries found; {PG_INSTALL_HINT}")
        self.pg_bin = Path(found)
        self.startup_timeout = startup_timeout
        self.settings: dict[str, str] = {**DEFAULT_SETTINGS, **(settings or {})}
        self.host = HOST
        self.port = 0
        self._os_user = os_user
        self._uid_gid: tuple[int, int] | None = None
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the postmaster process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (inside the server's temporary directory)."""
        return self._tmp_dir / "data"

    @property
    def socket_dir(self) -> Path:
        """The directory holding the server's Unix socket."""
        return self._tmp_dir

    @property
    def log_path(self) -> Path:
        """The file that receives initdb's and the server's output."""
        return self._tmp_dir / "postgres.log"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    def read_log(self) -> str:
        """The server log so far (empty once the server is stopped and its directory removed)."""
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, PostgresServerError):
            return ""

    def start(self) -> None:
        """Create the data directory, run initdb and start postgres; return once it takes connections."""
        if self._tmp is not None:
            raise PostgresServerError("server already started")
        self._uid_gid = self._resolve_os_user()
        try:
            self._tmp = self._make_tmp_dir()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._chown(self.log_path)
            self._initdb()
            self._start_postgres()
        except BaseException:
            self.stop()
            raise
        _running.add(self)

    def stop(self) -> None:
        """Stop the server (`pg_ctl stop -m fast`, killing it if that fails) and remove its directory."""
        _running.discard(self)
        proc, self._proc = self._proc, None
        if proc is not None:
            self._stop_process(proc)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self.port = 0

    # -- connecting ------------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of database `dbname` on this server, as the superuser."""
        self._require_running()
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """The libpq connection string of database `dbname` on this server, as the superuser."""
        self._require_running()
        return make_conninfo(host=self.host, port=self.port, user=SUPERUSER, dbname=dbname)

    def connect(self, dbname: str = "postgres", *, autocommit: bool = True) -> psycopg.Connection[TupleRow]:
        """A psycopg connection to database `dbname` (autocommit by default); close it when done."""
        return psycopg.connect(self.conninfo(dbname), autocommit=autocommit, connect_timeout=10)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (a copy of `template` if given) and return its SQLAlchemy URL.

        Copying a template needs it to have no other connections: dispose of engines on it first.
        """
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with self.connect() as conn:
            conn.execute(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name` if it exists, disconnecting any sessions still on it."""
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- internals -------------------------------------------------------------------------------

    @property
    def _tmp_dir(self) -> Path:
        if self._tmp is None:
            raise PostgresServerError("server not started")
        return self._tmp

    def _require_running(self) -> None:
        if not self.running:
            raise PostgresServerError("server not running")

    def _resolve_os_user(self) -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        name = self._os_user or DEFAULT_OS_USER
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise PostgresServerError(
                f"running as root, PostgreSQL must run as an unprivileged OS user, but there is no user "
                f"{name!r}; install the postgresql package (it creates `postgres`) or pass os_user="
            ) from None
        if entry.pw_uid == 0:
            raise PostgresServerError(f"OS user {name!r} is root; PostgreSQL refuses to run as root")
        return entry.pw_uid, entry.pw_gid

    def _make_tmp_dir(self) -> Path:
        base = Path(tempfile.gettempdir())
        # The Unix socket path must stay under ~100 bytes, and the OS user must reach the directory.
        if len(str(base)) > 60 or (self._uid_gid is not None and not _traversable_by_others(base)):
            base = Path("/tmp")  # a private mkdtemp directory below it
        tmp = Path(tempfile.mkdtemp(prefix="mctl-pg-", dir=base))
        self._chown(tmp)
        return tmp

    def _chown(self, path: Path) -> None:
        if self._uid_gid is not None:
            os.chown(path, *self._uid_gid)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and not k.startswith("LC_")}
        env.update(LC_ALL="C", LANG="C", HOME=str(self._tmp_dir), PGTZ="UTC")
        if self._uid_gid is not None:
            name = pwd.getpwuid(self._uid_gid[0]).pw_name
            env.update(USER=name, LOGNAME=name)
        return env

    def _popen_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"cwd": self._tmp_dir, "env": self._env(), "stdin": subprocess.DEVNULL}
        if self._uid_gid is not None:
            uid, gid = self._uid_gid
            kwargs.update(user=uid, group=gid, extra_groups=[])
        return kwargs

    def _run_tool(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        assert self._log is not None
        self._log.write(f"$ {' '.join(args)}\n".encode())
        self._log.flush()
        return subprocess.run(args, stdout=self._log, stderr=subprocess.STDOUT, timeout=timeout, **self._popen_kwargs())

    def _failure(self, what: str) -> PostgresServerError:
        log = self.read_log()
        if len(log) > LOG_TAIL_CHARS:
            log = "...\n" + log[-LOG_TAIL_CHARS:]
        return PostgresServerError(f"{what}\n--- PostgreSQL log ({self.pg_bin}) ---\n{log}")

    def _initdb(self) -> None:
        args = [
            str(self.pg_bin / "initdb"),
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        try:
            result = self._run_tool(args, timeout=120)
        except subprocess.TimeoutExpired:
            raise self._failure("initdb timed out") from None
        if result.returncode != 0:
            raise self._failure(f"initdb failed with exit code {result.returncode}")

    def _start_postgres(self) -> None:
        assert self._log is not None
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = _free_port()
            args = [str(self.pg_bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
            settings = {
                **self.settings,
                "listen_addresses": HOST,
                "unix_socket_directories": str(self.socket_dir),
            }
            for key, value in settings.items():
                args += ["-c", f"{key}={value}"]
            self._log.write(f"$ {' '.join(args)}\n".encode())
            self._log.flush()
            log_offset = self.log_path.stat().st_size
            self._proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, **self._popen_kwargs())
            if self._wait_until_ready():
                return
            proc, self._proc = self._proc, None
            self._stop_process(proc)
            with open(self.log_path, "rb") as log:
                log.seek(log_offset)
                attempt_log = log.read().decode(errors="replace")
            if "Address already in use" in attempt_log and attempt < PORT_ATTEMPTS:
                continue
            raise self._failure(
                f"postgres exited with code {proc.returncode} before accepting connections on {HOST}:{self.port}"
            )

    def _wait_until_ready(self) -> bool:
        """Poll until the server accepts a connection (True) or exits (False); raise on timeout."""
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while True:
            if self._proc.poll() is not None:
                return False
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return True
            except psycopg.OperationalError as error:
                last_error = error
            if time.monotonic() > deadline:
                proc, self._proc = self._proc, None
                self._stop_process(proc)
                raise self._failure(
                    f"postgres did not accept connections on {HOST}:{self.port} within "
                    f"{self.startup_timeout:g} s (last error: {last_error})"
                )
            time.sleep(0.05)

    def _stop_process(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(OSError, subprocess.SubprocessError, PostgresServerError):
                self._run_tool(
                    [
                        str(self.pg_bin / "pg_ctl"),
                        "stop",
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        str(int(STOP_TIMEOUT)),
                    ],
                    timeout=STOP_TIMEOUT + 10,
                )
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)  # what `pg_ctl stop -m fast` sends
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@atexit.register
def _stop_leftover_servers() -> None:
    for server in list(_running):
        server.stop()
