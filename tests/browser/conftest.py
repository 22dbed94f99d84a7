"""Browser tests: a real `missionctl serve` on an empty database, driven by Debian's Chromium through Playwright.

Nothing is downloaded at test time: Chromium comes from the system (`/usr/bin/chromium`, installed by
scripts/install-test-deps.sh) and axe-core from `npm ci` (node_modules/). Missing either fails in CI and
skips elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.requirements import require
from tests.web.automation import Files, seed_ledger, seed_report, write_files

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("MISSIONCTL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("MISSIONCTL_SCREENSHOT_DIR", ROOT / "docs" / "screenshots"))
PASSWORD_LINE = re.compile(r"password: (\S+)")


RESPONDERS = ("alice", "bob")  # two console responders besides admin: one requests, the other approves
RESPONDER_PASSWORD = "browser test responder password"


@dataclass(frozen=True)
class Server:
    url: str
    admin_password: str
    output: str
    files: Files
    report_id: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missionctl(*args: str, env: dict[str, str], stdin: str | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "missionctl", *args],
        env=env,
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _seed(url: str) -> int:
    """checkout's ledger (a healthy and a failed release) and one analyzer report, written straight to the database."""
    from missionctl.clock import SystemClock
    from missionctl.context import build_context
    from missionctl.settings import Settings

    ctx = build_context(Settings(database_url=url, runbook_dirs=[]), clock=SystemClock())
    try:
        with ctx.write() as session:
            seed_ledger(session, now=ctx.clock.now())
            return seed_report(session, now=ctx.clock.now(), incident_id=None)
    finally:
        ctx.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`make run`, in short: migrate, load the example catalog, serve; the first start prints the console admin."""
    directory = tmp_path_factory.mktemp("browser")
    database = directory / "missionctl.db"
    files = write_files(directory / "automation")  # deploy.rollback under approval; its command writes a marker
    port = _free_port()
    env = os.environ | {
        "MISSIONCTL_DATABASE_URL": f"sqlite:///{database}",
        "COLUMNS": "200",
        # uvicorn waits for open responses before it stops; short streams keep a left-open tab from holding it.
        "MISSIONCTL_CONSOLE_LIVE_STREAM_SECONDS": "5",
        "MISSIONCTL_ACTIONS_FILE": str(files.actions),
        "MISSIONCTL_RELEASES_FILE": str(files.releases),
        "MISSIONCTL_ENGINE_POLL_SECONDS": "0.2",
    }
    _missionctl("db", "upgrade", env=env)
    _missionctl("catalog", "load", str(ROOT / "examples" / "catalog"), env=env)
    report_id = _seed(env["MISSIONCTL_DATABASE_URL"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "missionctl", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
            assert proc.poll() is None, "".join(lines)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200, "".join(lines)
        output = "".join(lines)
        match = PASSWORD_LINE.search(output)
        assert match, output
        for username in RESPONDERS:  # after the first start, which creates admin only on an empty user table
            _missionctl("user", "create", "--username", username, "--password-stdin", env=env, stdin=RESPONDER_PASSWORD)
        yield Server(url=url, admin_password=match.group(1), output=output, files=files, report_id=report_id)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(importlib.util.find_spec("playwright") is not None, "Playwright for Python", "pip install -e '.[dev]'")
    require(CHROMIUM.exists(), f"Chromium at {CHROMIUM}", "scripts/install-test-deps.sh (apt-get install chromium)")
    require(AXE.exists(), "axe-core (node_modules/axe-core)", "npm ci --no-audit --no-fund")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def new_page(browser: Browser, *, width: int = 1280, height: int = 900) -> Page:
    """A fresh, cookie-less tab in the dark theme. CSP is bypassed only so that axe can be injected."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme="dark", bypass_csp=True, reduced_motion="reduce"
    )
    context.set_default_timeout(10_000)
    return context.new_page()


def log_in(page: Page, server: Server, username: str = "admin", password: str | None = None) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or server.admin_password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/$"))


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
