"""Tests of the test harness itself: the dependency checks and the private PostgreSQL server."""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from psycopg.rows import TupleRow

from .postgres import HOST, PostgresServer
from .requirements import PG_BIN_ENV, find_pg_bin, require, require_pg_bin

# -- require() and find_pg_bin() ---------------------------------------------------------------


def test_require_does_nothing_when_the_dependency_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require(True, "a thing", "apt-get install thing")


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_require_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=r"a thing.*apt-get install thing"):
        require(False, "a thing", "apt-get install thing")


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_require_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=r"a thing.*apt-get install thing"):
        require(False, "a thing", "apt-get install thing")


def test_a_bogus_pg_bin_setting_finds_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(PG_BIN_ENV, str(tmp_path))
    assert find_pg_bin() is None
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=PG_BIN_ENV):
        require_pg_bin()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="install-test-deps"):
        require_pg_bin()


def test_the_pg_bin_setting_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("initdb", "pg_ctl", "postgres"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv(PG_BIN_ENV, str(tmp_path))
    assert find_pg_bin() == tmp_path


# -- PostgresServer ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with PostgresServer(require_pg_bin()) as pg:
        yield pg


def _listening_addresses(port: int) -> set[str]:
    """The hex local addresses of the TCP sockets listening on `port`, from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def _refused(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        return sock.connect_ex((host, port)) == errno.ECONNREFUSED


@pytest.mark.postgres
def test_create_database_and_query(server: PostgresServer) -> None:
    url = server.create_database("harness_query")
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/harness_query"
    with server.connect("harness_query") as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO t VALUES (1, 'ünïcode')")
        assert conn.execute("SELECT name FROM t").fetchall() == [("ünïcode",)]
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW max_connections").fetchone() == ("200",)
    server.drop_database("harness_query")
    with server.connect() as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert "harness_query" not in names


@pytest.mark.postgres
def test_the_url_works_with_sqlalchemy(server: PostgresServer) -> None:
    engine = sqlalchemy.create_engine(server.create_database("harness_sqlalchemy"))
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT current_database()")).scalar() == "harness_sqlalchemy"
    finally:
        engine.dispose()
        server.drop_database("harness_sqlalchemy")


@pytest.mark.postgres
def test_create_database_from_a_template(server: PostgresServer) -> None:
    server.create_database("harness_template")
    with server.connect("harness_template") as conn:
        conn.execute("CREATE TABLE seeded (x int)")
        conn.execute("INSERT INTO seeded VALUES (42)")
    server.create_database("harness_copy", template="harness_template")
    with server.connect("harness_copy") as conn:
        assert conn.execute("SELECT x FROM seeded").fetchall() == [(42,)]
    with server.connect("harness_copy") as conn:  # drop disconnects sessions still on the database
        server.drop_database("harness_copy")
        assert _connection_dropped(conn)
    server.drop_database("harness_template")
    server.drop_database("harness_never_created")  # IF EXISTS: no error


def _connection_dropped(conn: psycopg.Connection[TupleRow]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


@pytest.mark.postgres
def test_listens_on_loopback_only(server: PostgresServer) -> None:
    with server.connect() as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == (HOST,)
    assert not _refused(HOST, server.port)
    assert _refused("127.0.0.2", server.port)  # a 0.0.0.0 listener would accept this one
    if Path("/proc/net/tcp").exists():
        assert _listening_addresses(server.port) == {"0100007F"}  # 127.0.0.1, and no IPv6 socket


@pytest.mark.postgres
def test_runs_as_an_unprivileged_user(server: PostgresServer) -> None:
    assert server.pid is not None
    status = Path(f"/proc/{server.pid}/status")
    if status.exists():
        uids = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
        assert "0" not in uids.split()[1:]
    assert stat.S_IMODE(server.data_dir.stat().st_mode) in {0o700, 0o750}
    if os.geteuid() == 0:
        assert server.data_dir.stat().st_uid != 0


@pytest.mark.postgres
def test_stopping_frees_the_port_and_removes_the_data() -> None:
    with PostgresServer(require_pg_bin()) as pg:
        port, tmp, pid = pg.port, pg.socket_dir, pg.pid
        assert pid is not None
        with pg.connect() as conn:
            conn.execute("SELECT 1")
        held = pg.connect()  # an open session must not keep the server up
    try:
        assert not pg.running
        assert not tmp.exists()
        assert not Path(f"/proc/{pid}").exists()
        assert _refused(HOST, port)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, port))
            sock.listen()
    finally:
        held.close()
