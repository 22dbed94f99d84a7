"""`missionctl serve` as a new user meets it: a real process, an empty database, the printed admin token."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TOKEN_LINE = re.compile(r"MISSIONCTL_TOKEN=(mc_[A-Za-z0-9_-]+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(database: Path) -> Iterator[tuple[str, list[str]]]:
    """Start `python -m missionctl serve`; yield its URL and the lines it printed before answering."""
    port = _free_port()
    env = os.environ | {"MISSIONCTL_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "missionctl", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
            assert proc.poll() is None, "".join(lines)
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200, "".join(lines)
        yield url, lines
    finally:
        proc.terminate()
        proc.communicate(timeout=15)  # drains and closes the pipe


def test_first_start_prints_a_working_admin_token_once(tmp_path: Path) -> None:
    database = tmp_path / "var" / "missionctl.db"
    with serve(database) as (url, lines):
        output = "".join(lines)
        assert "Database created and migrated" in output
        match = TOKEN_LINE.search(output)
        assert match, output
        headers = {"Authorization": f"Bearer {match.group(1)}"}
        assert httpx.get(f"{url}/api/v1/incidents", timeout=5).status_code == 401
        assert [r["id"] for r in httpx.get(f"{url}/api/v1/runbooks", headers=headers, timeout=5).json()] == [
            "RB-001",
            "RB-002",
            "RB-003",
        ]
        declared = httpx.post(
            f"{url}/api/v1/incidents",
            headers=headers,
            timeout=5,
            json={
                "runbook": "RB-001",
                "severity": "SEV1",
                "service": "checkout",
                "title": "500s after deploy",
            },
        )
        assert declared.status_code == 201
        assert httpx.get(f"{url}/readyz", timeout=5).json() == {"status": "ok", "database": "ok"}
    with serve(database) as (url, lines):
        output = "".join(lines)
        assert TOKEN_LINE.search(output) is None and "Database created" not in output
        incident = httpx.get(f"{url}/api/v1/incidents/1", headers=headers, timeout=5).json()
        assert incident["title"] == "500s after deploy"


def test_token_create_prints_only_the_token_on_stdout(tmp_path: Path) -> None:
    env = os.environ | {"MISSIONCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    done = subprocess.run(
        [sys.executable, "-m", "missionctl", "token", "create", "--role", "viewer", "--name", "grafana"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert re.fullmatch(r"mc_[A-Za-z0-9_-]+\n", done.stdout)
    assert "viewer token" in done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "missionctl", "token", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "grafana" in listed.stdout and done.stdout.strip() not in listed.stdout


def test_an_invalid_user_runbook_stops_the_start_with_its_location(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "RB-100.yaml").write_text("id: RB-100\ntitle: Disk full\nsummry: typo\n")
    env = os.environ | {
        "MISSIONCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "MISSIONCTL_RUNBOOK_DIRS": str(folder),
        "COLUMNS": "300",
    }
    done = subprocess.run(
        [sys.executable, "-m", "missionctl", "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"{folder / 'RB-100.yaml'}:3:1: summry: unknown key 'summry'" in done.stderr
