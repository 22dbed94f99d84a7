"""`missionctl runbook list|show|lint|schema`, run through a root Typer app like the real one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

import missionctl.runbooks
from missionctl.runbooks.cli import runbook_app
from missionctl.runbooks.loader import load_registry
from missionctl.runbooks.schemas import Runbook

BUILTIN_DIR = Path(missionctl.runbooks.__file__).parent / "builtin"
CUSTOM = Path(__file__).parents[1] / "fixtures" / "runbooks" / "custom" / "RB-100.yaml"
JSON_KEYS = {*Runbook.model_fields, "source", "content_hash"}

root = typer.Typer()
root.add_typer(runbook_app, name="runbook")


def run(*args: str, runbook_dirs: list[Path] | None = None, columns: int = 200) -> Result:
    """Run `missionctl runbook ARGS` with a wide plain terminal and only the given runbook folders."""
    env = {
        "MISSIONCTL_RUNBOOK_DIRS": os.pathsep.join(str(path) for path in runbook_dirs or []),
        "MISSIONCTL_CONFIG": None,
        "COLUMNS": str(columns),
        "FORCE_COLOR": None,
        "TTY_COMPATIBLE": None,
        "NO_COLOR": "1",
    }
    return CliRunner().invoke(root, ["runbook", *args], env=env, catch_exceptions=False)


@pytest.fixture
def custom_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    shutil.copy(CUSTOM, folder / "RB-100.yaml")
    return folder


def table_rows(output: str) -> list[list[list[str]]]:
    """The body rows of a Rich table, each cell as the list of its (wrapped or folded) line pieces."""
    rows: list[list[list[str]]] = []
    for line in output.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells[0]:
            rows.append([[cell] for cell in cells])
        else:
            for pieces, cell in zip(rows[-1], cells, strict=True):
                if cell:
                    pieces.append(cell)
    return rows


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_list_shows_a_table_of_the_builtins(columns: int) -> None:
    result = run("list", columns=columns)
    assert result.exit_code == 0, result.output
    rows = [[" ".join(pieces) for pieces in row] for row in table_rows(result.stdout)]
    assert rows == [
        [
            "RB-001",
            "Failed Production Deployment",
            "Health checks fail or key endpoint error rate spikes after release.",
            "20",
            "builtin",
        ],
        [
            "RB-002",
            "Database Latency Regression",
            "p95 query latency exceeds SLO for 10 minutes.",
            "45",
            "builtin",
        ],
        [
            "RB-003",
            "Webhook Retry Storm",
            "Retry queue depth or duplicate delivery count rises sharply.",
            "30",
            "builtin",
        ],
    ]
    assert result.stderr == ""


@pytest.mark.parametrize("columns", [80, 200])
def test_list_includes_user_runbooks_with_their_source(custom_dir: Path, columns: int) -> None:
    result = run("list", runbook_dirs=[custom_dir], columns=columns)
    assert result.exit_code == 0, result.output
    last = table_rows(result.stdout)[-1]
    assert [" ".join(last[1]), "".join(last[4])] == ["Cache Stampede", str(custom_dir / "RB-100.yaml")]


def test_list_json_is_an_array_with_the_file_field_names(custom_dir: Path) -> None:
    result = run("list", "--json", runbook_dirs=[custom_dir])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [item["id"] for item in listed] == ["RB-001", "RB-002", "RB-003", "RB-100"]
    assert all(set(item) == JSON_KEYS for item in listed)
    registry = load_registry([custom_dir])
    for item in listed:
        entry = registry.get(item["id"])
        assert item == entry.runbook.model_dump(mode="json") | {
            "source": entry.source,
            "content_hash": entry.content_hash,
        }


def test_show_is_a_readable_panel() -> None:
    result = run("show", "RB-001")
    assert result.exit_code == 0, result.output
    out = result.stdout
    expected = [
        "RB-001  Failed Production Deployment",
        "Trigger",
        "Health checks fail or key endpoint error rate spikes after release.",
        "First 5 minutes",
        "1. Freeze further deployments and mark incident channel active.  [action: deploy.freeze]",
        "2. Confirm blast radius with dashboards and synthetic checks.  [action: synthetic.check]",
        "3. Rollback to last known healthy release artifact.  [action: deploy.rollback]",
        "Escalate to release owner + on-call backend engineer. (immediately)",
        "-> release owner (role release_owner)",
        "-> on-call backend engineer (team backend)",
        "Restore stable service within 20 minutes. (20 minutes)",
        "Stakeholder updates  every 15 minutes",
        "Automatic rollback when readiness probes fail for 3 consecutive checks.",
        "action: deploy.rollback, automatic, when readiness_probe_consecutive_failures=3",
        "Source               builtin",
        load_registry().get("RB-001").content_hash,
    ]
    for text in expected:
        assert text in out, text
    positions = [out.index(text) for text in expected]
    assert positions == sorted(positions)


def test_show_user_runbook_with_links_and_schedule(custom_dir: Path) -> None:
    result = run("show", "RB-100", runbook_dirs=[custom_dir])
    assert result.exit_code == 0, result.output
    for text in [
        "First 10 minutes",
        "One request per key goes to the database; the rest wait for it.",
        "Escalate to the caching team after 15 minutes. (after 15 minutes)",
        "-> caching on-call (team caching)",
        "-> schedule platform-primary",
        "action: cache.expiry_audit, automatic, every 60 minutes",
        "Cache dashboard (dashboard): https://grafana.example.com/d/cache",
        "Caching design notes (doc): https://wiki.example.com/caching",
        str(custom_dir / "RB-100.yaml"),
    ]:
        assert text in result.stdout, text


def test_show_does_not_read_runbook_text_as_rich_markup(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    text = CUSTOM.read_text().replace(
        "title: Warm the hottest keys from the last snapshot.",
        "title: '[bold]Warm[/bold] the [red]hottest keys'",
    )
    (folder / "RB-100.yaml").write_text(text, encoding="utf-8")
    result = run("show", "RB-100", runbook_dirs=[folder])
    assert result.exit_code == 0, result.output
    assert "[bold]Warm[/bold] the [red]hottest keys" in result.stdout


def test_show_json_uses_the_file_field_names() -> None:
    result = run("show", "RB-002", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    entry = load_registry().get("RB-002")
    assert set(shown) == JSON_KEYS
    assert shown == entry.runbook.model_dump(mode="json") | {
        "source": "builtin",
        "content_hash": entry.content_hash,
    }
    assert shown["recovery_slo"] == {
        "summary": "Return latency below target within 45 minutes.",
        "minutes": 45,
    }


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_show_unknown_id_is_one_line_on_stderr_and_exit_2(json_flag: list[str]) -> None:
    result = run("show", "RB-999", *json_flag)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: no runbook with id 'RB-999'\n"


def test_invalid_user_runbook_makes_list_fail_with_its_location(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "bad.yaml").write_text("id: RB-100\n", encoding="utf-8")
    result = run("list", runbook_dirs=[folder])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: invalid runbook: {folder / 'bad.yaml'}:1:1: title: required field")
    assert result.stderr.count("\n") == 1


def test_missing_runbook_folder_makes_show_fail(tmp_path: Path) -> None:
    result = run("show", "RB-001", runbook_dirs=[tmp_path / "gone"])
    assert result.exit_code == 1
    assert result.stderr == f"error: runbook folder {tmp_path / 'gone'} does not exist\n"


def test_lint_clean_files_exit_0() -> None:
    result = run("lint", str(BUILTIN_DIR), str(CUSTOM))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == "4 runbooks OK\n"


def test_lint_one_clean_file_is_singular() -> None:
    result = run("lint", str(CUSTOM))
    assert (result.exit_code, result.stderr) == (0, "1 runbook OK\n")


def test_lint_prints_every_problem_then_a_summary_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: RB-1\ntitle: x\n", encoding="utf-8")
    empty = tmp_path / "empty.yml"
    empty.write_text("", encoding="utf-8")
    shutil.copy(CUSTOM, tmp_path / "good.yaml")
    result = run("lint", str(tmp_path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}:1:1: summary: required field is missing",
        f"{bad}:1:1: trigger: required field is missing",
        f"{bad}:1:1: first_response: required field is missing",
        f"{bad}:1:1: escalation: required field is missing",
        f"{bad}:1:1: recovery_slo: required field is missing",
        f"{bad}:1:5: id: String should match pattern '^RB-\\d{{3,}}$'",
        f"{empty}:1:1: (root): file is empty; expected a runbook mapping",
    ]
    assert result.stderr == "7 problems in 2 files\n"


def test_lint_missing_path_is_a_problem(tmp_path: Path) -> None:
    result = run("lint", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert result.stdout == f"{tmp_path / 'nope.yaml'}:1:1: (root): no such file or folder\n"
    assert result.stderr == "1 problem in 1 file\n"


def test_lint_needs_a_path() -> None:
    result = run("lint")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_schema_is_json_schema_for_runbook_files() -> None:
    result = run("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["properties"]["id"]["pattern"] == r"^RB-\d{3,}$"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert result.stdout.startswith('{\n  "')


def test_runbook_app_can_be_invoked_directly() -> None:
    result = CliRunner().invoke(runbook_app, ["show", "RB-003", "--json"], env={"MISSIONCTL_RUNBOOK_DIRS": ""})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["title"] == "Webhook Retry Storm"


def test_runbook_app_without_a_command_shows_help() -> None:
    result = run()
    assert "list" in result.output
    assert "lint" in result.output
