"""`missionctl catalog load` on the test database, and `missionctl oncall now` against the live server."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from missionctl.catalog import models, service
from missionctl.catalog.loader import read_paths
from missionctl.cli import app
from missionctl.clock import FrozenClock
from missionctl.context import AppContext
from missionctl.settings import Settings
from tests.cli.conftest import RunCli
from tests.conftest import START

EXAMPLES = Path(__file__).parents[2] / "examples/catalog"
BACKSTAGE = Path(__file__).parents[2] / "tests/fixtures/catalog/backstage/catalog-info.yaml"


def run_local(settings: Settings, *args: str) -> Result:
    """Run a local admin command on the test database."""
    env = {
        "MISSIONCTL_DATABASE_URL": settings.database_url,
        "MISSIONCTL_RUNBOOK_DIRS": None,
        "MISSIONCTL_CONFIG": None,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_load_prints_the_report_and_a_second_load_changes_nothing(settings: Settings, ctx: AppContext) -> None:
    first = run_local(settings, "catalog", "load", str(EXAMPLES))
    assert first.exit_code == 0, first.output
    assert "Loaded 3 files:" in first.stdout
    assert "people               6 created, 0 updated, 0 unchanged" in first.stdout
    assert "subscribers          1 created, 0 updated, 0 unchanged" in first.stdout
    second = run_local(settings, "catalog", "load", str(EXAMPLES), "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["counts"]["teams"] == {"created": 0, "updated": 0, "unchanged": 3}
    with ctx.read() as session:
        assert len(service.list_all(session, model=models.Service)) == 3


def test_load_lists_every_problem_and_writes_nothing(settings: Settings, ctx: AppContext, tmp_path: Path) -> None:
    broken = tmp_path / "teams.yaml"
    broken.write_text("teams:\n  - id: backend\n    name: Backend\n    members: [zoe]\n  - id: Platform\n    name: P\n")
    result = run_local(settings, "catalog", "load", str(EXAMPLES / "people.yaml"), str(broken))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{broken}:4:15: teams.0.members.0: unknown person 'zoe' (not in these files or the catalog)",
        f"{broken}:5:9: teams.1.id: String should match pattern '^[a-z0-9][a-z0-9-_]*$'",
    ]
    assert "2 problems; nothing was loaded" in result.stderr
    with ctx.read() as session:
        assert service.list_all(session, model=models.Person) == []


def test_load_notes_skipped_backstage_kinds(settings: Settings) -> None:
    result = run_local(settings, "catalog", "load", str(BACKSTAGE))
    assert result.exit_code == 0, result.output
    assert "services             2 created" in result.stdout
    assert f"note: {BACKSTAGE}:53: skipped API 'search-api'" in result.stdout


def test_lint_checks_files_without_a_database(tmp_path: Path) -> None:
    ok = CliRunner().invoke(app, ["catalog", "lint", str(EXAMPLES)], env={"MISSIONCTL_RUNBOOK_DIRS": None})
    assert ok.exit_code == 0 and "18 entities OK" in ok.stderr
    partial = CliRunner().invoke(app, ["catalog", "lint", str(EXAMPLES / "services.yaml")])
    assert partial.exit_code == 1
    assert "services.yaml:6:15: teams.0.members.0: unknown person 'alice'" in partial.stdout


def test_oncall_now(cli: RunCli, ctx: AppContext, clock: FrozenClock) -> None:
    with ctx.write() as session:
        service.load_catalog(session, documents=read_paths([EXAMPLES]), now=ctx.clock.now())
    table = cli("oncall", "now")
    assert table.exit_code == 0, table.output
    assert "On call at Mon 2026-03-02 09:00 UTC" in table.stdout
    (row,) = [line for line in table.stdout.splitlines() if "backend-weekly" in line]
    for cell in ("Backend on-call (backend-weekly)", "backend", "Carol Nguyen (carol)", "Mon 2026-03-02 16:00 UTC"):
        assert cell in row, row
    assert "Alice Schmidt (alice)" in row

    clock.set(START.replace(hour=20))
    as_json = cli("oncall", "now", "--team", "backend", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert [(e["schedule"], e["person"]) for e in data["entries"]] == [("backend-weekly", "alice")]

    no_schedule = cli("oncall", "now", "--team", "integrations")
    assert "note: team integrations has no schedule" in no_schedule.stdout
    missing = cli("oncall", "now", "--team", "security")
    assert missing.exit_code == 2 and "no team with id 'security'" in missing.stderr
