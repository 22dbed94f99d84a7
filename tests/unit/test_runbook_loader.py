"""`load_registry`: the built-in runbooks as the product brief words them, user overrides, and refusals."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from missionctl.errors import InvalidInput, NotFound
from missionctl.runbooks.loader import BUILTIN_SOURCE, LoadedRunbook, RunbookRegistry, load_registry

FIXTURES = Path(__file__).parents[1] / "fixtures" / "runbooks"
CUSTOM = FIXTURES / "custom" / "RB-100.yaml"

# The product brief, verbatim. The built-in files must say exactly this.
BRIEF = {
    "RB-001": {
        "title": "Failed Production Deployment",
        "trigger": "Health checks fail or key endpoint error rate spikes after release.",
        "steps": [
            "Freeze further deployments and mark incident channel active.",
            "Confirm blast radius with dashboards and synthetic checks.",
            "Rollback to last known healthy release artifact.",
        ],
        "escalation": "Escalate to release owner + on-call backend engineer.",
        "slo": "Restore stable service within 20 minutes.",
        "slo_minutes": 20,
        "automation": ["Automatic rollback when readiness probes fail for 3 consecutive checks."],
    },
    "RB-002": {
        "title": "Database Latency Regression",
        "trigger": "p95 query latency exceeds SLO for 10 minutes.",
        "steps": [
            "Identify top slow queries from monitoring view.",
            "Apply read replica routing for non-critical endpoints.",
            "Enable safe-mode cache for high-traffic read paths.",
        ],
        "escalation": "Escalate to platform lead if sustained for 30 minutes.",
        "slo": "Return latency below target within 45 minutes.",
        "slo_minutes": 45,
        "automation": ["Scheduled query plan diff and index recommendation checks."],
    },
    "RB-003": {
        "title": "Webhook Retry Storm",
        "trigger": "Retry queue depth or duplicate delivery count rises sharply.",
        "steps": [
            "Rate-limit inbound retries and activate idempotency checks.",
            "Pause non-critical downstream consumers to reduce pressure.",
            "Replay a sampled batch in staging for root-cause validation.",
        ],
        "escalation": "Escalate to integration owner and incident commander.",
        "slo": "Stabilize queue depth within 30 minutes.",
        "slo_minutes": 30,
        "automation": ["Adaptive backoff + dead letter queue routing for malformed events."],
    },
}


def user_dir(tmp_path: Path, name: str = "runbooks") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def builtin_text(runbook_id: str) -> str:
    return load_registry().get(runbook_id).runbook.model_dump_json()  # JSON is YAML


def test_builtins_load_in_id_order() -> None:
    registry = load_registry()
    assert [entry.runbook.id for entry in registry.all()] == ["RB-001", "RB-002", "RB-003"]
    assert {entry.source for entry in registry.all()} == {BUILTIN_SOURCE}


@pytest.mark.parametrize("runbook_id", sorted(BRIEF))
def test_builtin_matches_the_product_brief_exactly(runbook_id: str) -> None:
    brief = BRIEF[runbook_id]
    runbook = load_registry().get(runbook_id).runbook
    assert runbook.title == brief["title"]
    assert runbook.trigger.summary == brief["trigger"]
    assert runbook.first_response.within_minutes == 5
    assert [step.title for step in runbook.first_response.steps] == brief["steps"]
    assert runbook.escalation.summary == brief["escalation"]
    assert runbook.recovery_slo.summary == brief["slo"]
    assert runbook.recovery_slo.minutes == brief["slo_minutes"]
    assert [automation.summary for automation in runbook.automation] == brief["automation"]


def test_builtin_escalation_targets_and_timing() -> None:
    registry = load_registry()
    targets = {
        runbook_id: [(t.kind.value, t.name) for t in registry.get(runbook_id).runbook.escalation.targets]
        for runbook_id in BRIEF
    }
    assert targets == {
        "RB-001": [("role", "release_owner"), ("team", "backend")],
        "RB-002": [("role", "platform_lead")],
        "RB-003": [("role", "integration_owner"), ("role", "commander")],
    }
    assert registry.get("RB-002").runbook.escalation.after_minutes == 30


def test_content_hash_is_the_runbooks_own() -> None:
    for entry in load_registry().all():
        assert entry.content_hash == entry.runbook.content_hash()
        assert len(entry.content_hash) == 64


def test_unknown_id_is_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        load_registry().get("RB-999")
    assert caught.value.code == "runbook_not_found"
    assert caught.value.http_status == 404
    assert "RB-999" in caught.value.message


def test_registry_is_usable_empty() -> None:
    registry = RunbookRegistry()
    assert registry.all() == []
    with pytest.raises(NotFound):
        registry.get("RB-001")


def test_user_runbook_adds_to_the_builtins(tmp_path: Path) -> None:
    folder = user_dir(tmp_path)
    shutil.copy(CUSTOM, folder / "RB-100.yaml")
    registry = load_registry([folder])
    assert [entry.runbook.id for entry in registry.all()] == ["RB-001", "RB-002", "RB-003", "RB-100"]
    added = registry.get("RB-100")
    assert added.source == str(folder / "RB-100.yaml")
    assert added.runbook.title == "Cache Stampede"


def test_user_runbook_overrides_the_builtin_with_its_id(tmp_path: Path) -> None:
    folder = user_dir(tmp_path)
    text = builtin_text("RB-001").replace("Restore stable service within 20 minutes.", "Within 10 minutes.")
    text = text.replace('"minutes":20', '"minutes":10')
    path = folder / "release.yml"
    path.write_text(text, encoding="utf-8")
    registry = load_registry([folder])
    overridden = registry.get("RB-001")
    assert overridden == LoadedRunbook(overridden.runbook, str(path), overridden.runbook.content_hash())
    assert overridden.runbook.recovery_slo.minutes == 10
    assert overridden.content_hash != load_registry().get("RB-001").content_hash
    assert registry.get("RB-002").source == BUILTIN_SOURCE
    assert len(registry.all()) == 3


def test_later_folders_may_add_runbooks(tmp_path: Path) -> None:
    first, second = user_dir(tmp_path, "one"), user_dir(tmp_path, "two")
    shutil.copy(CUSTOM, second / "RB-100.yaml")
    (first / "RB-101.yaml").write_text(CUSTOM.read_text().replace("RB-100", "RB-101"), encoding="utf-8")
    registry = load_registry([first, second])
    assert [entry.runbook.id for entry in registry.all()][-2:] == ["RB-100", "RB-101"]


def test_empty_user_folder_is_fine(tmp_path: Path) -> None:
    assert len(load_registry([user_dir(tmp_path)]).all()) == 3


def test_invalid_user_runbook_stops_loading_with_file_line_column(tmp_path: Path) -> None:
    folder = user_dir(tmp_path)
    text = CUSTOM.read_text().replace("  summary: Cache hit ratio", "  sumary: typo\n  summary: Cache hit ratio")
    path = folder / "RB-100.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_registry([folder])
    error = caught.value
    assert error.code == "runbook_invalid"
    assert error.http_status == 422
    assert (
        error.message == f"invalid runbook: {path}:8:3: trigger.sumary: unknown key 'sumary' (did you mean 'summary'?)"
    )
    assert error.details == [f"{path}:8:3: trigger.sumary: unknown key 'sumary' (did you mean 'summary'?)"]


def test_every_problem_is_in_the_details_and_counted_in_the_message(tmp_path: Path) -> None:
    folder = user_dir(tmp_path)
    (folder / "a.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    (folder / "b.yaml").write_text("id: RB-100\n", encoding="utf-8")
    shutil.copy(CUSTOM, folder / "c.yaml")
    with pytest.raises(InvalidInput) as caught:
        load_registry([folder])
    details = caught.value.details
    assert isinstance(details, list)
    assert details[0].startswith(f"{folder / 'a.yaml'}:2:1: (root): YAML syntax error: ")
    assert f"{folder / 'b.yaml'}:1:1: title: required field is missing" in details
    assert f"{folder / 'c.yaml'}:2:5: id: duplicate runbook id 'RB-100': also defined in {folder / 'b.yaml'}" in details
    assert caught.value.message == f"invalid runbook: {details[0]} (and {len(details) - 1} more problems)"


def test_two_user_files_with_the_same_id_are_an_error(tmp_path: Path) -> None:
    first, second = user_dir(tmp_path, "one"), user_dir(tmp_path, "two")
    shutil.copy(CUSTOM, first / "cache.yaml")
    shutil.copy(CUSTOM, second / "cache.yaml")
    with pytest.raises(InvalidInput) as caught:
        load_registry([first, second])
    assert caught.value.message == (
        f"invalid runbook: {second / 'cache.yaml'}:2:5: id: duplicate runbook id 'RB-100':"
        f" also defined in {first / 'cache.yaml'}"
    )


def test_same_folder_configured_twice_is_not_a_duplicate(tmp_path: Path) -> None:
    folder = user_dir(tmp_path)
    shutil.copy(CUSTOM, folder / "RB-100.yaml")
    assert len(load_registry([folder, folder]).all()) == 4


def test_missing_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(InvalidInput) as caught:
        load_registry([user_dir(tmp_path), missing])
    assert caught.value.code == "runbook_dir_missing"
    assert caught.value.message == f"runbook folder {missing} does not exist"


def test_file_configured_as_a_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=re.escape(f"runbook folder {CUSTOM} is not a folder")):
        load_registry([CUSTOM])
